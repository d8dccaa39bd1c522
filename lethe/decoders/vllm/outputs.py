"""vLLM's ``RequestOutput`` deltas as the engine's :class:`GenerationOutput` (no vLLM import:
the objects are read by attribute, so the tests feed look-alikes).

The engine asks vLLM for deltas (``RequestOutputKind.DELTA``): each ``RequestOutput`` holds, per
choice that moved, the new text, the new token ids, their log-probabilities (one
``{token_id: Logprob(logprob, rank, decoded_token)}`` per token, the chosen token and the
``top_logprobs`` best by rank) and, at its end, a ``finish_reason``. vLLM reports
``length``, ``stop``, or ``abort``; anything but ``length`` reads ``stop``. With the engine's
``processed_logprobs`` mode a token Lethe masked has a log-probability of -inf; it is never
listed among the alternatives, even when fewer than ``top_logprobs`` tokens are left.

Example:
    >>> from types import SimpleNamespace as O
    >>> deltas = Deltas(prompt_tokens=3, top_logprobs=None)
    >>> piece = O(index=0, text=" Hi", token_ids=[5], logprobs=None, finish_reason=None)
    >>> [out] = deltas.feed(O(outputs=[piece]))
    >>> out.text, out.usage, out.finished
    (' Hi', Usage(prompt_tokens=3, completion_tokens=1), False)
"""

from __future__ import annotations

from typing import Any

from lethe.decoders.output import (
    FinishReason,
    GenerationOutput,
    TokenLogprob,
    TopLogprob,
    Usage,
)


class Deltas:
    """Turns one request's stream of ``RequestOutput`` deltas into outputs, keeping the usage.

    ``prompt_tokens``: the prompt's length (the engine encoded it; vLLM need not repeat the
    prompt in every delta). ``top_logprobs``: None when the request asked for no
    log-probabilities, else how many alternatives each token reports (0: the chosen token).
    """

    def __init__(self, prompt_tokens: int, top_logprobs: int | None) -> None:
        self._top = top_logprobs
        self._prompt_tokens = prompt_tokens
        self._completion_tokens = 0

    def feed(self, request_output: Any) -> list[GenerationOutput]:
        """The outputs of one delta; choices that brought nothing new are left out."""
        pieces = list(request_output.outputs)
        self._completion_tokens += sum(len(p.token_ids) for p in pieces)
        usage = Usage(self._prompt_tokens, self._completion_tokens)
        outputs = []
        for piece in pieces:
            finish = _finish_reason(piece.finish_reason)
            if not piece.text and not piece.token_ids and finish is None:
                continue
            logprobs = self._logprobs(piece) if self._top is not None else ()
            outputs.append(GenerationOutput(piece.index, piece.text, usage, logprobs, finish))
        return outputs

    def _logprobs(self, piece: Any) -> tuple[TokenLogprob, ...]:
        entries = piece.logprobs or ()
        out = []
        for token_id, entry in zip(piece.token_ids, entries, strict=False):
            chosen = entry.get(token_id)
            ranked = sorted((e for e in entry.values() if self._is_top(e)), key=lambda e: e.rank)
            top = tuple(TopLogprob(*_entry(e)) for e in ranked)
            token, logprob, raw = _entry(chosen)
            out.append(TokenLogprob(token, logprob, raw, top))
        return tuple(out)

    def _is_top(self, entry: Any) -> bool:
        """Among the ``top_logprobs`` best, and not banned (a masked token has -inf)."""
        rank = entry.rank
        return rank is not None and rank <= (self._top or 0) and entry.logprob > float("-inf")


def _entry(entry: Any) -> tuple[str, float, tuple[int, ...]]:
    """``(token, logprob, bytes)`` of one ``Logprob`` (a missing entry: empty, -inf)."""
    if entry is None:
        return "", float("-inf"), ()
    text = getattr(entry, "decoded_token", None) or ""
    return text, float(entry.logprob), tuple(text.encode("utf-8"))


def _finish_reason(reason: str | None) -> FinishReason | None:
    if reason is None:
        return None
    return "length" if reason == "length" else "stop"
