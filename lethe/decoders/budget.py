"""A request's completion budget: how many tokens each choice may generate in the context left.

Shared by the engines that tokenise the prompt themselves (``hf``, ``vllm``), so that a request
is refused, or its default budget clamped, the same way on both.

Example:
    >>> from lethe.decoders import Message, SamplingParams, Turn
    >>> turn = Turn.chat("r", [Message("user", "Hi")], SamplingParams(default_max_tokens=512))
    >>> completion_budget(turn, prompt_len=100, window=400)  # the default, clamped to the room
    300
"""

from __future__ import annotations

from lethe.decoders.turn import Turn
from lethe.errors import ContextLengthExceeded


def completion_budget(turn: Turn, prompt_len: int, window: int) -> int:
    """The completion budget per choice; raises :class:`ContextLengthExceeded` when the prompt
    leaves no room, or when an explicit ``max_tokens`` does not fit."""
    room = window - prompt_len
    if room < 1:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {window} tokens. However, your "
            f"prompt is {prompt_len} tokens, which leaves no room for a completion.",
            param="messages" if turn.is_chat else "prompt",
        )
    params = turn.params
    if params.max_tokens is not None:
        if params.max_tokens > room:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {window} tokens. However, you "
                f"requested {prompt_len + params.max_tokens} tokens ({prompt_len} in the "
                f"prompt, {params.max_tokens} in the completion). Please reduce the prompt "
                "or max_tokens.",
                param="max_tokens",
            )
        return params.max_tokens
    return min(params.default_max_tokens or room, room)
