"""The engine registry: each engine's preflight refuses what cannot work, before the port."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lethe.decoders.upstream.engine import UpstreamEngine
from lethe.decoders.vllm.engine import VLLMEngine
from lethe.errors import ConfigurationError
from lethe.gateway.engines import ENGINES, build_engine, preflight_engine
from lethe.gateway.settings import Settings

URL = "http://127.0.0.1:8080/v1"


def test_the_registry_lists_every_engine() -> None:
    assert sorted(ENGINES) == ["hf", "upstream", "vllm"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "needs the setting 'upstream_url'"),
        ({"upstream_url": "127.0.0.1:8080/v1"}, "invalid setting 'upstream_url'"),
        ({"upstream_url": "ftp://host/v1"}, "invalid setting 'upstream_url'"),
        ({"upstream_url": URL, "tokenizer": "/no/such/tokenizer"}, "not found"),
        ({"upstream_url": URL}, "set 'tokenizer'"),  # forbidden_tokens needs it
    ],
)
def test_upstream_preflight_refuses(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        preflight_engine(Settings(engine="upstream", **values))  # type: ignore[arg-type]


def test_upstream_without_a_tokenizer_runs_without_token_bans(tmp_path: Path) -> None:
    preflight_engine(Settings(engine="upstream", upstream_url=URL, unlearning=False))
    config = tmp_path / "unlearning.yaml"
    config.write_text(
        "techniques:\n  - type: in_context\n  - type: output_filter\n"
        "defaults_by_kind:\n  entity: [in_context, output_filter]\n"
        "  fact: [in_context]\n  document: [in_context]\n  topic: [in_context]\n"
    )
    settings = Settings(engine="upstream", upstream_url=URL, unlearning_config=config)
    engine = build_engine(settings)
    assert isinstance(engine, UpstreamEngine) and engine.capabilities.vocabulary is None


def test_upstream_builds_with_a_hub_name_tokenizer() -> None:
    settings = Settings(engine="upstream", upstream_url=URL, tokenizer="org/some-model")
    engine = build_engine(settings)  # the tokenizer loads with the engine, not here
    assert engine.capabilities.logit_bias and engine.capabilities.vocabulary is not None


@pytest.fixture
def without_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    """vLLM is not installed (it never is on CPU machines; made sure of where it is)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a)
    )


@pytest.mark.usefixtures("without_vllm")
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "needs the setting 'model'"),
        ({"model": "/no/such/model"}, "model file or directory not found"),
        ({"model": "org/model", "tokenizer": "/no/such/tokenizer"}, "tokenizer file or dir"),
        (
            {"model": "org/model"},
            r"needs vLLM, which is not installed: pip install 'lethe\[vllm\]'",
        ),
    ],
)
def test_vllm_preflight_refuses(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        preflight_engine(Settings(engine="vllm", **values))  # type: ignore[arg-type]


def test_vllm_preflight_passes_with_vllm_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = importlib.util.find_spec
    installed = real("json")  # any spec: vLLM is never imported by the preflight
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: installed if name == "vllm" else real(name, *a),
    )
    engine = build_engine(Settings(engine="vllm", model=str(tmp_path)))
    assert isinstance(engine, VLLMEngine) and engine.model_id == tmp_path.name
    assert engine.capabilities.logits and not engine.capabilities.rollback
