"""Stop strings: end a choice at the first stop string, never emitting it.

A stop string can arrive split across tokens ("\\n" then "\\n"), so text that could be the start
of a stop string is held back until it is either completed (the choice stops there) or ruled
out (it is released). Only a bounded window of recent text is searched, never the whole output.

Example:
    >>> s = StopStrings(["###"])
    >>> s.feed("Hello #"), s.feed("#"), s.feed("# tail")
    (('Hello ', False), ('', False), ('', True))
"""

from __future__ import annotations

from collections.abc import Sequence


class StopStrings:
    """Per-choice stop-string state: feed text deltas, get back what is safe to emit."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._longest = max((len(s) for s in self._stops), default=0)
        self._pending = ""

    @property
    def pending(self) -> str:
        """Text held back because it may begin a stop string."""
        return self._pending

    def feed(self, delta: str) -> tuple[str, bool]:
        """Add ``delta``; return ``(text safe to emit, stopped)``.

        When ``stopped`` is True the returned text ends right before the stop string and the
        choice is over; anything after the stop string is dropped.
        """
        if not self._stops:
            return delta, False
        text = self._pending + delta
        cut = self._first_stop(text)
        if cut is not None:
            self._pending = ""
            return text[:cut], True
        keep = self._partial_suffix(text)
        self._pending = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False

    def flush(self) -> str:
        """The held-back text, when the choice ends for another reason."""
        text, self._pending = self._pending, ""
        return text

    def _first_stop(self, text: str) -> int | None:
        hits = [i for i in (text.find(s) for s in self._stops) if i >= 0]
        return min(hits) if hits else None

    def _partial_suffix(self, text: str) -> int:
        """Length of the longest suffix of ``text`` that is a proper prefix of a stop string."""
        for size in range(min(self._longest - 1, len(text)), 0, -1):
            tail = text[-size:]
            if any(s.startswith(tail) for s in self._stops):
                return size
        return 0
