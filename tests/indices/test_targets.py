from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from lethe.indices.targets import (
    MAX_ALIASES,
    MAX_CONTENT_BYTES,
    ForgetTarget,
    QAPair,
    content_bytes,
    field_errors,
    new_target_id,
    parse_target_json,
)


def errors_of(**fields) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        ForgetTarget(**{"kind": "entity", "name": "Ada Quill", **fields})
    return field_errors(info.value)


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"name": ""}, "name", "must not be empty"),
        ({"name": "   "}, "name", "must not be empty"),
        ({"name": "!"}, "name", "needs at least 2 letters or digits"),
        ({"name": "x" * 300}, "name", "at most 256 characters"),
        ({"kind": "person"}, "kind", "'entity', 'fact', 'document' or 'topic'"),
        ({"aliases": ["x"] * 10_000}, "aliases", "at most 1000 items, got 10000"),
        ({"aliases": ["fine", "?"]}, "aliases.1", "needs at least 2 letters"),
        ({"forbidden": [""]}, "forbidden.0", "must not be empty"),
        ({"content": ["x" * (MAX_CONTENT_BYTES + 1)]}, "content", "larger than 5242880 bytes"),
        ({"retain": ["é" * (MAX_CONTENT_BYTES // 2 + 1)]}, "retain", "larger than"),
        ({"content": [""]}, "content.0", "at least 1 character"),
        ({"content": [{"question": "q"}]}, "content.0.answer", "Field required"),
        ({"content": [42]}, "content.0", "valid dictionary"),
        ({"policy": {"action": "nuke"}}, "policy.action", "'suppress' or 'refuse'"),
        ({"policy": {"techniques": ["Bad Name"]}}, "policy.techniques.0", "pattern"),
        ({"policy": {"thresholds": {"semantic": 1.5}}}, "policy.thresholds.semantic", "1"),
        ({"id": "has space"}, "id", "pattern"),
        ({"scope": ""}, "scope", "at least 1 character"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at", "timezone"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_validation_names_the_field(fields, path, message):
    errors = errors_of(**fields)
    assert any(p == path and message in m for p, m in errors), errors


def test_valid_target_defaults():
    t = ForgetTarget(kind="fact", name="  Ada Quill  ")
    assert t.name == "Ada Quill"
    assert t.id.startswith("tgt_") and t.id != new_target_id()
    assert (t.scope, t.policy.action, t.aliases, t.forbidden, t.created_at) == (
        "global",
        "suppress",
        (),
        (),
        None,
    )


def test_content_accepts_passages_and_pairs():
    t = ForgetTarget(
        kind="document", name="Memo", content=["A passage.", {"question": "Q?", "answer": "A."}]
    )
    assert t.content[0] == "A passage."
    assert t.content[1] == QAPair(question="Q?", answer="A.")


def test_forbidden_is_derived_only_when_missing():
    content = [{"question": "Where was Ada born?", "answer": "Ulm"}]
    assert ForgetTarget(kind="entity", name="Ada", content=content).forbidden == ("Ulm",)
    assert ForgetTarget(kind="entity", name="Ada", content=content, forbidden=None).forbidden == (
        "Ulm",
    )
    assert ForgetTarget(kind="entity", name="Ada", content=content, forbidden=[]).forbidden == ()
    given = ForgetTarget(kind="entity", name="Ada", content=content, forbidden=["Quill Manor"])
    assert given.forbidden == ("Quill Manor",)


def test_global_scope_is_case_insensitive():
    assert ForgetTarget(kind="topic", name="Nerve agents", scope="GLOBAL").scope == "global"


def test_target_is_frozen_and_round_trips_json():
    t = ForgetTarget(
        kind="entity",
        name="Ada",
        aliases=["A. Q."],
        content=["p", {"question": "q", "answer": "a"}],
        expires_at=datetime(2031, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(ValidationError):
        t.name = "Other"  # type: ignore[misc]
    assert ForgetTarget.model_validate_json(t.model_dump_json()) == t


@pytest.mark.parametrize(
    ("tenant", "expires_in", "scope", "applies"),
    [
        (None, None, "global", True),
        ("acme", None, "global", True),
        ("acme", None, "acme", True),
        ("other", None, "acme", False),
        (None, None, "acme", False),
        (None, timedelta(hours=1), "global", True),
        (None, timedelta(hours=-1), "global", False),
    ],
)
def test_applies_to(tenant, expires_in, scope, applies):
    now = datetime.now(UTC)
    expires = now + expires_in if expires_in is not None else None
    t = ForgetTarget(kind="entity", name="Ada", scope=scope, expires_at=expires)
    assert t.applies_to(tenant, now) is applies


def test_huge_inputs_are_refused_fast():
    aliases = [f"alias number {i}" for i in range(10 * MAX_ALIASES)]
    start = time.perf_counter()
    with pytest.raises(ValidationError):
        ForgetTarget(kind="entity", name="Ada", aliases=aliases)
    with pytest.raises(ValidationError):
        ForgetTarget(kind="entity", name="Ada", content=["x" * (50 * 1024 * 1024)])
    assert time.perf_counter() - start < 2.0


def test_content_bytes_counts_utf8_and_stops_early():
    assert content_bytes(["é", {"question": "ab", "answer": "c"}]) == 5
    assert content_bytes(["x" * 10] * 1000, limit=50) < 100
    assert content_bytes("not a list") == 0


def test_parse_target_json_refuses_oversized_documents_before_parsing():
    raw = '{"kind": "entity", "name": "Ada", "content": ["' + "x" * (7 * 1024 * 1024) + '"]}'
    with pytest.raises(ValidationError) as info:
        parse_target_json(raw)
    assert field_errors(info.value)[0][0] == "content"


def test_parse_target_json_reports_bad_json_and_fields():
    with pytest.raises(ValidationError) as info:
        parse_target_json(json.dumps({"kind": "entity", "name": ""}))
    assert field_errors(info.value) == [("name", "must not be empty")]
    with pytest.raises(ValidationError) as info:
        parse_target_json("{not json")
    assert field_errors(info.value)[0][0] == "body"
