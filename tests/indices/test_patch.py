from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from lethe.indices.patch import TargetPatch, apply_patch
from lethe.indices.targets import ForgetTarget, field_errors

CREATED = datetime(2026, 1, 1, tzinfo=UTC)
BASE = ForgetTarget(
    id="t1",
    kind="entity",
    name="Ada Quill",
    aliases=["A. Quill"],
    content=[{"question": "Where was Ada born?", "answer": "Ulm"}],
    policy={"action": "suppress", "techniques": ["icul"], "thresholds": {"semantic": 0.6}},
    reason="GDPR request 17",
    created_at=CREATED,
    expires_at=datetime(2030, 1, 1, tzinfo=UTC),
)


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        ({"name": "Ada Q."}, lambda t: t.name == "Ada Q." and t.aliases == ("A. Quill",)),
        ({"aliases": ["AQ", "Quill"]}, lambda t: t.aliases == ("AQ", "Quill")),
        ({"aliases": None}, lambda t: t.aliases == ()),
        ({"policy": None}, lambda t: t.policy.action == "suppress" and not t.policy.techniques),
        ({"expires_at": None}, lambda t: t.expires_at is None),
        ({"reason": None}, lambda t: t.reason == ""),
        ({"policy": {"action": "refuse"}}, lambda t: t.policy.action == "refuse"),
        ({"policy": {"action": "refuse"}}, lambda t: t.policy.techniques == ("icul",)),
        (
            {"policy": {"thresholds": {"lexical": 0.9}}},
            lambda t: (t.policy.thresholds.lexical, t.policy.thresholds.semantic) == (0.9, 0.6),
        ),
        ({"policy": {"refusal": "No idea."}}, lambda t: t.policy.refusal == "No idea."),
        ({"scope": "acme"}, lambda t: t.scope == "acme"),
        # derived forbidden strings follow the content ...
        (
            {"content": [{"question": "Her town?", "answer": "Bonn"}]},
            lambda t: t.forbidden == ("Bonn",),
        ),
        # ... unless the patch sets them, or clears them to be derived again
        ({"forbidden": ["Quill Manor"]}, lambda t: t.forbidden == ("Quill Manor",)),
        ({"forbidden": None}, lambda t: t.forbidden == ("Ulm",)),
        ({}, lambda t: t == BASE),
    ],
)
def test_apply_patch(patch, check):
    new = apply_patch(BASE, TargetPatch.model_validate(patch))
    assert check(new)
    assert (new.id, new.created_at) == ("t1", CREATED)


def test_hand_written_forbidden_survives_content_change():
    t = BASE.model_copy(update={"forbidden": ("Quill Manor",)})
    new = apply_patch(t, TargetPatch(content=["A new passage."]))
    assert new.forbidden == ("Quill Manor",)


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"kind": None}, "kind"),
        ({"scope": None}, "scope"),
        ({"aliases": ["?"]}, "aliases.0"),
        ({"policy": {"action": "nuke"}}, "policy.action"),
        ({"content": ["x" * (6 * 1024 * 1024)]}, "content"),
    ],
)
def test_invalid_patch_names_the_field(patch, path):
    with pytest.raises(ValidationError) as info:
        apply_patch(BASE, TargetPatch.model_validate(patch))
    assert path in [p for p, _ in field_errors(info.value)]


@pytest.mark.parametrize("patch", [{"id": "t2"}, {"created_at": "2020-01-01T00:00:00Z"}])
def test_id_and_created_at_cannot_be_patched(patch):
    with pytest.raises(ValidationError):
        TargetPatch.model_validate(patch)


def test_is_empty():
    assert TargetPatch().is_empty()
    assert not TargetPatch(expires_at=None).is_empty()
