"""The Lethe entry of vLLM's extra_args: one key, versioned, refused loudly when malformed."""

from __future__ import annotations

import pytest

from lethe.decoders.vllm.extra_args import KEY, LetheData, from_extra_args, to_extra_args


@pytest.mark.parametrize(
    "data", [LetheData(("Paris",)), LetheData(("Harry Potter", "Hogwarts", "Privet Drive"))]
)
def test_round_trip(data):
    assert from_extra_args(to_extra_args(data)) == data


@pytest.mark.parametrize(
    "extra",
    [
        None,
        {},
        {"other": {"v": 1}},  # someone else's extra args
        {KEY: {"v": 1, "forbidden": []}},  # nothing to ban: the row stays free
        {KEY: {"v": 1, "forbidden": ["", "  "]}},
        {KEY: {"v": 1}},
    ],
)
def test_no_data(extra):
    assert from_extra_args(extra) is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (["Paris"], "must be an object"),
        ({"forbidden": ["Paris"]}, "schema version None"),
        ({"v": 2, "forbidden": ["Paris"]}, "schema version 2"),
        ({"v": 1, "forbidden": "Paris"}, "list of strings"),
        ({"v": 1, "forbidden": ["Paris", 3]}, "list of strings"),
    ],
)
def test_malformed_entries_are_refused(entry, message):
    with pytest.raises(ValueError, match=message):
        from_extra_args({KEY: entry})
