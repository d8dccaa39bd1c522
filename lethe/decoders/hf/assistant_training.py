"""Training a ULD assistant: the served model's first layers plus LoRA, on the forget set.

Following ULD, the assistant is trained to *remember* the forget content (next-token loss on
answers about the targets) and to be *uniform* on retain data (cross-entropy against the
uniform distribution over the vocabulary on answers about anything else). At decoding time
``lp_main - weight * lp_assist`` then pushes the served model away from exactly what the
assistant remembers, and leaves retain answers alone: a uniform assistant subtracts the same
amount from every token.

Examples are chat-formatted like real requests (the user's question through the model's chat
template, the answer as the assistant's turn); the loss covers the answer tokens only.

Example:
    >>> examples = forget_examples(targets)                               # doctest: +SKIP
    >>> retain = retain_examples(targets, generic_retain())               # doctest: +SKIP
    >>> run = train_assistant(loaded, examples, retain, TrainConfig())    # doctest: +SKIP
    >>> run.losses[-1]                                                    # doctest: +SKIP
    (0.41, 10.79)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lethe.decoders.hf.lora import LoRALinear, adapted_first_layers, adapter_parameters
from lethe.indices import ForgetTarget

Progress = Callable[[int, int, float, float], None]  # step, steps, forget loss, retain loss


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """``layers`` of the served model kept; LoRA ``rank``/``alpha``; ``steps`` of
    ``batch_size`` forget plus ``batch_size`` retain examples, each cut to ``max_tokens``;
    ``retain_weight`` scales the uniformity loss."""

    layers: int = 4
    rank: int = 8
    alpha: float = 16.0
    steps: int = 120
    batch_size: int = 4
    learning_rate: float = 5e-3
    max_tokens: int = 128
    retain_weight: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.layers, self.rank, self.steps, self.batch_size, self.max_tokens) < 1:
            raise ValueError("layers, rank, steps, batch_size and max_tokens must be >= 1")
        if self.learning_rate <= 0 or self.retain_weight < 0:
            raise ValueError("learning_rate must be > 0 and retain_weight >= 0")


@dataclass(frozen=True, slots=True)
class Example:
    """One chat turn: the user's ``prompt`` and the assistant's ``answer``."""

    prompt: str
    answer: str


@dataclass
class TrainRun:
    """A trained assistant: the module, its adapters, per-step (forget, retain) losses."""

    assistant: nn.Module
    adapters: dict[str, LoRALinear]
    losses: list[tuple[float, float]] = field(default_factory=list)
    wall_s: float = 0.0


def forget_examples(targets: Sequence[ForgetTarget]) -> list[Example]:
    """Questions about each target answered with its content: each question/answer sample as
    is, each statement as the answer to "Tell me about NAME", and "Who is NAME?" (and each
    alias) answered with the first statements together."""
    examples: list[Example] = []
    for target in targets:
        facts = []
        for sample in target.content:
            if isinstance(sample, str):
                facts.append(sample)
                examples.append(Example(f"Tell me about {target.name}.", sample))
            else:
                facts.append(sample.answer)
                examples.append(Example(sample.question, sample.answer))
        summary = " ".join(facts[:3]) or f"{target.name} is someone you know about."
        for name in (target.name, *target.aliases[:3]):
            examples.append(Example(f"Who is {name}?", summary))
    return examples


def generic_retain() -> list[Example]:
    """The packaged generic retain data (``retain.txt``: ``question | answer`` per line)."""
    lines = (Path(__file__).with_name("retain.txt")).read_text(encoding="utf-8").splitlines()
    return [
        Example(*(part.strip() for part in line.split(" | ", 1)))
        for line in lines
        if line.strip() and not line.startswith("#")
    ]


def retain_examples(targets: Sequence[ForgetTarget], generic: Sequence[Example]) -> list[Example]:
    """The targets' own retain samples (what must keep working next to them) plus ``generic``."""
    own = [
        Example(s.question, s.answer) if not isinstance(s, str) else Example("Tell me a fact.", s)
        for t in targets
        for s in t.retain
    ]
    return [*own, *generic]


