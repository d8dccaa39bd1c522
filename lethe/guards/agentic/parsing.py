"""Reading a judge's structured answers: JSON first, then a narrow fallback, else ``None``.

Small models wrap their JSON in prose or code fences, forget a quote, or answer in words. Each
parser takes the first JSON object it can decode anywhere in the text; failing that, it looks
for the one thing it needs (a subject label, a word meaning "none", a rating digit). ``None``
means the answer could not be read: the stage then treats the judge as failed and refuses,
never letting the unchecked draft through.

Example:
    >>> parse_audit('Sure! ```json\\n{"leaked": ["t2"]}\\n```', ["T1", "T2"], {})
    frozenset({'T2'})
    >>> parse_audit("None of them.", ["T1"], {}), parse_audit("Hmm.", ["T1"], {})
    (frozenset(), None)
    >>> parse_rating('{"rating": "4"}'), parse_rating("I'd say 5/5"), parse_rating("ok")
    (4, 5, None)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

_DECODER = json.JSONDecoder()
_NONE_WORDS = re.compile(
    r"\b(none|nothing|no leaks?|no subjects?|no)\b|\[\s*\]"
    r"|\b(does|do|did|is|are)\s*(not|n't)\s+(reveal|leak|disclose|mention|contain)",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"(?<![\d.])([1-5])(?![\d.])")
REFUSE_WORD = "REFUSE"


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object that decodes anywhere in ``text``, or ``None``."""
    start = text.find("{")
    while start != -1:
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def parse_audit(
    text: str, labels: Sequence[str], names: Mapping[str, str]
) -> frozenset[str] | None:
    """The labels of the subjects the auditor says leaked (empty: none), or ``None``.

    ``names`` maps a subject's name (case-insensitive) to its label, for a judge that answers
    with the name instead of the label.
    """
    known = {label.upper(): label for label in labels}
    obj = first_json_object(text)
    if obj is not None and isinstance(obj.get("leaked"), list):
        return frozenset(_labels_in(" ".join(map(str, obj["leaked"])), known, names))
    found = _labels_in(text, known, names)
    if found:
        return frozenset(found)
    if _NONE_WORDS.search(text):
        return frozenset()
    return None


def _labels_in(text: str, known: Mapping[str, str], names: Mapping[str, str]) -> set[str]:
    mentioned = (m.upper() for m in re.findall(r"\bT\d+\b", text, re.IGNORECASE))
    found = {known[m] for m in mentioned if m in known}
    folded = text.casefold()
    found |= {label for name, label in names.items() if name.casefold() in folded}
    return found


def parse_rating(text: str) -> int | None:
    """The critic's 1-5 rating, or ``None``."""
    obj = first_json_object(text)
    if obj is not None and "rating" in obj:
        try:
            value = int(float(obj["rating"]))
        except (TypeError, ValueError):
            value = 0
        if 1 <= value <= 5:
            return value
    match = _DIGIT.search(text)
    return int(match.group(1)) if match else None


def clean_rewrite(text: str) -> str | None:
    """A rewrite's answer text, or ``None`` for an empty one or the ``REFUSE`` marker."""
    stripped = text.strip().strip("`").strip()
    for prefix in ("answer:", "new answer:", "rewritten answer:"):
        if stripped.casefold().startswith(prefix):
            stripped = stripped[len(prefix) :].strip()
    if stripped.startswith('"') and stripped.endswith('"') and len(stripped) > 1:
        stripped = stripped[1:-1].strip()
    if not stripped or stripped.upper().rstrip(".!") == REFUSE_WORD:
        return None
    return stripped
