"""The upstream's SSE stream as :class:`GenerationOutput` deltas.

:func:`sse_data` yields the ``data:`` payload of each server-sent event (comments, ``event:``
and ``id:`` lines skipped, multi-line data joined), the closing ``[DONE]`` included.
:class:`ChunkDecoder` turns each JSON chunk into outputs, one per choice that got text,
log-probabilities or a finish reason (role-only chunks yield nothing).

Usage: every output carries the running usage (completion tokens counted from the chunks: the
log-probability entries when there are, else one token per text chunk; prompt tokens unknown
until the upstream says). The upstream sends the real usage in a last chunk, *after* every
choice finished, so the last finishing output is held back until the stream ends
(:meth:`ChunkDecoder.close`, after ``[DONE]``) and then carries the final counts, as the
:class:`Engine` contract wants. Holding it until ``[DONE]`` also means that a consumer that
stops reading at the last finish (the output filter does) has let the engine read the answer
to its end, so that its connection goes back to the pool.

Example:
    >>> d = ChunkDecoder(n=1, chat=True)
    >>> d.feed({"choices": [{"index": 0, "delta": {"content": "Hi"}}]})[0].text
    'Hi'
    >>> d.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    []
    >>> d.feed({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 1}})
    []
    >>> out = d.close()
    >>> out[0].finish_reason, out[0].usage.prompt_tokens
    ('stop', 5)
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx

from lethe.decoders.output import FinishReason, GenerationOutput, TokenLogprob, TopLogprob, Usage

DONE = "[DONE]"
LOGPROB_FLOOR = -9999.0


async def sse_data(response: httpx.Response) -> AsyncIterator[str]:
    """The data of each event of ``response``'s SSE body (``[DONE]`` included, as it is)."""
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line == "" and data:
            payload, data = "\n".join(data), []
            yield payload
    if data:
        yield "\n".join(data)


def finish_reason(value: Any) -> FinishReason | None:
    """``length`` stays ``length``; any other reason the upstream gives ends as ``stop``."""
    if value is None:
        return None
    return "length" if value == "length" else "stop"


def _bytes(entry: dict[str, Any], token: str) -> tuple[int, ...]:
    raw = entry.get("bytes")
    return tuple(raw) if isinstance(raw, list) else tuple(token.encode("utf-8"))


def _logprob(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else LOGPROB_FLOOR


def chat_logprobs(data: Any) -> tuple[TokenLogprob, ...]:
    """Chat ``logprobs.content`` entries as :class:`TokenLogprob`."""
    entries = data.get("content") if isinstance(data, dict) else None
    out = []
    for e in entries or ():
        token = str(e.get("token", ""))
        top = tuple(
            TopLogprob(str(t.get("token", "")), _logprob(t.get("logprob")), _bytes(t, t["token"]))
            for t in e.get("top_logprobs") or ()
            if "token" in t
        )
        out.append(TokenLogprob(token, _logprob(e.get("logprob")), _bytes(e, token), top))
    return tuple(out)


def completion_logprobs(data: Any) -> tuple[TokenLogprob, ...]:
    """Legacy ``logprobs`` (parallel ``tokens`` / ``token_logprobs`` / ``top_logprobs``)."""
    if not isinstance(data, dict):
        return ()
    tokens = data.get("tokens") or []
    values = data.get("token_logprobs") or []
    tops = data.get("top_logprobs") or []
    out = []
    for i, token in enumerate(tokens):
        alternatives = tops[i] if i < len(tops) and isinstance(tops[i], dict) else {}
        ranked = sorted(alternatives.items(), key=lambda kv: -_logprob(kv[1]))
        top = tuple(TopLogprob(t, _logprob(v), tuple(t.encode("utf-8"))) for t, v in ranked)
        value = values[i] if i < len(values) else None
        out.append(TokenLogprob(token, _logprob(value), tuple(token.encode("utf-8")), top))
    return tuple(out)


class ChunkDecoder:
    """Per-request state turning upstream chunks into outputs (see the module docstring)."""

    def __init__(self, n: int, chat: bool) -> None:
        self.n = n
        self.chat = chat
        self.completion_tokens = 0
        self.final: Usage | None = None
        self.finished: set[int] = set()
        self._held: GenerationOutput | None = None

    def running_usage(self) -> Usage:
        """The final usage once known, else the estimate so far."""
        return self.final or Usage(0, self.completion_tokens)

    def feed(self, chunk: dict[str, Any]) -> list[GenerationOutput]:
        """The outputs of one chunk (an ``error`` chunk is the caller's to raise)."""
        usage = chunk.get("usage")
        if isinstance(usage, dict) and "completion_tokens" in usage:
            self.final = Usage(
                int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            )
        outputs = []
        for choice in chunk.get("choices") or ():
            output = self._output(choice)
            if output is not None:
                outputs.append(output)
        return outputs

    def _output(self, choice: dict[str, Any]) -> GenerationOutput | None:
        index = int(choice.get("index") or 0)
        if index in self.finished or not 0 <= index < self.n:
            return None
        if self.chat:
            text = (choice.get("delta") or {}).get("content") or ""
            logprobs = chat_logprobs(choice.get("logprobs"))
        else:
            text = choice.get("text") or ""
            logprobs = completion_logprobs(choice.get("logprobs"))
        reason = finish_reason(choice.get("finish_reason"))
        if text or logprobs:
            self.completion_tokens += len(logprobs) or 1
        if not text and not logprobs and reason is None:
            return None
        output = GenerationOutput(index, text, self.running_usage(), logprobs, reason)
        if reason is None:
            return output
        self.finished.add(index)
        if len(self.finished) == self.n:
            self._held = output  # the last one waits for the usage chunk and [DONE]
            return None
        return output

    def close(self) -> list[GenerationOutput]:
        """What is left when the stream ended after ``[DONE]``: a ``stop`` for any choice the
        upstream never finished, and the held last output, with the final usage."""
        usage = self.running_usage()
        outputs = [
            GenerationOutput(i, "", usage, (), "stop")
            for i in range(self.n)
            if i not in self.finished
        ]
        if self._held is not None:
            outputs.append(dataclasses.replace(self._held, usage=usage))
            self._held = None
        self.finished.update(range(self.n))
        return outputs

    @property
    def all_finished(self) -> bool:
        """True once the upstream finished every choice."""
        return len(self.finished) == self.n
