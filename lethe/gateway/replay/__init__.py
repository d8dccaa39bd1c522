"""Offline benchmark replay: prove, from the outside, that targets do not leak and that
everything else still works (``lethe replay``, ``lethe calibrate``; docs/replay.md).

    suite.py         Suite, Probe: targets + probes, JSON / JSONL      sources.py  SUITE names
    attacks.py       adversarial generators (attack_text.py: their wording)
    matching.py      does an output contain an answer (fold, word boundaries, decodings)
    refusal.py       refusal / professed-ignorance patterns
    metrics.py       leak@k, ROUGE-L, percentiles      summary.py  aggregation per endpoint
    scoring.py       probe + outputs -> ProbeResult
    client.py        OpenAI-compatible endpoint, streamed, timed (the official openai client)
    admin_client.py  Lethe's admin API (load / remove targets, scope)
    runner.py        concurrency-limited replay      results.py  resumable results.jsonl
    session.py       one replay, start to finish
    report.py        report.json + report.md          charts.py   PNG charts
    calibrate.py     threshold sweep                   calibration_report.py  its files
    loaders/         TOFU, MUSE, WMDP, RWKU from local files
    builtin/         the built-in suite for the embedded model, and its verification
"""