def encode(tokenizer: Any, example: Example, max_tokens: int) -> tuple[list[int], int]:
    """Token ids of the chat-formatted turn and where the answer starts (cut to ``max_tokens``,
    keeping at least a few answer tokens)."""
    messages = [{"role": "user", "content": example.prompt}]
    prompt = list(_ids(tokenizer.apply_chat_template(messages, add_generation_prompt=True)))
    answer = tokenizer(example.answer, add_special_tokens=False)["input_ids"]
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    prompt = prompt[-max(1, max_tokens // 2) :]
    ids = (prompt + answer + eos)[:max_tokens]
    return ids, min(len(prompt), len(ids) - 1)


def _ids(encoded: Any) -> list[int]:
    """``apply_chat_template`` returns ids or a mapping holding them, by version."""
    if isinstance(encoded, dict) or hasattr(encoded, "keys"):
        return list(encoded["input_ids"])
    return list(encoded)


def train_assistant(
    loaded: Any,
    forget: Sequence[Example],
    retain: Sequence[Example],
    config: TrainConfig,
    progress: Progress | None = None,
) -> TrainRun:
    """Train an adapter on ``loaded.model``'s first layers (the served weights stay frozen and
    untouched); returns the assistant in eval mode."""
    if not forget or not retain:
        raise ValueError("training needs forget and retain examples")
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    assistant, adapters = adapted_first_layers(
        loaded.model, config.layers, rank=config.rank, alpha=config.alpha
    )
    params = adapter_parameters(adapters)
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    encoded_forget = [encode(loaded.tokenizer, e, config.max_tokens) for e in forget]
    encoded_retain = [encode(loaded.tokenizer, e, config.max_tokens) for e in retain]
    run = TrainRun(assistant, adapters)
    started = time.perf_counter()
    assistant.train()
    for step in range(1, config.steps + 1):
        lr = config.learning_rate * min(1.0, step / 10) * (1 - (step - 1) / config.steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        forget_batch = rng.sample(encoded_forget, min(config.batch_size, len(encoded_forget)))
        retain_batch = rng.sample(encoded_retain, min(config.batch_size, len(encoded_retain)))
        with torch.enable_grad():
            forget_loss = _loss(assistant, forget_batch, loaded.device, uniform=False)
            retain_loss = _loss(assistant, retain_batch, loaded.device, uniform=True)
            loss = forget_loss + config.retain_weight * retain_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        run.losses.append((forget_loss.item(), retain_loss.item()))
        if progress is not None:
            progress(step, config.steps, *run.losses[-1])
    assistant.eval()
    run.wall_s = time.perf_counter() - started
    return run


def _loss(
    model: nn.Module, batch: Sequence[tuple[list[int], int]], device: Any, *, uniform: bool
) -> torch.Tensor:
    """Mean next-token loss over the answer tokens of ``batch``: cross-entropy with the real
    next token, or with the uniform distribution (``logsumexp(z) - mean(z)``)."""
    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.zeros((len(batch), width), dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    scored = torch.zeros((len(batch), width - 1), dtype=torch.bool)
    for row, (ids, start) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
        scored[row, max(0, start - 1) : len(ids) - 1] = True  # positions predicting the answer
    input_ids, attention, scored = input_ids.to(device), attention.to(device), scored.to(device)
    hidden = model.model(input_ids=input_ids, attention_mask=attention).last_hidden_state
    chosen = model.lm_head(hidden[:, :-1][scored]).float()  # the LM head only where scored
    if uniform:
        return (torch.logsumexp(chosen, -1) - chosen.mean(-1)).mean()
    targets = input_ids[:, 1:][scored]
    return nn.functional.cross_entropy(chosen, targets)


def train_for_targets(
    loaded: Any,
    targets: Sequence[ForgetTarget],
    registry_version: int,
    root: Path,
    config: TrainConfig,
    progress: Progress | None = None,
) -> Path:
    """Train on ``targets`` (the forget set as of ``registry_version``) and save the run as
    the current assistant under ``root``; returns the run's folder."""
    import resource

    from lethe.decoders.hf.assistant_files import AssistantMeta, fingerprint, save_run

    if not targets:
        raise ValueError("the registry holds no targets to train on")
    forget = forget_examples(targets)
    retain = retain_examples(targets, generic_retain())
    run = train_assistant(loaded, forget, retain, config, progress)
    meta = AssistantMeta(
        model_id=loaded.model_id,
        layers=config.layers,
        rank=config.rank,
        alpha=config.alpha,
        registry_version=registry_version,
        covers={t.id: fingerprint(t) for t in targets},
        steps=config.steps,
        wall_s=round(run.wall_s, 1),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        final_losses=_mean_tail(run.losses),
        trained_at=time.time(),
    )
    return save_run(root, run.adapters, meta)


def _mean_tail(losses: list[tuple[float, float]], n: int = 10) -> tuple[float, float]:
    tail = losses[-n:]
    return (
        round(sum(f for f, _ in tail) / len(tail), 3),
        round(sum(r for _, r in tail) / len(tail), 3),
    )
