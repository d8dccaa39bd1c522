"""``lethe forget``: the CLI against a live gateway (fake engine, hashing embedder)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lethe.gateway.app import create_app
from lethe.gateway.cli import main
from lethe.gateway.commands.forget import import_summary, target_table
from lethe.indices import StoreConfig, TargetStore
from tests.gateway.conftest import make_settings
from tests.gateway.fakes import FakeEngine
from tests.gateway.live import LiveServer
from tests.gateway.serve_process import free_port
from tests.indices.fakes import HashingEmbedder

KEY = "cli-admin-key"


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TargetStore]:
    store = TargetStore.open(tmp_path, HashingEmbedder(), config=StoreConfig(background=False))
    settings = make_settings(admin_key=KEY, api_keys=["chat-key"], import_batch=2)
    with LiveServer(create_app(settings, engine=FakeEngine(), store=store)) as live:
        monkeypatch.setenv("LETHE_URL", live.url)
        monkeypatch.setenv("LETHE_ADMIN_KEY", KEY)
        yield store
    store.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["forget", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_from_flags(gateway: TargetStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "add",
        "--id=ada",
        "--name=Ada Quill",
        "--alias=A. Quill",
        "--forbidden=Ulm",
        "--scope=acme",
        "--action=refuse",
        "--reason=erasure request",
    )
    assert (code, out) == (0, "added ada (registry version 1)\n")
    target = gateway.get("ada").target
    assert (target.aliases, target.forbidden, target.scope) == (("A. Quill",), ("Ulm",), "acme")
    assert (target.policy.action, target.reason) == ("refuse", "erasure request")


def test_add_from_a_file_with_json_output(
    gateway: TargetStore, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"id": "cy", "kind": "topic", "name": "Cy Dorn"}))
    code, out, _ = run(capsys, "add", str(path), "--json")
    assert code == 0 and json.loads(out) == {"id": "cy", "version": 1}


def test_import_summary_and_exit_status(
    gateway: TargetStore, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = [json.dumps({"id": f"m{i}", "kind": "entity", "name": f"Member {i}"}) for i in range(5)]
    lines.insert(2, json.dumps({"id": "bad", "kind": "entity", "name": ""}))
    path = tmp_path / "targets.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, out, _ = run(capsys, "import", str(path))
    assert code == 1  # some lines failed
    assert out.splitlines() == [
        "imported 5 targets, 1 failed (registry version 3)",
        "  line 3 (id bad): name: must not be empty",
    ]
    assert len(gateway.snapshot) == 5


def test_import_from_stdin_as_json(
    gateway: TargetStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = "".join(
        json.dumps({"id": f"s{i}", "kind": "topic", "name": f"Stdin {i}"}) + "\n" for i in range(3)
    )
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(body.encode())))
    code, out, _ = run(capsys, "import", "-", "--json")
    answer = json.loads(out)
    assert code == 0 and (answer["imported"], answer["failed"]) == (3, 0)


def test_list_show_and_rm(gateway: TargetStore, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        run(capsys, "add", f"--id=l{i}", f"--name=Listname {i}", "--kind=topic", "--alias=Lx")
    code, out, _ = run(capsys, "list", "--limit=2")
    rows = out.splitlines()
    assert code == 0 and rows[0].split() == ["ID", "KIND", "SCOPE", "VERSION", "ALIASES", "NAME"]
    assert rows[1].split() == ["l0", "topic", "global", "1", "1", "Listname", "0"]
    assert rows[-1] == "2 targets (registry version 3); more with --cursor l1"
    code, out, _ = run(capsys, "list", "--all", "--limit=2", "--json")
    assert [t["id"] for t in json.loads(out)["data"]] == ["l0", "l1", "l2"]
    code, out, _ = run(capsys, "show", "l1")
    assert code == 0 and json.loads(out)["name"] == "Listname 1" and "\n  " in out
    code, out, _ = run(capsys, "rm", "l0", "l2")
    assert out.splitlines() == [
        "removed l0 (registry version 4)",
        "removed l2 (registry version 5)",
    ]
    assert [s.target.id for s in gateway.list().items] == ["l1"]


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["show", "nope"], {}, "no target nope"),
        (["rm", "nope"], {}, "no target nope"),
        (["add", "--name="], {}, "invalid target: name: must not be empty"),
        (["add"], {}, "give a JSON file or --name"),
        (["list"], {"LETHE_ADMIN_KEY": "wrong"}, "the admin key was refused (401)"),
        (["list"], {"LETHE_ADMIN_KEY": "chat-key"}, "may not use the admin API (403)"),
        (["list", "--admin-key", "wrong"], {}, "the admin key was refused (401)"),
        (["import", "/no/such/file.jsonl"], {}, "cannot read /no/such/file.jsonl"),
    ],
)
def test_errors_are_one_line_with_status_2(
    gateway: TargetStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("lethe: error: ") and message in err and err.count("\n") == 1


def test_an_unreachable_gateway_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(capsys, "list", "--url", url, "--timeout", "2")
    assert code == 2 and f"cannot reach the Lethe gateway at {url}" in err
    assert err.count("\n") == 1


def test_forget_without_a_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["forget"]) == 2
    assert "add" in capsys.readouterr().err


def test_summary_and_table_formatting() -> None:
    answer = {
        "imported": 1,
        "failed": 12,
        "version": 4,
        "errors": [{"line": i, "id": None, "error": "invalid JSON: x"} for i in range(12)],
    }
    summary = import_summary(answer)
    assert summary[0] == "imported 1 targets, 12 failed (registry version 4)"
    assert summary[1] == "  line 0: invalid JSON: x" and len(summary) == 12
    assert summary[-1] == "  ... and 2 more (--json lists up to 12)"
    table = target_table([{"id": "a", "kind": "topic", "name": "Long name", "version": 3}])
    assert table == [
        "ID  KIND   SCOPE   VERSION  ALIASES  NAME",
        "a   topic  global  3        0        Long name",
    ]
