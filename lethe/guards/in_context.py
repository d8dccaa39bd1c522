"""In-context unlearning: rewrite the prompt for the in-scope targets only.

In the spirit of RWKU's in-context unlearning prompt and ICUL: a system instruction to behave as
if the targets were never learned (and never to say so), after the operator's own system prompt,
then a few demonstrations drawn from the targets' own content — forget questions answered with
the refusal, retain questions answered normally — placed before the conversation. Only the top-k
targets retrieved for this request are used, so the prompt does not grow with the registry.
Wording and limits are data (``prompts/in_context.yaml``), not code.

Example:
    >>> from lethe.decoders import SamplingParams
    >>> icu = InContextUnlearning.default()
    >>> t = ForgetTarget(kind="entity", name="Ada Quill",
    ...                  content=[{"question": "Where does Ada Quill live?", "answer": "Ulm"}])
    >>> turn = Turn.chat("r", [Message("user", "Who is Ada Quill?")], SamplingParams(max_tokens=8))
    >>> [m.role for m in icu.rewrite(turn, [t], refusal="I'm not familiar with that.").messages]
    ['system', 'user', 'assistant', 'user']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from lethe.decoders import Message, Turn
from lethe.indices import ForgetTarget, QAPair


@dataclass(frozen=True, slots=True)
class InContextConfig:
    """The instruction template and demonstration limits (see ``prompts/in_context.yaml``)."""

    instruction: str
    passage_question: str
    max_forget_demos_per_target: int = 2
    max_retain_demos_per_target: int = 1
    max_demos: int = 6
    context_first: bool = True
    reminder_after: int = 0

    @classmethod
    def load(cls, data: dict[str, Any] | None = None) -> InContextConfig:
        """From a mapping, or the packaged ``prompts/in_context.yaml`` when None."""
        if data is None:
            text = resources.files("lethe.guards").joinpath("prompts/in_context.yaml").read_text()
            data = yaml.safe_load(text)
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


class InContextUnlearning:
    """Builds the rewritten turn for a request with in-scope targets."""

    def __init__(self, config: InContextConfig) -> None:
        self.config = config

    @classmethod
    def default(cls) -> InContextUnlearning:
        """With the packaged prompt."""
        return cls(InContextConfig.load())

    def rewrite(
        self,
        turn: Turn,
        targets: Sequence[ForgetTarget],
        *,
        refusal: str,
        from_context: Collection[str] = (),
    ) -> Turn:
        """``turn`` with the instruction and demonstrations for ``targets`` in front.

        The instruction goes after the operator's own system prompt (``context_first``; before
        it otherwise), and again right before the last user message when the conversation has
        more than ``reminder_after`` messages (0: never; a long, many-shot conversation buries
        the first one). Targets in ``from_context`` (ids whose records were in the operator's
        documents and were redacted out of them) get no forget demonstrations: a small model
        shown "question about X -> refusal" next to a directory starts refusing questions about
        everyone else in it.
        """
        if not targets or not turn.is_chat:
            return turn
        instruction = self.config.instruction.format(subjects=_subjects(targets), refusal=refusal)
        own_system = [m.content for m in turn.messages if m.role in ("system", "developer")]
        parts = (
            [*own_system, instruction] if self.config.context_first else [instruction, *own_system]
        )
        system = Message("system", "\n\n".join(parts))
        rest = [m for m in turn.messages if m.role not in ("system", "developer")]
        demos = self._demonstrations(targets, refusal, frozenset(from_context))
        if self.config.reminder_after and len(rest) > self.config.reminder_after:
            last = max(i for i, m in enumerate(rest) if m.role == "user")
            rest = [*rest[:last], Message("system", instruction), *rest[last:]]
        return dataclasses.replace(turn, messages=(system, *demos, *rest))

    def _demonstrations(
        self, targets: Sequence[ForgetTarget], refusal: str, from_context: frozenset[str]
    ) -> list[Message]:
        cfg = self.config
        pairs: list[tuple[str, str]] = []
        for target in targets:
            if target.id in from_context:
                continue  # its records were in the prompt and are gone: nothing to un-know
            for sample in target.content[: cfg.max_forget_demos_per_target]:
                pairs.append((self._question(sample, target), refusal))
            for sample in target.retain[: cfg.max_retain_demos_per_target]:
                if isinstance(sample, QAPair):
                    pairs.append((sample.question, sample.answer))
        messages: list[Message] = []
        for question, answer in pairs[: cfg.max_demos]:
            messages += [Message("user", question), Message("assistant", answer)]
        return messages

    def _question(self, sample: QAPair | str, target: ForgetTarget) -> str:
        if isinstance(sample, QAPair):
            return sample.question
        return self.config.passage_question.format(name=target.name)


def _subjects(targets: Sequence[ForgetTarget]) -> str:
    names = []
    for t in targets:
        aka = f" (also called {', '.join(t.aliases[:3])})" if t.aliases else ""
        names.append(f"{t.name}{aka}")
    return "; ".join(names)
