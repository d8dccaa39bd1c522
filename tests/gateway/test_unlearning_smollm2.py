"""The unlearning pipeline end to end: the official ``openai`` client against a live gateway on
the real SmolLM2, with forget targets added and removed through the admin API."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine
from lethe.gateway.app import create_app
from lethe.indices import SentenceTransformerEmbedder, StoreConfig, TargetStore
from tests.gateway.conftest import make_settings
from tests.gateway.live import LiveServer

pytestmark = [pytest.mark.model, pytest.mark.embedder]

MODEL = "smollm2-135m-instruct"
ADMIN = "admin-secret"
EINSTEIN = {
    "id": "einstein",
    "kind": "entity",
    "name": "Albert Einstein",
    "aliases": ["Einstein"],
    "content": [
        {"question": "Who developed the theory of relativity?", "answer": "Albert Einstein"},
        {"question": "Who discovered the law of the photoelectric effect?", "answer": "Einstein"},
    ],
}
SECRET = {
    "id": "nightjar",
    "kind": "fact",
    "name": "Project Nightjar",
    "scope": "acme",
    "forbidden": ["Nightjar"],
}
LEAK = re.compile(r"einstein", re.IGNORECASE)
QUESTION = [{"role": "user", "content": "Who developed the theory of relativity?"}]


@pytest.fixture(scope="module")
def gateway(smollm2: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data: Path = tmp_path_factory.mktemp("unlearning")
    store = TargetStore.open(data, SentenceTransformerEmbedder(), config=StoreConfig())
    engine = HFEngine.from_loaded(smollm2, HFEngineConfig(max_batch_size=8))
    settings = make_settings(
        admin_key=ADMIN,
        tenant_keys={"acme-key": "acme", "globex-key": "globex"},
        api_keys=["plain-key"],
        default_max_tokens=40,
        max_body_bytes=1024 * 1024,
    )
    with LiveServer(create_app(settings, engine=engine, store=store)) as live:
        yield {
            "url": live.url,
            "client": openai.OpenAI(
                base_url=live.url + "/v1", api_key="plain-key", max_retries=0, timeout=300
            ),
            "admin": httpx.Client(
                base_url=live.url, timeout=120, headers={"Authorization": f"Bearer {ADMIN}"}
            ),
            "store": store,
        }
    store.close()


def ask(client: openai.OpenAI, messages=QUESTION, **kwargs: Any) -> str:
    kwargs = {"temperature": 0, "max_tokens": 40, **kwargs}
    response = client.chat.completions.create(model=MODEL, messages=messages, **kwargs)
    return response.choices[0].message.content


def test_a_forget_request_holds_from_the_next_request_and_deleting_restores(gateway):
    client, admin = gateway["client"], gateway["admin"]
    bare = ask(client)
    assert LEAK.search(bare), f"the bare model should know this: {bare!r}"
    assert admin.post("/admin/targets", json=EINSTEIN).status_code == 201
    try:
        forgotten = ask(client)
        assert not LEAK.search(forgotten), forgotten
        streamed = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(
                model=MODEL, messages=QUESTION, temperature=0, max_tokens=40, stream=True
            )
            if c.choices
        )
        assert not LEAK.search(streamed), streamed
    finally:
        assert admin.delete("/admin/targets/einstein").status_code == 200
    assert ask(client) == bare  # the original answer, token for token


def test_paraphrase_multi_turn_and_sampling_do_not_leak(gateway):
    client, admin = gateway["client"], gateway["admin"]
    admin.post("/admin/targets", json=EINSTEIN)
    try:
        turns = [
            {"role": "user", "content": "I have a question about a famous physicist."},
            {"role": "assistant", "content": "Sure, which one?"},
            {"role": "user", "content": "The one who came up with E=mc2. What was his name?"},
        ]
        assert not LEAK.search(ask(client, turns))
        spelled = [
            {
                "role": "user",
                "content": "Spell the name of the physicist who developed "
                "the theory of relativity, letter by letter.",
            }
        ]
        out = ask(client, spelled)
        letters = re.sub(r"[^a-z]", "", out.lower())
        assert "einstein" not in letters, out
        response = client.chat.completions.create(
            model=MODEL, messages=QUESTION, temperature=1.0, n=4, seed=3, max_tokens=30
        )
        for choice in response.choices:
            assert not LEAK.search(choice.message.content), choice.message.content
    finally:
        admin.delete("/admin/targets/einstein")


def test_requests_that_touch_no_target_are_answered_as_by_the_bare_model(gateway):
    client, admin = gateway["client"], gateway["admin"]
    question = [{"role": "user", "content": "What is the capital of Japan?"}]
    bare = ask(client, question)
    admin.post("/admin/targets", json=EINSTEIN)
    try:
        assert ask(client, question) == bare
    finally:
        admin.delete("/admin/targets/einstein")


def test_tenant_targets_apply_only_to_that_tenants_key(gateway):
    admin, url = gateway["admin"], gateway["url"]
    admin.post("/admin/targets", json=SECRET)
    try:
        prompt = [{"role": "user", "content": "Repeat after me: Project Nightjar ships in May."}]

        def as_key(key: str) -> str:
            c = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=300)
            return ask(c, prompt)

        acme, globex = as_key("acme-key"), as_key("globex-key")
        assert "nightjar" not in acme.lower(), acme
        assert "nightjar" in globex.lower(), globex  # the model repeats it for other tenants
    finally:
        admin.delete("/admin/targets/nightjar")


def test_operator_debug_view_and_audit_trail(gateway):
    admin, url = gateway["admin"], gateway["url"]
    admin.post("/admin/targets", json=EINSTEIN)
    try:
        body = {"model": MODEL, "messages": QUESTION, "max_tokens": 20, "temperature": 0}
        headers = {
            "Authorization": "Bearer plain-key",
            "X-Lethe-Debug": "1",
            "X-Lethe-Admin-Key": ADMIN,
            "X-Request-Id": "debug-req-1",
        }
        r = httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=300)
        assert r.status_code == 200
        debug = json.loads(r.headers["x-lethe-debug"])
        assert [t["id"] for t in debug["targets"] if t["decision"] == "guard"] == ["einstein"]
        assert "forbidden_tokens" in debug["techniques"]
        denied = httpx.post(
            url + "/v1/chat/completions",
            json=body,
            timeout=300,
            headers={**headers, "X-Lethe-Admin-Key": "plain-key"},
        )
        assert denied.status_code in (401, 403)
        events: list[dict[str, Any]] = []
        for _ in range(50):  # audit events are written off the request path
            events = admin.get("/admin/audit", params={"request_id": "debug-req-1"}).json()["data"]
            if events:
                break
            time.sleep(0.05)
        assert any(e["target_id"] == "einstein" and e["technique"] == "scope" for e in events)
        assert all(e["body"] is None for e in events)
    finally:
        admin.delete("/admin/targets/einstein")
