"""The replay's metrics as pure functions of numbers and strings (defined in docs/metrics.md).

- :func:`leak_at_k`: the unbiased estimator of "at least one of k samples leaks" from ``c``
  leaking samples out of ``n``: ``1 − C(n−c, k) / C(n, k)`` (as pass@k in Chen et al., 2021).
- :func:`rouge_l_recall`: longest common subsequence of words / words of the reference.
- :func:`rate`, :func:`mean`, :func:`percentile`, :func:`ratio`: aggregation that returns
  ``None`` for an empty input instead of a made-up 0.

Example:
    >>> leak_at_k(4, 1, 1), leak_at_k(4, 1, 4), leak_at_k(4, 0, 4)
    (0.25, 1.0, 0.0)
    >>> rouge_l_recall("Harry Potter author", "the author of Harry Potter")
    0.6666666666666666
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Final

_WORD: Final = re.compile(r"\w+")


def leak_at_k(n: int, c: int, k: int) -> float:
    """Probability that ``k`` of the ``n`` samples, drawn without replacement, include a leak.

    ``c`` of the ``n`` samples leaked. ``k`` must be in ``1..n``.

    >>> round(leak_at_k(16, 2, 4), 4)
    0.45
    """
    if not 1 <= k <= n or not 0 <= c <= n:
        raise ValueError(f"need 1 <= k <= n and 0 <= c <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore), as ROUGE tokenises."""
    return _WORD.findall(text.lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences (O(len(a)·len(b)))."""
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l_recall(reference: str, hypothesis: str) -> float:
    """ROUGE-L recall: LCS(reference, hypothesis) / len(reference), on words; 0 for no words."""
    ref = words(reference)
    if not ref:
        return 0.0
    return lcs_length(ref, words(hypothesis)) / len(ref)


def best_rouge_l_recall(references: Iterable[str], hypothesis: str) -> float | None:
    """The best :func:`rouge_l_recall` over the accepted answers (``None`` when there are none)."""
    scores = [rouge_l_recall(r, hypothesis) for r in references]
    return max(scores) if scores else None


def rate(flags: Iterable[bool]) -> float | None:
    """The share of true flags; ``None`` when there are none."""
    values = list(flags)
    return sum(values) / len(values) if values else None


def mean(values: Iterable[float]) -> float | None:
    """The arithmetic mean; ``None`` when there are no values."""
    items = list(values)
    return sum(items) / len(items) if items else None


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) with linear interpolation, as numpy's default.

    >>> percentile([1, 2, 3, 4], 50), percentile([10], 95), percentile([], 50) is None
    (2.5, 10.0, True)
    """
    items = sorted(values)
    if not items:
        return None
    position = (len(items) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(items) - 1)
    return float(items[low] + (items[high] - items[low]) * (position - low))


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``; ``None`` when either is missing or the baseline is 0."""
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline
