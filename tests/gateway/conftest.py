"""Shared fixtures: one live gateway on a fake engine, and clients for it."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import httpx
import openai
import pytest

from lethe.gateway.app import create_app
from lethe.gateway.settings import Settings
from tests.gateway.fakes import FakeEngine
from tests.gateway.live import LiveServer

MODEL = "lethe-fake"


@cache
def _scratch_root() -> Path:
    path = Path(tempfile.mkdtemp(prefix="lethe-gateway-tests-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def scratch_data_dir() -> Path:
    """A fresh data directory (its own forget store), removed when the test run ends."""
    return Path(tempfile.mkdtemp(dir=_scratch_root()))


def make_settings(**values: object) -> Settings:
    """Test settings: small budgets, no YAML, no environment surprises, a scratch data dir and
    no embedder preload (nothing in these tests embeds)."""
    base: dict[str, object] = {
        "default_max_tokens": 16,
        "max_n": 8,
        "max_body_bytes": 64 * 1024,
        "data_dir": values.pop("data_dir", None) or scratch_data_dir(),
        "embedder_preload": False,
    }
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def engine() -> FakeEngine:
    return FakeEngine(model_id=MODEL, max_model_len=256)


@pytest.fixture(scope="session")
def server(engine: FakeEngine) -> Iterator[LiveServer]:
    with LiveServer(create_app(make_settings(), engine=engine)) as live:
        yield live


@pytest.fixture(autouse=True)
def _fresh_engine(engine: FakeEngine) -> None:
    engine.reset()


@pytest.fixture(scope="session")
def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=10)


@pytest.fixture(scope="session")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as session:
        yield session
