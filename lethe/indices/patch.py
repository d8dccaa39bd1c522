"""Partial updates of a forget target (HTTP ``PATCH`` semantics).

A :class:`TargetPatch` holds only the fields a client sent: a field left out stays as it is, a field
sent as ``null`` is cleared (``expires_at``, ``policy.refusal``) or re-derived (``forbidden``).
``policy`` is merged one level deep; lists are replaced, not appended to. ``id`` and
``created_at`` never change.

When ``content`` changes and the target's ``forbidden`` list was the derived one, it is derived
again from the new content; a hand-written list is kept.

Example:
    >>> t = ForgetTarget(id="t1", kind="entity", name="Ada Quill")
    >>> new = apply_patch(t, TargetPatch(aliases=["A. Quill"], policy={"action": "refuse"}))
    >>> new.aliases, new.policy.action, new.id
    (('A. Quill',), 'refuse', 't1')
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from lethe.indices.forbidden import derive_forbidden
from lethe.indices.targets import MAX_FORBIDDEN, ForgetTarget, TargetKind


class PolicyPatch(BaseModel):
    """Fields of :class:`~lethe.indices.targets.Policy` to change; validated once merged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: str | None = None
    techniques: list[str] | None = None
    thresholds: dict[str, float | None] | None = None
    refusal: str | None = None


class TargetPatch(BaseModel):
    """The fields of a :class:`ForgetTarget` to change. Values are validated once merged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: TargetKind | None = None
    name: str | None = None
    aliases: list[str] | None = None
    forbidden: list[str] | None = None
    content: list[Any] | None = Field(default=None)
    retain: list[Any] | None = None
    policy: PolicyPatch | None = None
    scope: str | None = None
    reason: str | None = None
    expires_at: AwareDatetime | None = None

    def is_empty(self) -> bool:
        """True when the patch names no field at all."""
        return not self.model_fields_set


# Sent as null, these fall back to their default (an empty list, the default policy); ``kind``,
# ``name`` and ``scope`` have none, so null is reported as an error on the field.
_NULL_MEANS_DEFAULT = frozenset({"aliases", "content", "retain", "policy"})


def apply_patch(target: ForgetTarget, patch: TargetPatch) -> ForgetTarget:
    """The target with ``patch`` applied, fully validated (raises pydantic ``ValidationError``)."""
    data = target.model_dump(mode="python")
    sent = patch.model_fields_set
    for field in sent:
        value = getattr(patch, field)
        if field == "policy":
            data["policy"] = _merge_policy(data["policy"], value) if value is not None else None
        elif field == "reason" and value is None:
            data["reason"] = ""
        else:
            data[field] = value
    if "content" in sent and "forbidden" not in sent and _forbidden_was_derived(target):
        data["forbidden"] = None
    for field in _NULL_MEANS_DEFAULT & sent:
        if data[field] is None:
            data.pop(field)
    data["id"], data["created_at"] = target.id, target.created_at
    return ForgetTarget.model_validate(data)


def _merge_policy(current: dict[str, Any], patch: PolicyPatch) -> dict[str, Any]:
    merged = dict(current)
    for field in patch.model_fields_set:
        value = getattr(patch, field)
        if field == "thresholds" and value is not None:
            merged["thresholds"] = {**current["thresholds"], **value}
        else:
            merged[field] = value
    return {k: v for k, v in merged.items() if v is not None or k == "refusal"}


def _forbidden_was_derived(target: ForgetTarget) -> bool:
    derived = derive_forbidden(target.content, limit=MAX_FORBIDDEN)
    return tuple(derived) == target.forbidden
