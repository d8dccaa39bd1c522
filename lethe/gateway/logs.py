"""Key-value log lines (``event=request status=200 duration_ms=3.1``) and logging set-up.

Every gateway log line is one event with ``key=value`` pairs, so that log shippers can parse it
without a schema. Values with spaces, quotes or ``=`` are JSON-quoted; ``None`` values are left
out. Message bodies are never logged unless ``log_bodies`` is on.

Example:
    >>> kv("request", method="POST", status=200, note="two words", skipped=None)
    'event=request method=POST status=200 note="two words"'
"""

from __future__ import annotations

import json
import logging

LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


def _render(value: object) -> str:
    text = f"{value:.1f}" if isinstance(value, float) else str(value)
    if text == "" or any(c in text for c in ' ="\n\t'):
        return json.dumps(text)
    return text


def kv(event: str, **fields: object) -> str:
    """One log message: ``event=<event>`` followed by the non-None fields in order."""
    parts = [f"event={event}"]
    parts.extend(f"{key}={_render(value)}" for key, value in fields.items() if value is not None)
    return " ".join(parts)


def configure_logging(level: str) -> None:
    """Send every logger (uvicorn's included) to stderr in the key-value format at ``level``."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, force=True)
