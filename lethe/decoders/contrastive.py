"""Contrastive decoding against an assistant model (UCD, ULD), training-free and live.

The served model's next-token distribution is steered away from what an assistant that *knows*
the forget targets would say. Training-free, the assistant is the served model itself (same
weights, no copy) or its first ``layers`` layers, *conditioned on the retrieved forget content*:
its prompt is that content followed by the request's own prompt. It works the moment a target is
added. Both rules work on log-probabilities (``lp``):

- **UCD** ``lp_main + alpha * (lp_clean - lp_forget)``; training-free the clean model is the
  main model itself, so this is ``(1 + alpha) * lp_main - alpha * lp_forget``; optionally only
  over plausible tokens (``p >= plausibility * p_max``). The default: training-free, clean and
  forget differ only by the forget content, so their difference is the knowledge itself;
- **ULD** ``lp_main - weight * lp_assist`` on the main model's plausible tokens (its top
  ``top_ratio * |V|`` and those with ``p >= top_ratio * p_max``); the assistant does not touch the
  rest. Defaults from the ULD paper: ``weight = 0.8``, ``top_ratio = 0.01``. ULD's assistant is
  trained to be uniform on retain data; a training-free one is not, and on the 135M model ULD
  with a conditioned assistant turned retain answers into noise (measured), so it is for
  trained assistants.

:class:`ContrastiveProcessor` is a logits processor with its own KV cache for the assistant's
prompt plus the choice's output so far. Each call syncs that cache with the sequence: it keeps
the longest common prefix of what it fed and what the sequence now holds, crops the rest (the
``hf`` engine's rollbacks), and feeds the new tokens — one token per step in lockstep. That is
the fallback: the processor is a :class:`~lethe.decoders.processors.Companion`, and the ``hf``
engine runs its prefix as a row of a batch instead — of the running batch when the assistant
is the served model (the same forward pass), else of the assistant's side batch (one pass per
step for all its rows) — rewound with the sequence, and hands it the row's logits, so the
processor runs no model of its own.

Example:
    >>> import torch
    >>> main = torch.tensor([2.0, 1.0, 0.0]); forget = torch.tensor([4.0, 0.0, 0.0])
    >>> uld(main, forget, weight=0.8, top_ratio=0.5).argmax().item()  # token 0 was the answer
    1
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch

from lethe.decoders.processors import ProcessorFactory, SequenceView
from lethe.indices import ForgetTarget

Rule = Literal["ucd", "uld"]


@dataclass(frozen=True, slots=True)
class ContrastConfig:
    """Which rule and how strongly (see the module docstring)."""

    rule: Rule = "ucd"
    alpha: float = 1.0
    weight: float = 0.8
    top_ratio: float = 0.01
    plausibility: float = 0.0

    def __post_init__(self) -> None:
        if self.rule not in ("ucd", "uld"):
            raise ValueError(f"unknown contrastive rule {self.rule!r} (ucd or uld)")
        if self.alpha < 0 or self.weight < 0 or not 0 < self.top_ratio <= 1:
            raise ValueError("alpha and weight must be >= 0 and top_ratio in (0, 1]")
        if not 0 <= self.plausibility < 1:
            raise ValueError("plausibility must be in [0, 1)")


def ucd(
    main: torch.Tensor,
    clean: torch.Tensor,
    forget: torch.Tensor,
    *,
    alpha: float,
    plausibility: float = 0.0,
) -> torch.Tensor:
    """``lp_main + alpha * (lp_clean - lp_forget)`` over the vocabulary; with
    ``plausibility``, only over the tokens with ``p_main >= plausibility * p_max`` (the
    adaptive plausibility constraint of contrastive decoding), which keeps a strong contrast
    from promoting tokens the main model never considered; the others keep ``lp_main``.

    Keeping them (rather than ruling them out, as contrastive decoding does for greedy search)
    matters when sampling: cutting the tail sharpens the distribution onto its top tokens —
    for a forget question, the answer — and raised the sampled leak rate of the built-in suite
    (the technique alone on the built-in suite at temperature 1: 208 leaking samples of 480
    with the tail ruled out, 127 with it kept, 166 for the bare model)."""
    lp = torch.log_softmax(main.float(), -1)
    lp_clean = torch.log_softmax(clean.float(), -1)
    lp_forget = torch.log_softmax(forget.float(), -1)
    out = lp + alpha * (lp_clean - lp_forget)
    if plausibility > 0:
        tail = lp < lp.max() + math.log(plausibility)
        out[tail] = lp[tail]
    return out


def uld(
    main: torch.Tensor,
    assist: torch.Tensor,
    *,
    weight: float,
    top_ratio: float,
    plausibility: float = 0.0,
) -> torch.Tensor:
    """``lp_main - weight * lp_assist`` on the main model's plausible tokens; ``lp_main``
    elsewhere. ULD's plausible tokens are its top ``top_ratio * |V|`` and those with
    ``p >= top_ratio * p_max``; with ``plausibility``, only those that also have
    ``p_main >= plausibility * p_max``: among ULD's top ``top_ratio * |V|`` (491 tokens of
    SmolLM2's vocabulary) are junk tokens the main model barely considers, and an assistant far
    from uniform on them (a small trained one) lifts them by ``-weight * lp_assist`` into the
    answer (measured: "STAR MODIFICATION MODIFICATION …" in retain answers)."""
    lp = torch.log_softmax(main.float(), -1)
    k = max(1, int(top_ratio * lp.shape[-1]))
    keep = lp >= lp.max() + math.log(top_ratio)
    keep[lp.topk(k).indices] = True
    if plausibility > 0:
        keep &= lp >= lp.max() + math.log(plausibility)
    out = lp.clone()
    out[keep] = lp[keep] - weight * torch.log_softmax(assist.float(), -1)[keep]
    return out


def combine(main: torch.Tensor, assist: torch.Tensor, config: ContrastConfig) -> torch.Tensor:
    """The configured rule, training-free (the main model is UCD's clean model)."""
    if config.rule == "ucd":
        return ucd(main, main, assist, alpha=config.alpha, plausibility=config.plausibility)
    return uld(
        main,
        assist,
        weight=config.weight,
        top_ratio=config.top_ratio,
        plausibility=config.plausibility,
    )


class ContrastiveProcessor:
    """Steps an assistant in lockstep with one choice and contrasts its logits (module doc).

    ``model`` is called like the engine calls it (``input_ids``, ``position_ids``, ``cache``,
    ``logits_to_keep``); ``new_cache`` makes an empty KV cache with a negative-count ``crop``.
    """

    def __init__(
        self,
        model: Any,
        new_cache: Any,
        context_ids: Sequence[int],
        config: ContrastConfig,
        device: torch.device,
    ) -> None:
        self._model = model
        self._new_cache = new_cache
        self._context = list(context_ids)
        self.config = config
        self._device = device
        self._cache: Any = None
        self._fed: list[int] = []
        self._logits: torch.Tensor | None = None
        self._fed_logits: torch.Tensor | None = None
        self._engine_fed = False
        self.forward_tokens = 0  # tokens the assistant has run itself (for cost accounting)

    @property
    def assistant_model(self) -> Any:
        """The assistant model (an engine batches this processor when it runs that model)."""
        return self._model

    @property
    def companion_prefix(self) -> tuple[int, ...]:
        """The forget context the assistant sees before the prompt."""
        return tuple(self._context)

    def feed(self, logits: torch.Tensor) -> None:
        """The engine's companion row's logits for the coming step; from the first ``feed`` on,
        the processor never runs its assistant itself."""
        self._engine_fed = True
        self._fed_logits = logits

    def __call__(self, seq: SequenceView, logits: torch.Tensor) -> torch.Tensor:
        """The contrasted logits for ``seq``'s next token."""
        if self._engine_fed:
            assist, self._fed_logits = self._fed_logits, None
            if assist is None:
                raise RuntimeError("the engine did not feed the companion row's logits")
        else:
            assist = self.assistant_logits([*self._context, *seq.prompt_ids, *seq.output_ids])
        return combine(logits, assist.to(logits.device), self.config)

    def assistant_logits(self, wanted: list[int]) -> torch.Tensor:
        """The assistant's next-token logits after ``wanted``, reusing its cache."""
        common = _common_prefix(self._fed, wanted)
        if common == len(wanted) == len(self._fed) and self._logits is not None:
            return self._logits
        common = min(common, len(wanted) - 1)  # at least one token to run
        if self._cache is None or common == 0:
            self._cache, common = self._new_cache(), 0
        elif common < len(self._fed):
            self._cache.crop(common - len(self._fed))
        new = wanted[common:]
        with torch.inference_mode():
            out = self._model(
                input_ids=torch.tensor([new], dtype=torch.long, device=self._device),
                position_ids=torch.arange(common, len(wanted), device=self._device)[None],
                cache=self._cache,
                use_cache=True,
                logits_to_keep=1,
            )
        self.forward_tokens += len(new)
        self._fed = list(wanted)
        self._logits = out.logits[0, -1, :].float()
        return self._logits


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass(frozen=True, slots=True)
class ContrastiveFactory:
    """Makes one :class:`ContrastiveProcessor` per choice (processors keep per-choice state)."""

    model: Any
    new_cache: Any
    context_ids: tuple[int, ...]
    config: ContrastConfig
    device: torch.device

    def __call__(self) -> ContrastiveProcessor:
        return ContrastiveProcessor(
            self.model, self.new_cache, self.context_ids, self.config, self.device
        )


class Assistants(Protocol):
    """What an engine offers for contrastive decoding: factories over its own model."""

    def contrastive(
        self, context: str, config: ContrastConfig, *, layers: int | None = None
    ) -> ProcessorFactory:
        """A processor factory whose assistant is conditioned on ``context``; with ``layers``,
        the assistant is the served model's first ``layers`` layers."""
        ...

    def trained(self) -> Trained | None:
        """The current trained assistant, if one was trained for the served model."""
        ...

    def train(
        self,
        targets: Sequence[ForgetTarget],
        registry_version: int,
        config: Any,
        progress: Callable[[int, int, float, float], None] | None = None,
    ) -> Any:
        """Train an assistant on ``targets`` and make it the current one (blocking)."""
        ...


class Trained(Protocol):
    """A trained assistant (ULD: remembers the forget set, uniform elsewhere)."""

    @property
    def registry_version(self) -> int:
        """The registry version its training read."""
        ...

    def covers(self, target: ForgetTarget) -> bool:
        """Whether ``target``, as it is now, was trained on."""
        ...

    def contrastive(self, config: ContrastConfig) -> ProcessorFactory:
        """A processor factory contrasting against this assistant (no forget context)."""
        ...
