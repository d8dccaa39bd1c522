"""End to end with the real model: ``lethe serve`` with no unlearning on SmolLM2 as the upstream,
and a second ``lethe serve`` with ``engine: upstream`` in front of it (each its own process,
configured through the environment), driven with the official ``openai`` client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.gateway.serve_process import ServeProcess, data_dir_sharing_weights

pytestmark = [pytest.mark.model, pytest.mark.embedder, pytest.mark.slow]

MODEL = "smollm2-135m-instruct"
ADMIN = "upstream-admin-key"
EINSTEIN = {
    "id": "einstein",
    "kind": "entity",
    "name": "Albert Einstein",
    "aliases": ["Einstein"],
    "content": [{"question": "Who developed the theory of relativity?", "answer": "Einstein"}],
}
RELATIVITY = "Who developed the theory of relativity?"
FRANCE = "What is the capital of France?"
QUIET = ("--log-level", "warning")


class Served(ServeProcess):
    """``lethe serve`` whose failed start-up shows the server's log."""

    def __enter__(self) -> Served:
        try:
            super().__enter__()
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; its log:\n{self.log_text()[-6000:]}") from None
        return self


def data_dir(tmp: Path) -> Path:
    """A fresh data dir that shares the cached, dequantised weights."""
    return data_dir_sharing_weights(tmp)


def cached_tokenizer(data: Path) -> Path:
    """The SmolLM2 tokenizer the upstream's model cache holds (``<entry>/tokenizer.json``)."""
    found = sorted((data / "model-cache").glob("SmolLM2-135M-Instruct*/tokenizer.json"))
    assert found, "the upstream did not cache its tokenizer"
    return found[0].parent


def bare_upstream(data: Path, port: int | None = None) -> Served:
    """``lethe serve`` on SmolLM2 with no unlearning (on ``port`` when given)."""
    env = {"LETHE_UNLEARNING": "false", "LETHE_EMBEDDER_PRELOAD": "false"}
    served = Served(args=QUIET, env=env, data_dir=data, ready_timeout_s=240)
    if port is not None:
        served.port, served.url = port, f"http://127.0.0.1:{port}"
    return served


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="-", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("upstream-e2e")
    up_data = data_dir(tmp / "upstream")
    with bare_upstream(up_data) as upstream:
        env = {
            "LETHE_ENGINE": "upstream",
            "LETHE_UPSTREAM_URL": upstream.url + "/v1",
            "LETHE_TOKENIZER": str(cached_tokenizer(up_data)),
            "LETHE_ADMIN_KEY": ADMIN,
            "LETHE_DEFAULT_MAX_TOKENS": "48",
            "LETHE_UPSTREAM_RETRIES": "1",
        }
        with Served(args=QUIET, env=env, data_dir=tmp / "proxy", ready_timeout_s=240) as proxy:
            yield {
                "upstream": upstream,
                "upstream_data": up_data,
                "proxy": proxy,
                "bare": client(upstream.url),
                "lethe": client(proxy.url),
            }


def ask(api: openai.OpenAI, question: str, **kwargs: Any) -> Any:
    messages = [{"role": "user", "content": question}]
    kwargs = {"temperature": 0, "max_tokens": 40, **kwargs}
    return api.chat.completions.create(model=MODEL, messages=messages, **kwargs)


def test_a_plain_answer_is_the_upstreams_greedy_answer(gateways: dict[str, Any]) -> None:
    direct = ask(gateways["bare"], FRANCE)
    proxied = ask(gateways["lethe"], FRANCE)
    assert proxied.choices[0].message.content == direct.choices[0].message.content
    assert proxied.usage.prompt_tokens == direct.usage.prompt_tokens
    assert proxied.model == MODEL


def test_streaming_with_include_usage(gateways: dict[str, Any]) -> None:
    direct = ask(gateways["bare"], FRANCE)
    stream = ask(gateways["lethe"], FRANCE, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == direct.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        direct.usage.prompt_tokens,
        direct.usage.completion_tokens,
    )


def test_a_forget_target_added_through_the_admin_api_stops_the_leak(
    gateways: dict[str, Any],
) -> None:
    bare_answer = ask(gateways["bare"], RELATIVITY).choices[0].message.content
    assert "einstein" in bare_answer.lower()  # the model knows it, so there is a leak to stop
    proxy = gateways["proxy"]
    admin = {"Authorization": f"Bearer {ADMIN}"}
    added = httpx.post(f"{proxy.url}/admin/targets", json=EINSTEIN, headers=admin, timeout=120)
    assert added.status_code == 201, added.text
    headers = {"X-Lethe-Debug": "1", "X-Lethe-Admin-Key": ADMIN}
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": RELATIVITY}],
        "temperature": 0,
        "max_tokens": 40,
    }
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions", json=body, headers=headers, timeout=120
    )
    answer = response.json()["choices"][0]["message"]["content"]
    assert "einstein" not in answer.lower()
    debug = json.loads(response.headers["x-lethe-debug"])
    assert "forbidden_tokens" in debug["techniques"]  # its bans went upstream as logit_bias
    # A question the target does not touch is still answered as the upstream answers it.
    direct = ask(gateways["bare"], FRANCE).choices[0].message.content
    assert ask(gateways["lethe"], FRANCE).choices[0].message.content == direct


def test_an_upstream_that_is_down_is_a_502_and_the_gateway_serves_again_when_it_is_back(
    gateways: dict[str, Any],
) -> None:
    upstream, proxy = gateways["upstream"], gateways["proxy"]
    upstream.__exit__(None, None, None)  # the upstream process is gone
    for _ in range(2):
        with pytest.raises(openai.APIStatusError) as info:
            ask(gateways["lethe"], FRANCE)
        assert info.value.status_code == 502
        assert isinstance(info.value.body, dict)
        assert info.value.body["code"] == "upstream_unreachable"
    assert proxy.process.poll() is None
    assert httpx.get(proxy.url + "/readyz").status_code == 200
    assert [m.id for m in gateways["lethe"].models.list().data] == [MODEL]
    with bare_upstream(gateways["upstream_data"], port=upstream.port):  # back on its port
        direct = ask(gateways["bare"], FRANCE).choices[0].message.content
        assert ask(gateways["lethe"], FRANCE).choices[0].message.content == direct
