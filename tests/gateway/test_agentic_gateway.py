"""The agentic stage through the live gateway: the official ``openai`` client streams an answer
the stage held back (SSE keep-alive comments meanwhile) and rewrote, with the judge a second
OpenAI-compatible server reached over HTTP (``judge_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from lethe.gateway.app import create_app
from lethe.indices import StoreConfig, TargetStore
from tests.gateway.conftest import make_settings
from tests.gateway.fakes import FakeEngine, Reply
from tests.gateway.live import LiveServer
from tests.guards.conftest import EINSTEIN
from tests.indices.fakes import HashingEmbedder

QUESTION = [{"role": "user", "content": "Who developed relativity? Was it Einstein?"}]
DRAFT = Reply(choices=(("A man born", " in Ulm did."),))
COMPOSED = "A physicist did, in 1905."
POLICY = """
defaults_by_kind:
  entity: [in_context, output_filter, agentic]
"""


def judge_script(delay: float) -> list[Reply]:
    """Audit (leak), three rewrites, three ratings, the composer; each output ``delay`` late."""
    return [
        Reply(choices=(('{"leaked": ["T1"]}',),), delay_s=delay),
        Reply(choices=(("A physicist did.",), ("In 1905.",), ("REFUSE",)), delay_s=delay),
        Reply(choices=(('{"rating": 5}',),), delay_s=delay),
        Reply(choices=(('{"rating": 4}',),), delay_s=delay),
        Reply(choices=((COMPOSED,),), delay_s=delay),
    ]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[dict[str, Any]]:
    judge_engine = FakeEngine(model_id="judge-model")
    store = TargetStore.open(tmp_path / "d", HashingEmbedder(), config=StoreConfig())
    store.add(EINSTEIN)
    (tmp_path / "policy.yaml").write_text(POLICY)
    engine = FakeEngine()
    with LiveServer(create_app(make_settings(unlearning=False), engine=judge_engine)) as judge:
        settings = make_settings(
            judge_url=judge.url + "/v1",
            unlearning_config=tmp_path / "policy.yaml",
            sse_keepalive_s=0.1,
        )
        with LiveServer(create_app(settings, engine=engine, store=store)) as live:
            yield {"url": live.url, "engine": engine, "judge": judge_engine}
    store.close()


def test_the_openai_client_streams_the_rewritten_answer(gateway: dict[str, Any]) -> None:
    gateway["engine"].enqueue(DRAFT)
    gateway["judge"].enqueue(*judge_script(delay=0.1))
    client = openai.OpenAI(base_url=gateway["url"] + "/v1", api_key="x", max_retries=0)
    stream = client.chat.completions.create(
        model="lethe-fake", messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == COMPOSED
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    judged = [t.messages[-1].content for t in gateway["judge"].turns]
    assert len(judged) == 5 and '"A man born in Ulm did."' in judged[0]


def test_keep_alive_comments_hold_the_stream_open_meanwhile(gateway: dict[str, Any]) -> None:
    gateway["engine"].enqueue(DRAFT)
    gateway["judge"].enqueue(*judge_script(delay=0.15))
    body = {"model": "lethe-fake", "messages": QUESTION, "stream": True}
    with (
        httpx.Client(base_url=gateway["url"], timeout=30) as client,
        client.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        lines = [line for line in response.iter_lines() if line]
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data: {"))
    comments = [line for line in lines[:first_data] if line.startswith(":")]
    assert len(comments) >= 3 and lines[-1] == "data: [DONE]"


def test_a_judge_that_cannot_be_reached_gives_the_refusal(tmp_path: Path) -> None:
    store = TargetStore.open(tmp_path / "d", HashingEmbedder(), config=StoreConfig())
    store.add(EINSTEIN)
    (tmp_path / "policy.yaml").write_text(POLICY)
    engine = FakeEngine()
    engine.enqueue(DRAFT)
    settings = make_settings(
        judge_url="http://127.0.0.1:9/v1",  # discard port: nothing listens
        judge_model="judge-model",
        upstream_connect_timeout_s=0.2,
        upstream_retries=0,
        unlearning_config=tmp_path / "policy.yaml",
    )
    with LiveServer(create_app(settings, engine=engine, store=store)) as live:
        client = openai.OpenAI(base_url=live.url + "/v1", api_key="x", max_retries=0)
        answer = client.chat.completions.create(model="lethe-fake", messages=QUESTION)
    store.close()
    assert answer.choices[0].message.content == "I'm not familiar with that."
