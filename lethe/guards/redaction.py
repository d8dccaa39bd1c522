"""Context redaction: take the in-scope targets out of the documents the model is given.

Retrieval-style prompts put records about several people in the context (a staff directory in
the system prompt, pasted documents, earlier turns). When some of them are forget targets, the
model should answer as if their records had never been there, while still answering about the
others from the same prompt (the BLUR / SEPS finding: forget and retain mixed in one prompt is
where prompt-only unlearning breaks). An instruction alone leaves the records in front of the
model; this removes them.

Rule: every sentence that mentions an in-scope target (its name, an alias or a forbidden string;
case-insensitive, whole words, as :class:`~lethe.decoders.forbidden.ForbiddenStrings`) is
dropped from every message, *except* the question being asked: the last non-empty line of the
last user message stays as written (the user may name the target; the other techniques handle
the answer). A message left with nothing reads ``PLACEHOLDER``. Lines are kept as lines, so a
directory of one record per line loses exactly the target's records. (When to redact at all is
the ``context_redaction`` technique's call: only when the conversation names the target.)

Example:
    >>> doc = "Directory:\\n- Ada Quill: phone 555-0142.\\n- Bo Lind: phone 555-0199."
    >>> redact_text(doc, ForbiddenStrings(["Ada Quill", "555-0142"]))
    ('Directory:\\n- Bo Lind: phone 555-0199.', 1)
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass

from lethe.decoders import Turn
from lethe.decoders.forbidden import ForbiddenStrings

PLACEHOLDER = "(removed)"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])?\s*")


def _mentions(text: str, strings: ForbiddenStrings) -> bool:
    return strings.violation(text, 0, final=True) is not None


def redact_text(text: str, strings: ForbiddenStrings) -> tuple[str, int]:
    """``text`` without its sentences that mention ``strings``; and how many were dropped."""
    lines, dropped = [], 0
    for line in text.split("\n"):
        if not _mentions(line, strings):
            lines.append(line)
            continue
        bullet = _BULLET.match(line)
        prefix = bullet.group(0) if bullet else ""
        sentences = _SENTENCE_END.split(line[len(prefix) :])
        kept = [s for s in sentences if not _mentions(s, strings)]
        dropped += len(sentences) - len(kept)
        if kept:
            lines.append(prefix + " ".join(s.strip() for s in kept))
    return "\n".join(lines), dropped


def _redact_but_question(text: str, strings: ForbiddenStrings) -> tuple[str, int]:
    """The last user message: everything before its last non-empty line is redacted."""
    head, sep, question = text.rstrip().rpartition("\n")
    if not sep:
        return text, 0
    redacted, dropped = redact_text(head, strings)
    return (f"{redacted}\n{question}" if redacted.strip() else question), dropped


DOCUMENT_ROLES = ("system", "developer")


def mentions(turn: Turn, strings: Iterable[str], *, documents: bool) -> bool:
    """Whether the operator's documents (``documents``: system and developer messages) or the
    rest of the conversation (user and assistant turns, or a raw prompt) name ``strings``."""
    matcher = ForbiddenStrings(strings)
    if not turn.is_chat:
        prompt = turn.prompt if isinstance(turn.prompt, str) else ""
        texts = [] if documents else [prompt]
    else:
        texts = [m.content for m in turn.messages if (m.role in DOCUMENT_ROLES) == documents]
    return bool(matcher) and any(_mentions(t, matcher) for t in texts)


@dataclass(frozen=True, slots=True)
class Redaction:
    """A redacted turn; how many sentences left it, and how many of those the operator's own
    documents (system and developer messages) held."""

    turn: Turn
    dropped: int = 0
    from_documents: int = 0


def redact_turn(turn: Turn, strings: Iterable[str]) -> Redaction:
    """``turn`` with the sentences mentioning ``strings`` taken out of its context.

    Prompt (completions) turns are left alone: there is no question to tell from the context.
    """
    matcher = ForbiddenStrings(strings)
    if not matcher or not turn.is_chat:
        return Redaction(turn)
    last_user = max((i for i, m in enumerate(turn.messages) if m.role == "user"), default=-1)
    messages, total, documents = [], 0, 0
    for i, message in enumerate(turn.messages):
        if i == last_user:
            content, dropped = _redact_but_question(message.content, matcher)
        else:
            content, dropped = redact_text(message.content, matcher)
        total += dropped
        documents += dropped if message.role in DOCUMENT_ROLES else 0
        if dropped and not content.strip():
            content = PLACEHOLDER
        messages.append(dataclasses.replace(message, content=content) if dropped else message)
    if not total:
        return Redaction(turn)
    return Redaction(dataclasses.replace(turn, messages=tuple(messages)), total, documents)
