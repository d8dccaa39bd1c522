"""Settings: defaults, LETHE_* environment, the YAML file, precedence, and clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lethe.errors import ConfigurationError
from lethe.gateway.settings import (
    Settings,
    get_settings,
    load_settings,
    to_hf_config,
    to_upstream_config,
    to_vllm_config,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LETHE_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lethe.yaml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    s = load_settings()
    assert (s.host, s.port, s.engine, s.model, s.dtype) == ("127.0.0.1", 8000, "hf", None, "auto")
    assert (s.max_batch_size, s.max_waiting, s.default_max_tokens, s.max_n) == (8, 64, 512, 8)
    assert s.api_keys == [] and s.admin_key is None and s.max_body_bytes == 4 * 1024 * 1024
    assert s.model_cache and s.model_cache_dir == Path("lethe-data/model-cache")
    assert not s.log_bodies and s.request_timeout_s is None and s.sse_keepalive_s == 10.0


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"LETHE_PORT": "9001"}, "port", 9001),
        ({"LETHE_SOMETHING_ELSE": "x", "LETHE_MAX_N": "3"}, "max_n", 3),
        ({"LETHE_API_KEYS": "a, b"}, "api_keys", ["a", "b"]),
        ({"LETHE_API_KEYS": '["x"]'}, "api_keys", ["x"]),
        ({"LETHE_MODEL_CACHE": "false"}, "model_cache", False),
        ({"LETHE_LOG_LEVEL": "DEBUG"}, "log_level", "debug"),
        ({"LETHE_REQUEST_TIMEOUT_S": "2.5"}, "request_timeout_s", 2.5),
        ({"LETHE_SSE_KEEPALIVE_S": "0"}, "sse_keepalive_s", 0.0),
    ],
)
def test_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], field: str, value: object
) -> None:
    for name, text in env.items():
        monkeypatch.setenv(name, text)
    assert getattr(load_settings(), field) == value


def test_yaml_and_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "port: 7000\nhost: 0.0.0.0\nmax_n: 2\napi_keys: [y1]\n")
    from_yaml = load_settings(config=path)
    assert (from_yaml.port, from_yaml.host, from_yaml.max_n, from_yaml.api_keys) == (
        7000,
        "0.0.0.0",
        2,
        ["y1"],
    )
    monkeypatch.setenv("LETHE_CONFIG", str(path))
    monkeypatch.setenv("LETHE_PORT", "7100")
    env_over_yaml = load_settings()
    assert (env_over_yaml.port, env_over_yaml.host) == (7100, "0.0.0.0")
    flag_over_env = load_settings(port=7200, host=None)
    assert (flag_over_env.port, flag_over_env.host) == (7200, "0.0.0.0")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port: [", r"not valid YAML \(line 1, column 8\)"),
        ("- a\n- b\n", "must hold a mapping"),
        ("prot: 1\n", "unknown setting 'prot'"),
        ("port: eighty\n", "invalid setting 'port'"),
        ("dtype: float8\n", "invalid setting 'dtype'"),
        ("max_n: 0\n", "invalid setting 'max_n'"),
        ("sse_keepalive_s: -1\n", "invalid setting 'sse_keepalive_s'"),
    ],
)
def test_bad_config_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError, match=message) as caught:
        load_settings(config=path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="config file not found"):
        load_settings(config=tmp_path / "nope.yaml")


def test_bad_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LETHE_MAX_BATCH_SIZE", "lots")
    with pytest.raises(ConfigurationError, match=r"max_batch_size.*LETHE_MAX_BATCH_SIZE"):
        load_settings()


def test_get_settings_is_cached() -> None:
    get_settings.cache_clear()
    try:
        assert get_settings() is get_settings()
    finally:
        get_settings.cache_clear()


def test_hf_config() -> None:
    s = Settings(
        model="/m.gguf",
        dtype="float32",
        threads=2,
        max_model_len=1024,
        served_model_name="tiny",
        data_dir=Path("/d"),
    )
    config = to_hf_config(s)
    assert (config.model, config.dtype, config.threads, config.max_model_len) == (
        "/m.gguf",
        "float32",
        2,
        1024,
    )
    assert config.served_model_name == "tiny"
    assert config.cache_dir == Path("/d/model-cache")
    assert to_hf_config(Settings(model_cache=False)).cache_dir is None


def test_upstream_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "LETHE_ENGINE": "upstream",
        "LETHE_UPSTREAM_URL": "http://vllm:8000/v1",
        "LETHE_UPSTREAM_API_KEY": "sk-very-secret-key",
        "LETHE_UPSTREAM_MODEL": "llama",
        "LETHE_UPSTREAM_TIMEOUT_S": "30",
        "LETHE_UPSTREAM_RETRIES": "0",
        "LETHE_TOKENIZER": "/tok",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert "sk-very-secret-key" not in repr(s) and "sk-very-secret-key" not in str(s.model_dump())
    config = to_upstream_config(s)
    assert (config.base_url, config.api_key, config.model, config.tokenizer) == (
        "http://vllm:8000/v1",
        "sk-very-secret-key",
        "llama",
        "/tok",
    )
    assert (config.read_timeout_s, config.retries, config.connect_timeout_s) == (30.0, 0, 5.0)
    assert "sk-very-secret-key" not in repr(config)


def test_upstream_config_needs_a_url() -> None:
    with pytest.raises(ConfigurationError, match="upstream_url"):
        to_upstream_config(Settings(engine="upstream"))


def test_vllm_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "LETHE_ENGINE": "vllm",
        "LETHE_MODEL": "/models/Qwen2.5-0.5B-Instruct",
        "LETHE_MAX_BATCH_SIZE": "32",
        "LETHE_MAX_MODEL_LEN": "4096",
        "LETHE_DTYPE": "bfloat16",
        "LETHE_VLLM_GPU_MEMORY_UTILIZATION": "0.5",
        "LETHE_VLLM_TENSOR_PARALLEL_SIZE": "2",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = to_vllm_config(load_settings())
    assert (config.model, config.model_id, config.max_num_seqs, config.max_model_len) == (
        "/models/Qwen2.5-0.5B-Instruct",
        "Qwen2.5-0.5B-Instruct",
        32,
        4096,
    )
    assert (config.dtype, config.gpu_memory_utilization, config.tensor_parallel_size) == (
        "bfloat16",
        0.5,
        2,
    )
    assert config.logprobs_mode == "processed_logprobs"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "needs the setting 'model'"),
        ({"model": "m", "vllm_gpu_memory_utilization": 0}, "vllm_gpu_memory_utilization"),
        ({"model": "m", "vllm_tensor_parallel_size": 0}, "vllm_tensor_parallel_size"),
    ],
)
def test_vllm_settings_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        to_vllm_config(load_settings(engine="vllm", **values))
