"""A Lethe gateway on the ``upstream`` engine, in front of a second, bare Lethe gateway (on the
scripted FakeEngine), both over real HTTP: the official client's view, forget targets whose
bans reach the upstream as ``logit_bias``, the output filter on the upstream's stream, and the
502 of an upstream that is down. (The same with the real model, each gateway in its own
process: test_upstream_smollm2.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from lethe.decoders.token_bans import TokenizerVocabulary, ban_candidates
from lethe.decoders.upstream.config import UpstreamEngineConfig
from lethe.decoders.upstream.engine import UpstreamEngine
from lethe.gateway.app import create_app
from lethe.indices import StoreConfig, TargetStore
from tests.decoders.upstream.servers import MODEL, lethe_upstream
from tests.gateway.conftest import make_settings
from tests.gateway.fakes import FakeEngine, Reply
from tests.gateway.live import LiveServer
from tests.gateway.serve_process import free_port
from tests.indices.fakes import HashingEmbedder
from tests.tiny_model import tiny_tokenizer

ADMIN = "admin-key"
PARIS = {"id": "paris", "kind": "entity", "name": "Paris"}


@pytest.fixture(scope="module")
def fake() -> FakeEngine:
    return FakeEngine(model_id=MODEL)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokenizer")
    tiny_tokenizer().save_pretrained(path)
    return path


def proxy_app(url: str, tokenizer: Path | None, store: TargetStore) -> Any:
    engine = UpstreamEngine(UpstreamEngineConfig(url, model=MODEL, tokenizer=tokenizer))
    return create_app(make_settings(admin_key=ADMIN), engine=engine, store=store)


@pytest.fixture(scope="module")
def proxy(
    fake: FakeEngine, tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    store = TargetStore.open(
        tmp_path_factory.mktemp("store"), HashingEmbedder(), config=StoreConfig()
    )
    with (
        lethe_upstream(fake) as upstream,
        LiveServer(proxy_app(upstream.url + "/v1", tokenizer_dir, store)) as live,
        httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {ADMIN}"}) as admin,
    ):
        client = openai.OpenAI(base_url=live.url + "/v1", api_key="-", max_retries=0, timeout=30)
        yield {"client": client, "admin": admin, "url": live.url}
    store.close()


@pytest.fixture(autouse=True)
def _fresh(fake: FakeEngine) -> None:
    fake.reset()


def ask(client: openai.OpenAI, text: str, **kwargs: Any) -> str:
    messages = [{"role": "user", "content": text}]
    response = client.chat.completions.create(model=MODEL, messages=messages, **kwargs)
    return response.choices[0].message.content or ""


def test_the_official_client_streams_through_both_gateways(proxy: dict[str, Any]) -> None:
    stream = proxy["client"].chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Say hello to me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello world"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (4, 2)


def test_a_forget_target_bans_its_tokens_upstream_and_keeps_the_callers_bias(
    proxy: dict[str, Any], fake: FakeEngine, tokenizer_dir: Path
) -> None:
    assert proxy["admin"].post("/admin/targets", json=PARIS).status_code == 201
    bans = ban_candidates(["Paris"], TokenizerVocabulary(tiny_tokenizer()))
    assert bans
    user_bias = {"7": 5.0, str(bans[0]): 50.0}
    try:
        ask(proxy["client"], "Tell me about Paris", logit_bias=user_bias, max_tokens=8)
        sent = dict(fake.turns[-1].params.logit_bias)
        assert all(sent[token] == -100.0 for token in bans)  # a ban wins over the caller's +50
        assert sent[7] == 5.0
        fake.reset()
        ask(proxy["client"], "Say hello to me", logit_bias={"7": 5.0}, max_tokens=8)
        assert dict(fake.turns[-1].params.logit_bias) == {7: 5.0}  # out of scope: untouched
    finally:
        proxy["admin"].delete("/admin/targets/paris")


def test_the_output_filter_runs_on_the_upstreams_stream(
    proxy: dict[str, Any], fake: FakeEngine
) -> None:
    assert proxy["admin"].post("/admin/targets", json=PARIS).status_code == 201
    try:
        fake.enqueue(Reply(choices=(("The capital", " of France is Paris", "."),)))
        answer = ask(proxy["client"], "What is the capital of France?")
        assert "Paris" not in answer and answer.startswith("The capital")  # cut at the mention
    finally:
        proxy["admin"].delete("/admin/targets/paris")


def test_an_upstream_that_is_down_is_a_502_and_the_gateway_keeps_serving(
    tmp_path: Path, tokenizer_dir: Path
) -> None:
    store = TargetStore.open(tmp_path, HashingEmbedder(), config=StoreConfig())
    down = f"http://127.0.0.1:{free_port()}/v1"
    try:
        with LiveServer(proxy_app(down, tokenizer_dir, store)) as live:
            client = openai.OpenAI(base_url=live.url + "/v1", api_key="-", max_retries=0)
            for stream in (False, True):
                with pytest.raises(openai.APIStatusError) as info:
                    messages = [{"role": "user", "content": "hi"}]
                    answer = client.chat.completions.create(
                        model=MODEL, messages=messages, stream=stream
                    )
                    if stream:
                        list(answer)  # type: ignore[call-overload]
                assert info.value.status_code == 502  # before the first byte, even streamed
                error = info.value.body
                assert isinstance(error, dict)
                assert (error["type"], error["code"]) == ("upstream_error", "upstream_unreachable")
            assert httpx.get(live.url + "/readyz").status_code == 200
            assert client.models.list().data[0].id == MODEL
    finally:
        store.close()
