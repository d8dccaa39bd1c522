"""Forget targets: the data that says what the served model must behave as if it never learned.

A :class:`ForgetTarget` is a frozen pydantic model. Validation errors are plain pydantic
``ValidationError`` s whose ``loc`` names the field; :func:`field_errors` flattens one into
``(field_path, message)`` pairs for the gateway's 422 answer.

Limits are checked *before* the items are validated (a list of 10,000 aliases or 50 MB of
content is rejected by counting, without building a model per item); :func:`parse_target_json`
refuses an oversized JSON document before parsing it at all.

Example:
    >>> t = ForgetTarget(kind="entity", name="Ada Quill",
    ...                  content=[{"question": "Where was Ada Quill born?", "answer": "Ulm"}])
    >>> t.forbidden, t.policy.action, t.scope
    (('Ulm',), 'suppress', 'global')
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
)
from pydantic import model_validator as _model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from lethe.indices.forbidden import derive_forbidden
from lethe.indices.normalize import fold_key

MAX_ID_CHARS: Final = 128
MAX_NAME_CHARS: Final = 256
MAX_ALIASES: Final = 1000
MAX_FORBIDDEN: Final = 1000
MAX_STRING_CHARS: Final = 512
MAX_CONTENT_ITEMS: Final = 10_000
MAX_CONTENT_BYTES: Final = 5 * 1024 * 1024
MAX_TARGET_JSON_BYTES: Final = MAX_CONTENT_BYTES + 1024 * 1024
MAX_TEXT_CHARS: Final = 4000
MIN_PATTERN_LETTERS: Final = 2
GLOBAL_SCOPE: Final = "global"

TargetKind = Literal["entity", "fact", "document", "topic"]
Action = Literal["suppress", "refuse"]
_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=_ID_PATTERN)]
TechniqueName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


def new_target_id() -> str:
    """A fresh random target id (``tgt_`` + 24 hex digits); ids never change once assigned."""
    return "tgt_" + uuid.uuid4().hex[:24]


def _error(kind: str, message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, message, ctx or None)


def _check_pattern(text: str) -> str:
    """A name, alias or forbidden string must be matchable: 2+ letters or digits after folding."""
    if not text:
        raise _error("empty", "must not be empty")
    if len(text) > MAX_STRING_CHARS:
        raise _error("too_long", "longer than {limit} characters", limit=MAX_STRING_CHARS)
    if len(fold_key(text)) < MIN_PATTERN_LETTERS:
        raise _error("too_short", "needs at least {n} letters or digits", n=MIN_PATTERN_LETTERS)
    return text


PatternText = Annotated[str, AfterValidator(_check_pattern)]


def _check_count(value: Any, limit: int) -> Any:
    if isinstance(value, (list, tuple)) and len(value) > limit:
        raise _error("too_many", "at most {limit} items, got {n}", limit=limit, n=len(value))
    return value


def content_bytes(samples: Any, limit: int = MAX_CONTENT_BYTES) -> int:
    """UTF-8 size of raw content samples, counting stops early once past ``limit``."""
    total = 0
    for sample in samples if isinstance(samples, (list, tuple)) else ():
        parts = [sample] if isinstance(sample, str) else []
        if isinstance(sample, dict):
            parts = [
                v for v in (sample.get("question"), sample.get("answer")) if isinstance(v, str)
            ]
        elif isinstance(sample, QAPair):
            parts = [sample.question, sample.answer]
        for part in parts:
            total += len(part) if len(part) > limit else len(part.encode("utf-8"))
        if total > limit:
            break
    return total


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class QAPair(_Frozen):
    """One question/answer forget-set sample."""

    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)


def _sample_tag(value: Any) -> str:
    return "passage" if isinstance(value, str) else "qa"


_UNION_TAGS: Final = frozenset({"passage", "qa"})
Passage = Annotated[str, Field(min_length=1)]
Sample = Annotated[
    Annotated[Passage, Tag("passage")] | Annotated[QAPair, Tag("qa")], Discriminator(_sample_tag)
]


class Thresholds(_Frozen):
    """Per-target overrides of the scope classifier's thresholds (``None``: the default)."""

    lexical: float | None = Field(default=None, ge=0.0, le=1.0)
    semantic: float | None = Field(default=None, ge=-1.0, le=1.0)


