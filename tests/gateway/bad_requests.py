"""Bad requests and the ``openai`` exception each must raise, shared by the fake-engine and the
real-model gateway tests. The context-window cases assume a 256-token window."""

from __future__ import annotations

from typing import Any

import openai

LONG_PROMPT = "word " * 300
BAD_CHAT: list[tuple[str, dict[str, Any], type[openai.APIStatusError], str | None]] = [
    ("empty messages", {"messages": []}, openai.BadRequestError, "messages"),
    (
        "unknown role",
        {"messages": [{"role": "wizard", "content": "x"}]},
        openai.BadRequestError,
        "messages[0].role",
    ),
    (
        "tool role",
        {"messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}]},
        openai.BadRequestError,
        "messages[0].role",
    ),
    (
        "image part",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": "http://x/y.png"}},
                    ],
                }
            ]
        },
        openai.BadRequestError,
        "messages[0].content[1].type",
    ),
    ("temperature below 0", {"temperature": -0.1}, openai.BadRequestError, "temperature"),
    ("temperature above 2", {"temperature": 2.5}, openai.BadRequestError, "temperature"),
    ("top_p zero", {"top_p": 0}, openai.BadRequestError, "top_p"),
    ("top_p above 1", {"top_p": 1.5}, openai.BadRequestError, "top_p"),
    ("n zero", {"n": 0}, openai.BadRequestError, "n"),
    ("n above cap", {"n": 9}, openai.BadRequestError, "n"),
    ("max_tokens zero", {"max_tokens": 0}, openai.BadRequestError, "max_tokens"),
    ("max_tokens beyond context", {"max_tokens": 100_000}, openai.BadRequestError, "max_tokens"),
    (
        "prompt beyond context",
        {"messages": [{"role": "user", "content": LONG_PROMPT}]},
        openai.BadRequestError,
        "messages",
    ),
    ("five stop sequences", {"stop": ["a", "b", "c", "d", "e"]}, openai.BadRequestError, "stop"),
    (
        "top_logprobs above 20",
        {"logprobs": True, "top_logprobs": 21},
        openai.BadRequestError,
        "top_logprobs",
    ),
    ("logit_bias out of range", {"logit_bias": {"5": 200}}, openai.BadRequestError, "logit_bias"),
    (
        "tools",
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        openai.BadRequestError,
        "tools",
    ),
    (
        "response_format",
        {"response_format": {"type": "json_object"}},
        openai.BadRequestError,
        "response_format",
    ),
    ("wrong type", {"temperature": "hot"}, openai.BadRequestError, "temperature"),
    ("unknown model", {"model": "gpt-4o"}, openai.NotFoundError, "model"),
]


BAD_LEGACY: list[tuple[str, dict[str, Any], type[openai.APIStatusError], str | None]] = [
    ("empty prompt list", {"prompt": []}, openai.BadRequestError, "prompt"),
    ("suffix", {"suffix": "end"}, openai.BadRequestError, "suffix"),
    ("best_of", {"best_of": 3}, openai.BadRequestError, "best_of"),
    ("logprobs above 5", {"logprobs": 6}, openai.BadRequestError, "logprobs"),
    ("echo token ids", {"prompt": [1, 2], "echo": True}, openai.BadRequestError, "echo"),
    ("prompt beyond context", {"prompt": LONG_PROMPT}, openai.BadRequestError, "prompt"),
    (
        "max_tokens beyond room",
        {"prompt": "word " * 250, "max_tokens": 10},
        openai.BadRequestError,
        "max_tokens",
    ),
    ("unknown model", {"model": "davinci-002"}, openai.NotFoundError, "model"),
]
