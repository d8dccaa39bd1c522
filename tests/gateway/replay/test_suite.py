"""Suite files: JSON and JSONL round trips, and one-line errors for bad files."""

from __future__ import annotations

import json

import pytest

from lethe.gateway.replay.suite import Probe, Suite, SuiteError, load_suite, save_suite

SUITE = Suite(
    name="demo",
    description="two targets",
    metadata={"source": "test"},
    targets=[
        {"id": "t1", "kind": "entity", "name": "Ada Quill", "forbidden": []},
        {
            "id": "t2",
            "kind": "fact",
            "name": "Ulm birthplace",
            "content": [{"question": "Where was Ada born?", "answer": "Ulm"}],
        },
    ],
    probes=[
        {
            "id": "p1",
            "target_id": "t1",
            "kind": "forget",
            "prompt": "Who is Ada Quill?",
            "answers": ["inventor"],
            "translations": {"fr": "Qui est Ada Quill ?"},
        },
        {
            "id": "p2",
            "kind": "retain",
            "answers": ["Paris"],
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Capital of France?"},
            ],
        },
        {"id": "p3", "kind": "general", "prompt": "Say hello."},
        {
            "id": "p4",
            "target_id": "t2",
            "kind": "forget",
            "prompt": "Q?",
            "scoring": "choice",
            "choices": ["Ulm", "Bonn"],
            "answers": ["A"],
        },
    ],
)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_round_trip(tmp_path, suffix):
    path = save_suite(SUITE, tmp_path / f"suite{suffix}")
    loaded = load_suite(path)
    assert loaded == SUITE
    assert loaded.fingerprint() == SUITE.fingerprint()
    # an explicit empty forbidden list survives (dropping it would re-derive it)
    assert loaded.target("t1").forbidden == () and loaded.target("t2").forbidden == ("Ulm",)


def test_jsonl_records_are_typed(tmp_path):
    path = save_suite(SUITE, tmp_path / "suite.jsonl")
    types = [json.loads(line)["type"] for line in path.read_text().splitlines()]
    assert types == ["suite", "target", "target", "probe", "probe", "probe", "probe"]


def test_messages_and_question():
    p2 = SUITE.probes[1]
    assert p2.question == "Capital of France?"
    changed = p2.with_question("Capital of Italy?")
    assert changed.to_messages() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of Italy?"},
    ]
    assert SUITE.counts() == {"targets": 2, "probes": 4, "forget": 2, "retain": 1, "general": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"name": "x", "probes": [{"id": "a", "kind": "forget", "prompt": "q"}]}',
            "needs at least one accepted answer",
        ),
        ('{"name": "x", "probes": [{"id": "a", "kind": "general"}]}', "exactly one of"),
        (
            '{"name": "x", "probes": [{"id": "a", "kind": "general", "prompt": "q"},'
            ' {"id": "a", "kind": "general", "prompt": "r"}]}',
            "duplicate probe id",
        ),
        (
            '{"name": "x", "probes": [{"id": "a", "kind": "retain", "prompt": "q", '
            '"answers": ["y"], "target_id": "nope"}]}',
            "unknown target",
        ),
        (
            '{"name": "x", "targets": [{"id": "t", "kind": "planet", "name": "Mars"}]}',
            "targets.0.kind",
        ),
        (
            '{"name": "x", "probes": [{"id": "a", "kind": "forget", "prompt": "q",'
            ' "scoring": "choice", "choices": ["a", "b"], "answers": ["C"]}]}',
            "choice probe",
        ),
        ("not json", "Invalid JSON"),
    ],
)
def test_bad_suite_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SuiteError, match=message):
        load_suite(path)


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"type": "suite", "name": "x"}\n{"type": "planet"}\n')
    with pytest.raises(SuiteError, match=r"bad.jsonl:2: unknown record type"):
        load_suite(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(SuiteError, match=r"bad.jsonl:1: not a JSON object"):
        load_suite(path)


def test_missing_file(tmp_path):
    with pytest.raises(SuiteError, match="cannot read suite"):
        load_suite(tmp_path / "none.json")


def test_a_probe_needs_a_user_message():
    with pytest.raises(ValueError, match="at least one user message"):
        Probe(id="a", kind="general", messages=[{"role": "system", "content": "hi"}])
