"""``lethe replay`` on the command line: a run against a scripted gateway, one-line errors."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from lethe.gateway.app import create_app
from lethe.gateway.cli import build_parser, main
from lethe.gateway.commands.replay import admin_url_of
from lethe.gateway.replay.suite import save_suite
from tests.gateway.conftest import make_settings
from tests.gateway.live import LiveServer
from tests.gateway.replay.fakes import REFUSAL, AnswerEngine, FakeAdmin
from tests.gateway.replay.test_session import SUITE

ENGINE = AnswerEngine(rules=[("relativity", "Einstein"), ("France", "Paris"), ("hi", REFUSAL)])


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[str, FakeAdmin]]:
    admin = FakeAdmin(key="k1")
    app = create_app(make_settings(), engine=ENGINE)
    admin.mount(app)
    with LiveServer(app) as live:
        yield live.url, admin


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    return save_suite(SUITE, tmp_path / "suite.jsonl")


def test_replay_command(gateway, suite_file, tmp_path, capsys):
    url, admin = gateway
    out = tmp_path / "out"
    args = [
        "replay",
        str(suite_file),
        "--base-url",
        url + "/v1",
        "--admin-key",
        "k1",
        "--samples",
        "2",
        "--attacks",
        "paraphrase",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "main: forget leak=1.000 leak@1=1.000" in printed  # this gateway does not forget
    assert "general acc=n/a over-refusal=1.000" in printed  # "Say hi." refused; g2 errored
    assert f"report: {out / 'report.md'}" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["endpoints"]["main"]["targets_loaded"] == 1
    assert admin.calls == ["POST import", "DELETE einstein"]
    # the same out dir with other settings: refused in one line
    assert main([*args[:-3], "--samples", "3", "--out", str(out), "--no-progress"]) == 2
    assert "holds results of a different run" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--base-url is required"),
        (["--base-url", "http://127.0.0.1:{port}/v1"], "cannot reach http://127.0.0.1:"),
        (["--base-url", "http://x/v1", "--attacks", "telepathy"], "unknown attack(s) telepathy"),
        (["--base-url", "http://x/v1", "--samples", "-1"], "--samples must be at least 0"),
        (["--base-url", "http://x/v1", "--max-tokens", "0"], "--max-tokens must be at least 1"),
    ],
)
def test_replay_errors_are_one_line(suite_file, tmp_path, capsys, extra, message):
    extra = [e.format(port=free_port()) for e in extra]
    code = main(["replay", str(suite_file), *extra, "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_bad_suite_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "probes": [{"id": "p", "kind": "forget", "prompt": "q"}]}')
    assert main(["replay", str(bad), "--base-url", "http://x/v1"]) == 2
    assert "probes.0: a forget probe needs at least one accepted answer" in capsys.readouterr().err


def test_admin_url_defaults_to_the_base_urls_server():
    parser = build_parser()
    args = parser.parse_args(["replay", "s", "--base-url", "http://h:8000/v1", "--admin-key", "k"])
    assert admin_url_of(args) == "http://h:8000"
    args = parser.parse_args(["replay", "s", "--base-url", "http://h:8000/v1"])
    assert admin_url_of(args) is None
