"""Gateway: the OpenAI-compatible API, the admin API, settings, the request pipeline and the CLI.

A request flows route → serving class → pipeline → engine:

    routes/          thin FastAPI routes (openai.py, health.py); ``app.ROUTERS`` mounts them
    serving/         one class per endpoint: Turn building, aggregation, SSE chunks
    protocol/        pydantic wire models; requests convert themselves into Turns
    pipeline.py      the seam between a Turn and the engine (unlearning stages go here)
    streams.py       a request's engine streams, primed, merged and renumbered
    sse.py           SSE frames, in-band errors, a disconnect-aware streaming response
    errors.py        the one mapping of errors to HTTP statuses and OpenAI's envelope
    settings.py      ``Settings`` (defaults < YAML < LETHE_* env < CLI flags), ``get_settings``
    engines.py       engine registry (name → preflight + factory)
    app.py           ``create_app(settings, engine=None)``; runtime.py holds the live objects
    cli.py           ``lethe``; subcommands live in commands/

Nothing here does work at import time.
"""
