"""Request ids, completion ids and the system fingerprint."""

from __future__ import annotations

import pytest

from lethe.gateway.ids import (
    MAX_REQUEST_ID_LENGTH,
    new_completion_id,
    new_request_id,
    sanitize_request_id,
    system_fingerprint,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("abc-123", "abc-123"),
        ("trace:1.2_x", "trace:1.2_x"),
        ('a b"c=d\nx', "abcdx"),
        ("   ", None),
        ("", None),
        (None, None),
        ("x" * 500, "x" * MAX_REQUEST_ID_LENGTH),
    ],
)
def test_sanitize(raw: str | None, clean: str | None) -> None:
    assert sanitize_request_id(raw) == clean


def test_new_ids_are_unique() -> None:
    assert new_request_id() != new_request_id()
    assert new_completion_id("cmpl").startswith("cmpl-")


def test_fingerprint_is_stable_per_model() -> None:
    assert system_fingerprint("a") == system_fingerprint("a")
    assert system_fingerprint("a") != system_fingerprint("b")
    assert system_fingerprint("a").startswith("fp_lethe_")
