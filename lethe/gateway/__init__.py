"""Gateway: the OpenAI-compatible API, the admin API, settings, the request pipeline and the CLI."""
