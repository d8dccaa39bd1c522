"""Key-value log lines."""

from __future__ import annotations

import pytest

from lethe.gateway.logs import kv


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ({}, "event=e"),
        ({"status": 200, "ms": 1.25}, "event=e status=200 ms=1.2"),
        ({"skip": None, "a": "b"}, "event=e a=b"),
        ({"text": "two words"}, 'event=e text="two words"'),
        ({"text": 'say "x"=1'}, 'event=e text="say \\"x\\"=1"'),
        ({"empty": ""}, 'event=e empty=""'),
    ],
)
def test_kv(fields: dict[str, object], line: str) -> None:
    assert kv("e", **fields) == line
