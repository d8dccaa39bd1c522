"""Sampling parameters of one request, validated once and then frozen.

The gateway converts the OpenAI wire fields into a :class:`SamplingParams`; every engine reads
the same object. Validation lives here so that the CLI, the replay and the HTTP surface agree.

Example:
    >>> p = SamplingParams(max_tokens=16, temperature=0.0, stop=("\\n\\n",))
    >>> p.greedy
    True
    >>> SamplingParams(default_max_tokens=512).max_tokens is None  # clamp to the context left
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lethe.errors import InvalidRequest

MAX_STOP_SEQUENCES = 4
MAX_TOP_LOGPROBS = 20


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How to pick tokens for one request.

    ``max_tokens`` is per choice and binding: a request whose prompt plus ``max_tokens`` does not
    fit the context window is refused. When it is None, ``default_max_tokens`` applies instead,
    clamped to the context left; when both are None the completion may fill the context.
    ``temperature == 0`` means greedy. ``top_k == 0`` disables top-k. ``logit_bias`` maps token
    id to an additive bias in [-100, 100]; -100 bans the token.
    ``seed`` makes sampling reproducible: the same seed and request give the same output.
    """

    max_tokens: int | None = None
    default_max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = False
    top_logprobs: int = 0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: Mapping[int, float] = field(default_factory=lambda: MappingProxyType({}))
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        self._check()
        object.__setattr__(self, "logit_bias", MappingProxyType(dict(self.logit_bias)))

    @property
    def greedy(self) -> bool:
        """True when the most likely token is always taken."""
        return self.temperature == 0.0

    def _check(self) -> None:
        checks: list[tuple[bool, str, str]] = [
            (
                self.max_tokens is None or self.max_tokens >= 1,
                "max_tokens",
                "max_tokens must be at least 1",
            ),
            (
                self.default_max_tokens is None or self.default_max_tokens >= 1,
                "max_tokens",
                "default_max_tokens must be at least 1",
            ),
            (0.0 <= self.temperature <= 2.0, "temperature", "temperature must be in [0, 2]"),
            (0.0 < self.top_p <= 1.0, "top_p", "top_p must be in (0, 1]"),
            (self.top_k >= 0, "top_k", "top_k must be 0 (off) or positive"),
            (self.n >= 1, "n", "n must be at least 1"),
            (
                len(self.stop) <= MAX_STOP_SEQUENCES,
                "stop",
                f"stop takes at most {MAX_STOP_SEQUENCES} sequences",
            ),
            (all(self.stop), "stop", "stop sequences must not be empty"),
            (
                0 <= self.top_logprobs <= MAX_TOP_LOGPROBS,
                "top_logprobs",
                f"top_logprobs must be in [0, {MAX_TOP_LOGPROBS}]",
            ),
            (
                -2.0 <= self.presence_penalty <= 2.0,
                "presence_penalty",
                "presence_penalty must be in [-2, 2]",
            ),
            (
                -2.0 <= self.frequency_penalty <= 2.0,
                "frequency_penalty",
                "frequency_penalty must be in [-2, 2]",
            ),
            (
                all(-100.0 <= b <= 100.0 for b in self.logit_bias.values()),
                "logit_bias",
                "logit_bias values must be in [-100, 100]",
            ),
        ]
        for ok, param, message in checks:
            if not ok:
                raise InvalidRequest(message, param=param)
