"""Talking to any OpenAI-compatible endpoint the way a customer does: the official ``openai``
client, streamed, with timings.

:meth:`EndpointClient.chat` streams one chat completion (``stream_options.include_usage``) and
returns a :class:`Completion`: the text of each choice, time to first content token (TTFT), total
time and the usage the server reported. A request the server rejects (400, 404, 500, 504...) is a
:class:`Completion` with ``error`` set, scored as a failed probe; an endpoint that cannot be reached
at all raises :class:`EndpointUnreachable`, which stops the run. ``n`` above ``max_n`` is split
over several requests (seeds ``seed``, ``seed + 1``, ...), since servers cap ``n``; a server
that refuses ``n`` (a 400 naming ``n``) makes the client halve ``max_n`` and try again, and one
that refuses ``stream_options`` is asked again without it (no usage: tokens/s is not measured).

Example:
    >>> client = EndpointClient("http://127.0.0.1:8000/v1")                # doctest: +SKIP
    >>> c = await client.chat([{"role": "user", "content": "Hi"}], max_tokens=8)  # doctest: +SKIP
    >>> c.texts, c.ttft_s, c.completion_tokens                              # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import openai

from lethe.gateway.logs import kv

logger = logging.getLogger(__name__)


class EndpointUnreachable(Exception):
    """The endpoint does not answer at all (connection refused, DNS, TLS): the run cannot go on."""


class _Retry(Exception):
    """The server refused an optional feature (``n``, ``stream_options``); the client adapted
    and the request should be sent again."""


@dataclass(frozen=True, slots=True)
class Completion:
    """One request's outcome: the choices' texts, timings (seconds), usage, or an error."""

    texts: tuple[str, ...]
    ttft_s: float | None
    total_s: float
    prompt_tokens: int | None
    completion_tokens: int | None
    error: str | None = None


class EndpointClient:
    """An OpenAI-compatible endpoint (``base_url`` ends in ``/v1``) and the model to ask."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str | None = None,
        timeout_s: float = 600.0,
        max_n: int = 8,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.max_n = max_n
        self.usage = True  # ask for stream_options.include_usage until the server refuses it
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url, api_key=api_key or "unused", timeout=timeout_s, max_retries=3
        )

    async def resolve_model(self) -> str:
        """The model to ask: the one given, else the first of ``/v1/models``."""
        if self.model is None:
            try:
                page = await self._client.models.list()
            except openai.APIConnectionError as exc:
                raise EndpointUnreachable(f"cannot reach {self.base_url}: {exc}") from None
            except openai.APIStatusError as exc:
                raise EndpointUnreachable(
                    f"{self.base_url}/models answered {exc.status_code}: {exc.message}"
                ) from None
            if not page.data:
                raise EndpointUnreachable(f"{self.base_url}/models lists no model")
            self.model = page.data[0].id
        return self.model

    async def chat(
        self,
        messages: Sequence[dict[str, str]],
        *,
        temperature: float = 0.0,
        max_tokens: int = 48,
        n: int = 1,
        seed: int | None = None,
    ) -> Completion:
        """``n`` streamed choices for ``messages``; split into requests of at most ``max_n``."""
        parts: list[Completion] = []
        done = 0
        while done < n:
            count = min(self.max_n, n - done)
            part_seed = None if seed is None else seed + len(parts)
            try:
                part = await self._stream(messages, temperature, max_tokens, count, part_seed)
            except _Retry:
                continue
            if part.error is not None:
                return part
            parts.append(part)
            done += count
        if len(parts) == 1:
            return parts[0]
        return Completion(
            texts=tuple(t for p in parts for t in p.texts),
            ttft_s=parts[0].ttft_s,
            total_s=sum(p.total_s for p in parts),
            prompt_tokens=parts[0].prompt_tokens,
            completion_tokens=_sum_or_none(p.completion_tokens for p in parts),
        )

    async def _stream(
        self,
        messages: Sequence[dict[str, str]],
        temperature: float,
        max_tokens: int,
        n: int,
        seed: int | None,
    ) -> Completion:
        model = await self.resolve_model()
        extra: dict[str, Any] = {} if seed is None else {"seed": seed}
        if self.usage:
            extra["stream_options"] = {"include_usage": True}
        texts = [""] * n
        usage = None
        started = time.perf_counter()
        first: float | None = None
        try:
            stream = await self._client.chat.completions.create(
                model=model,
                messages=list(messages),  # type: ignore[arg-type]
                temperature=temperature,
                max_tokens=max_tokens,
                n=n,
                stream=True,
                **extra,
            )
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    piece = choice.delta.content if choice.delta else None
                    if piece:
                        first = first if first is not None else time.perf_counter()
                        if choice.index < n:
                            texts[choice.index] += piece
        except openai.APITimeoutError:
            return Completion((), None, time.perf_counter() - started, None, None, "timeout")
        except openai.APIConnectionError as exc:
            raise EndpointUnreachable(f"cannot reach {self.base_url}: {exc}") from None
        except openai.APIError as exc:
            status = getattr(exc, "status_code", None)
            self._adapt(exc, status, n)
            logger.warning(kv("replay_request_failed", status=status, error=str(exc)[:200]))
            label = f"HTTP {status}: " if status else ""
            return Completion((), None, time.perf_counter() - started, None, None, label + str(exc))
        total = time.perf_counter() - started
        return Completion(
            texts=tuple(texts),
            ttft_s=None if first is None else first - started,
            total_s=total,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
        )

    def _adapt(self, exc: openai.APIError, status: int | None, n: int) -> None:
        """Raise :class:`_Retry` after turning off what the server refused, if optional."""
        if status != 400:
            return
        param = getattr(exc, "param", None) or ""
        if param == "n" and n > 1:
            self.max_n = max(1, n // 2)
            logger.info(kv("replay_lower_n", max_n=self.max_n, url=self.base_url))
            raise _Retry from None
        if self.usage and ("stream_options" in param or "stream_options" in str(exc)):
            self.usage = False
            logger.info(kv("replay_without_usage", url=self.base_url))
            raise _Retry from None

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()


def _sum_or_none(values: Any) -> int | None:
    items = list(values)
    return None if any(v is None for v in items) else sum(items)
