"""The rule that derives a target's ``forbidden`` strings from its ``content`` when none are given.

Forbidden strings are matched lexically in every output, so a wrong one over-blocks unrelated
answers; the rule is deliberately conservative. It takes:

1. **Short Q/A answers**: the answer with trailing sentence punctuation removed, when it has at most
   6 words and 64 characters, at least 3 folded letters/digits, is not a generic answer (``yes``,
   ``no``, ``unknown``, ...), and is not a bare number of fewer than 5 digits (``42``, ``1879``
   would redact every year or count in every output).
2. **PII-shaped values in any passage or answer**: e-mail addresses, phone numbers (7+ digits with
   the usual separators) and long identifiers (6+ consecutive digits).

Passages are never turned into forbidden phrases as a whole; give ``forbidden`` explicitly for key
phrases. Duplicates (after folding) are dropped; at most ``limit`` strings are returned.

Example:
    >>> derive_forbidden([{"question": "Where was Ada born?", "answer": "Ulm."},
    ...                   "Call her on +44 20 7946 0958 or ada@example.org.",
    ...                   {"question": "Is she alive?", "answer": "No"}])
    ['Ulm', 'ada@example.org', '+44 20 7946 0958']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from lethe.indices.normalize import fold_key

MAX_ANSWER_WORDS: Final = 6
MAX_ANSWER_CHARS: Final = 64
MIN_KEY_LETTERS: Final = 3
MIN_BARE_NUMBER_DIGITS: Final = 5

_GENERIC_ANSWERS: Final = frozenset(
    {"yes", "no", "true", "false", "none", "unknown", "maybe", "na", "nothing", "idk", "notsure"}
)
_EMAIL: Final = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE: Final = re.compile(r"(?<!\w)\+?\(?\d[\d\s().-]{5,}\d(?!\w)")
_LONG_NUMBER: Final = re.compile(r"(?<!\d)\d{6,}(?!\d)")


def _sample_parts(sample: Any) -> tuple[str | None, str | None]:
    """``(passage, answer)`` of one raw or validated content sample; tolerant of bad input."""
    if isinstance(sample, str):
        return sample, None
    if isinstance(sample, dict):
        answer = sample.get("answer")
        return None, answer if isinstance(answer, str) else None
    answer = getattr(sample, "answer", None)
    return None, answer if isinstance(answer, str) else None


def short_answer(answer: str) -> str | None:
    """The answer as a forbidden string if it passes rule 1, else ``None``.

    >>> short_answer("Ulm, Germany."), short_answer("Yes."), short_answer("1879")
    ('Ulm, Germany', None, None)
    """
    text = answer.strip().rstrip(".!?;:").strip()
    if not text or len(text) > MAX_ANSWER_CHARS or len(text.split()) > MAX_ANSWER_WORDS:
        return None
    key = fold_key(text)
    if len(key) < MIN_KEY_LETTERS or key in _GENERIC_ANSWERS:
        return None
    if key.isdigit() and len(key) < MIN_BARE_NUMBER_DIGITS:
        return None
    return text


def pii_values(text: str) -> list[str]:
    """E-mail addresses, phone numbers and long identifiers in ``text`` (rule 2).

    >>> pii_values("mail bob@corp.io, tel (555) 010-4477, id 88120934")
    ['bob@corp.io', '(555) 010-4477', '88120934']
    """
    spans: list[tuple[int, int]] = []
    found: list[str] = []
    for pattern in (_EMAIL, _PHONE, _LONG_NUMBER):
        for m in pattern.finditer(text):
            start, end = m.span()
            value = m.group().strip()
            if pattern is _PHONE and sum(c.isdigit() for c in value) < 7:
                continue
            if any(start < e and s < end for s, e in spans):
                continue
            spans.append((start, end))
            found.append(value)
    return found


def derive_forbidden(content: Iterable[Any], *, limit: int = 1000) -> list[str]:
    """Forbidden strings for ``content`` (raw dicts/strings or validated samples), by the rule."""
    out: list[str] = []
    seen: set[str] = set()

    def keep(value: str) -> None:
        key = fold_key(value)
        if key and key not in seen and len(out) < limit:
            seen.add(key)
            out.append(value)

    for sample in content:
        passage, answer = _sample_parts(sample)
        if answer is not None and (short := short_answer(answer)) is not None:
            keep(short)
        for text in (passage, answer):
            if text:
                for value in pii_values(text):
                    keep(value)
    return out
