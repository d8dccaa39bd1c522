"""Unlearning techniques as data: a name -> factory registry, and the per-request plan they fill.

The pipeline's configuration lists techniques in run order as ``- type: ... params: ...``
(``lethe/gateway/unlearning.yaml``); each in-scope target enables a subset (its policy's
``techniques``, else the defaults for its kind). A technique only adds to the request's
:class:`Plan`: a rewritten prompt, logits-processor factories, targets for the semantic output
check. It declares the engine capabilities it needs, checked once at start-up.

Example:
    >>> tech = build_technique("forbidden_tokens", {"max_rollbacks": 8})
    >>> tech.requires
    ('logits', 'rollback')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from lethe.decoders import ProcessorFactory, Turn
from lethe.decoders.masking import DEFAULT_MAX_ROLLBACKS, ForbiddenTokenMask
from lethe.errors import ConfigurationError
from lethe.guards.in_context import InContextConfig, InContextUnlearning
from lethe.guards.output_filter import GuardedTarget
from lethe.guards.scope import TargetVerdict


@dataclass(slots=True)
class Plan:
    """What a request will run with; techniques add to it."""

    turn: Turn
    refusal: str
    processors: list[ProcessorFactory] = field(default_factory=list)
    semantic_targets: list[GuardedTarget] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    masks: list[ForbiddenTokenMask] = field(default_factory=list)


class Technique(Protocol):
    """One unlearning technique, applied to the in-scope targets that enable it."""

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]]

    def apply(self, plan: Plan, targets: Sequence[TargetVerdict]) -> None:
        """Add this technique's part for ``targets`` (never empty) to ``plan``."""
        ...


class InContext:
    """Rewrite the prompt: instruction plus ICUL demonstrations (see ``in_context.py``)."""

    name: ClassVar[str] = "in_context"
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        base = InContextConfig.load()
        overrides = {k: v for k, v in params.items() if hasattr(base, k)}
        unknown = set(params) - set(overrides)
        if unknown:
            raise ConfigurationError(f"in_context: unknown params {sorted(unknown)}")
        data = {f: getattr(base, f) for f in base.__dataclass_fields__} | overrides
        self._icu = InContextUnlearning(InContextConfig.load(data))

    def apply(self, plan: Plan, targets: Sequence[TargetVerdict]) -> None:
        """Put the instruction and demonstrations in front of the conversation."""
        plan.turn = self._icu.rewrite(plan.turn, [v.target for v in targets], refusal=plan.refusal)
        plan.fired.append(self.name)


class ForbiddenTokens:
    """Mask the targets' forbidden strings (and, by default, names and aliases) with rollback."""

    name: ClassVar[str] = "forbidden_tokens"
    requires: ClassVar[tuple[str, ...]] = ("logits", "rollback")

    def __init__(self, max_rollbacks: int = DEFAULT_MAX_ROLLBACKS, names: bool = True) -> None:
        self.max_rollbacks = max_rollbacks
        self.names = names

    def strings(self, targets: Sequence[TargetVerdict]) -> list[str]:
        """Every string to keep out of the output for these targets."""
        out: list[str] = []
        for v in targets:
            out += v.target.forbidden
            if self.names:
                out += [v.target.name, *v.target.aliases]
        return out

    def apply(self, plan: Plan, targets: Sequence[TargetVerdict]) -> None:
        """Add one mask per choice (masks keep per-choice bans)."""
        strings, refusal = self.strings(targets), plan.refusal
        if not strings:
            return

        def factory() -> ForbiddenTokenMask:
            mask = ForbiddenTokenMask(strings, refusal=refusal, max_rollbacks=self.max_rollbacks)
            plan.masks.append(mask)
            return mask

        plan.processors.append(factory)
        plan.fired.append(self.name)


class OutputFilterSemantic:
    """Check completed output sentences against these targets' content (the lexical check
    runs on every request regardless)."""

    name: ClassVar[str] = "output_filter"
    requires: ClassVar[tuple[str, ...]] = ()

    def apply(self, plan: Plan, targets: Sequence[TargetVerdict]) -> None:
        """Register the targets, with their scope thresholds, for the semantic check."""
        plan.semantic_targets += [GuardedTarget(v.target.id, v.threshold) for v in targets]
        plan.fired.append(self.name)


TECHNIQUES: Mapping[str, Callable[..., Technique]] = {
    InContext.name: InContext,
    ForbiddenTokens.name: ForbiddenTokens,
    OutputFilterSemantic.name: OutputFilterSemantic,
}


def build_technique(name: str, params: Mapping[str, Any] | None = None) -> Technique:
    """The technique registered as ``name``, built with ``params``."""
    factory = TECHNIQUES.get(name)
    if factory is None:
        known = ", ".join(sorted(TECHNIQUES))
        raise ConfigurationError(f"unknown technique {name!r} (known: {known})")
    try:
        return factory(**dict(params or {}))
    except TypeError as exc:
        raise ConfigurationError(f"technique {name!r}: {exc}") from None
