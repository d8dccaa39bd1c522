"""Contrastive decoding end to end: the official ``openai`` client against a live gateway on the
real SmolLM2 whose only technique for facts is ``contrastive`` (the served model as its
assistant, in companion rows of the engine's batch): the forgotten fact goes, greedy and
streamed with several sampled choices, and a neighbouring question keeps its answer."""

from __future__ import annotations

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
GATES = {
    "id": "gates-microsoft",
    "kind": "fact",
    "name": "Bill Gates",
    "aliases": ["Gates"],
    "content": [
        {"question": "Which company did Bill Gates co-found?", "answer": "Microsoft"},
        "Bill Gates co-founded Microsoft with Paul Allen in 1975.",
    ],
}
POLICY = """\
techniques:
  - type: contrastive
    params: {rule: ucd, alpha: 2.0, plausibility: 0.1}
defaults_by_kind:
  entity: [contrastive]
  fact: [contrastive]
  document: [contrastive]
  topic: [contrastive]
output_filter:
  lexical: false
"""
FACT = [{"role": "user", "content": "Which company did Bill Gates co-found?"}]


@pytest.fixture(scope="module")
def gateway(smollm2: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data: Path = tmp_path_factory.mktemp("contrastive")
    (data / "policy.yaml").write_text(POLICY)
    store = TargetStore.open(data / "store", SentenceTransformerEmbedder(), config=StoreConfig())
    engine = HFEngine.from_loaded(smollm2, HFEngineConfig(max_batch_size=8))
    settings = make_settings(admin_key=ADMIN, unlearning_config=data / "policy.yaml")
    with LiveServer(create_app(settings, engine=engine, store=store)) as live:
        yield {
            "client": openai.OpenAI(
                base_url=live.url + "/v1", api_key="x", max_retries=0, timeout=300
            ),
            "admin": httpx.Client(
                base_url=live.url, timeout=120, headers={"Authorization": f"Bearer {ADMIN}"}
            ),
        }
    store.close()


def ask(client: openai.OpenAI, messages: list[dict[str, str]]) -> str:
    response = client.chat.completions.create(
        model=MODEL, messages=messages, temperature=0, max_tokens=24
    )
    return response.choices[0].message.content or ""


def test_the_fact_goes_greedy_and_sampled_and_the_neighbour_stays(gateway: dict[str, Any]):
    client, admin = gateway["client"], gateway["admin"]
    assert "Microsoft" in ask(client, FACT)  # the bare model knows it
    assert admin.post("/admin/targets", json=GATES).status_code == 201
    try:
        assert "Microsoft" not in ask(client, FACT)
        apple = [{"role": "user", "content": "Who founded Apple?"}]
        assert "Steve Jobs" in ask(client, apple)
        stream = client.chat.completions.create(
            model=MODEL, messages=FACT, temperature=1.0, n=3, seed=5, max_tokens=24, stream=True
        )
        texts, finished = ["", "", ""], set()
        for chunk in stream:
            for choice in chunk.choices:
                texts[choice.index] += choice.delta.content or ""
                if choice.finish_reason:
                    finished.add(choice.index)
        assert finished == {0, 1, 2} and all(texts)
    finally:
        assert admin.delete(f"/admin/targets/{GATES['id']}").status_code == 200