class Policy(_Frozen):
    """How a target is enforced: ``suppress`` (answer without it) or ``refuse``.

    ``techniques`` are names the pipeline validates (empty: the pipeline's default set).
    """

    action: Action = "suppress"
    techniques: tuple[TechniqueName, ...] = Field(default=(), max_length=32)
    thresholds: Thresholds = Thresholds()
    refusal: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT_CHARS)


class ForgetTarget(_Frozen):
    """A forget target (see DESIGN.md, "Forget targets").

    ``forbidden`` is derived from ``content`` by :func:`lethe.indices.forbidden.derive_forbidden`
    when it is missing or ``null``; an explicit ``[]`` means "none".
    """

    id: Identifier = Field(default_factory=new_target_id)
    kind: TargetKind
    name: PatternText = Field(max_length=MAX_NAME_CHARS)
    aliases: tuple[PatternText, ...] = ()
    forbidden: tuple[PatternText, ...] = ()
    content: tuple[Sample, ...] = ()
    retain: tuple[Sample, ...] = ()
    policy: Policy = Policy()
    scope: Identifier = GLOBAL_SCOPE
    reason: str = Field(default="", max_length=MAX_TEXT_CHARS)
    created_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None

    @_model_validator(mode="before")
    @classmethod
    def _derive_forbidden(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("forbidden") is not None:
            return data
        content = data.get("content") or ()
        if (
            isinstance(content, (list, tuple))
            and len(content) <= MAX_CONTENT_ITEMS
            and content_bytes(content) <= MAX_CONTENT_BYTES
        ):
            data = {**data, "forbidden": derive_forbidden(content, limit=MAX_FORBIDDEN)}
        return data

    @field_validator("aliases", mode="before")
    @classmethod
    def _count_aliases(cls, v: Any) -> Any:
        return _check_count(v, MAX_ALIASES)

    @field_validator("forbidden", mode="before")
    @classmethod
    def _count_forbidden(cls, v: Any) -> Any:
        return _check_count(v, MAX_FORBIDDEN)

    @field_validator("content", "retain", mode="before")
    @classmethod
    def _size_content(cls, v: Any) -> Any:
        _check_count(v, MAX_CONTENT_ITEMS)
        if content_bytes(v) > MAX_CONTENT_BYTES:
            raise _error("too_large", "larger than {limit} bytes", limit=MAX_CONTENT_BYTES)
        return v

    @field_validator("scope", mode="after")
    @classmethod
    def _lower_global(cls, v: str) -> str:
        return GLOBAL_SCOPE if v.lower() == GLOBAL_SCOPE else v

    def applies_to(self, tenant: str | None, now: datetime) -> bool:
        """Whether the target is in force for ``tenant`` at ``now`` (global or same tenant)."""
        if self.expires_at is not None and self.expires_at <= now:
            return False
        return self.scope == GLOBAL_SCOPE or self.scope == tenant


def parse_target_json(raw: str | bytes) -> ForgetTarget:
    """Validate one JSON document as a target, refusing oversized input before parsing it.

    >>> parse_target_json('{"kind": "topic", "name": "Nerve agents"}').kind
    'topic'
    """
    if len(raw) > MAX_TARGET_JSON_BYTES:
        detail = InitErrorDetails(
            type=_error("too_large", "target exceeds {limit} bytes", limit=MAX_TARGET_JSON_BYTES),
            loc=("content",),
            input="<omitted>",
        )
        raise ValidationError.from_exception_data(ForgetTarget.__name__, [detail])
    return ForgetTarget.model_validate_json(raw)


def field_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """``(field_path, message)`` for each error, e.g. ``("content.3.answer", "Field required")``.

    >>> field_errors(ValidationError.from_exception_data("T", [InitErrorDetails(
    ...     type=_error("empty", "name must not be empty"), loc=("name",), input="")]))
    [('name', 'name must not be empty')]
    """
    out = []
    for err in exc.errors(include_url=False):
        parts = [str(p) for p in err["loc"] if p not in _UNION_TAGS]
        path = ".".join(parts) or "body"
        message = err["msg"].removeprefix("Value error, ")
        out.append((path, message))
    return out
