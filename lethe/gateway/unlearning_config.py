"""The unlearning pipeline's configuration: techniques in run order, defaults per target kind,
the refusal, scope thresholds — data in YAML (``unlearning.yaml``), validated at start-up.

Example:
    >>> config = UnlearningConfig.load()
    >>> [t.type for t in config.techniques]
    ['context_redaction', 'in_context', 'forbidden_tokens', 'output_filter', 'agentic']
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lethe.errors import ConfigurationError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TechniqueSpec(_Strict):
    """One ``- type: ... params: ...`` entry."""

    type: str
    params: dict[str, Any] = Field(default_factory=dict)


class ScopeSpec(_Strict):
    """Retrieval size and default semantic thresholds per target kind."""

    k: int = Field(default=10, ge=1, le=100)
    thresholds: dict[str, float] = Field(default_factory=dict)


class FilterSpec(_Strict):
    """Output-filter knobs (``lexical`` False is for ablations only)."""

    semantic_margin: float = 0.1
    question_context: bool = True
    lexical: bool = True


class UnlearningConfig(_Strict):
    """The whole pipeline configuration."""

    refusal: str = Field(min_length=1)
    finish_reason: Literal["stop", "content_filter"] = "stop"
    scope: ScopeSpec = ScopeSpec()
    techniques: tuple[TechniqueSpec, ...] = ()
    defaults_by_kind: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    output_filter: FilterSpec = FilterSpec()

    @classmethod
    def load(cls, path: str | Path | None = None) -> UnlearningConfig:
        """The packaged defaults, overlaid with the YAML file at ``path`` when given."""
        text = resources.files("lethe.gateway").joinpath("unlearning.yaml").read_text()
        data = yaml.safe_load(text)
        if path is not None:
            try:
                override = yaml.safe_load(Path(path).read_text()) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigurationError(f"cannot read unlearning config {path}: {exc}") from None
            data = _overlay(data, override)
        try:
            config = cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigurationError(f"unlearning config: {where}: {first['msg']}") from None
        config.check()
        return config

    def check(self) -> None:
        """Every technique named by a kind's defaults must be configured."""
        configured = {t.type for t in self.techniques}
        for kind, names in self.defaults_by_kind.items():
            missing = set(names) - configured
            if missing:
                raise ConfigurationError(
                    f"unlearning config: defaults_by_kind.{kind} names unconfigured techniques "
                    f"{sorted(missing)}"
                )


def _overlay(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _overlay(out[key], value)
        else:
            out[key] = value
    return out
