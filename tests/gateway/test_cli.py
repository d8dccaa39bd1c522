"""The ``lethe`` CLI: version, and one-line errors with exit status 2 before any model loads."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import lethe
from lethe.gateway.cli import COMMAND_MODULES, build_parser, main


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LETHE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_version_in_a_fresh_interpreter() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lethe.gateway.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"lethe {lethe.__version__}"


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "serve" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "/nope"], "model file or directory not found: /nope"),
        (["--dtype", "float8"], "invalid setting 'dtype'"),
        (["--log-level", "loud"], "invalid setting 'log_level'"),
        (["--config", "/no/such.yaml"], "config file not found: /no/such.yaml"),
    ],
)
def test_serve_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lethe: error: ") and message in err
    assert "Traceback" not in err


def test_bad_config_file_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "lethe.yaml"
    config.write_text("max_batch_size: many\n")
    assert main(["serve", "--config", str(config)]) == 2
    assert "invalid setting 'max_batch_size'" in capsys.readouterr().err


def test_unknown_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "lethe.yaml"
    config.write_text("engine: warp-drive\n")
    assert main(["serve", "--config", str(config)]) == 2
    assert "unknown engine 'warp-drive' (known: hf, upstream, vllm)" in capsys.readouterr().err


def test_vllm_engine_without_vllm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a)
    )
    config = tmp_path / "lethe.yaml"
    config.write_text("engine: vllm\nmodel: org/some-model\n")
    assert main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "engine 'vllm' needs vLLM, which is not installed: pip install 'lethe[vllm]'" in err
    assert "Traceback" not in err


def test_port_in_use(busy_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", str(busy_port)]) == 2
    err = capsys.readouterr().err
    assert f"port {busy_port} on 127.0.0.1 is already in use" in err
    assert "Traceback" not in err


def test_port_in_use_in_a_fresh_interpreter(busy_port: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lethe.gateway.cli", "serve", "--port", str(busy_port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"lethe: error: port {busy_port} on 127.0.0.1 is already in use; stop the other "
        "server or pick another port with --port"
    )


def test_every_command_module_registers() -> None:
    parser = build_parser()
    commands = {name.rsplit(".", 1)[1] for name in COMMAND_MODULES}
    for command in commands:
        assert callable(parser.parse_args([command]).handler)


def test_serve_flags_parse() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "1",
            "--api-key",
            "a",
            "--api-key",
            "b",
            "--dtype",
            "float32",
            "--model",
            "m.gguf",
            "--log-level",
            "debug",
            "--config",
            "c.yaml",
        ]
    )
    assert (args.host, args.port, args.api_keys, args.dtype) == (
        "0.0.0.0",
        1,
        ["a", "b"],
        "float32",
    )
    assert (args.model, args.log_level, args.config) == ("m.gguf", "debug", "c.yaml")
