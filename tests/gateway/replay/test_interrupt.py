"""Ctrl-C in the middle of ``lethe replay``: exit 130, targets removed, results kept, resumable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lethe.gateway.app import create_app
from lethe.gateway.cli import main
from lethe.gateway.replay.suite import Suite, save_suite
from tests.gateway.conftest import make_settings
from tests.gateway.live import LiveServer
from tests.gateway.replay.fakes import AnswerEngine, FakeAdmin

REPO = Path(__file__).resolve().parents[3]
PROBES = 30  # at 0.15 s each, seconds of replay left when Ctrl-C comes, even on a busy machine
SUITE = Suite(
    name="slow",
    targets=[{"id": "t", "kind": "entity", "name": "Ada Quill"}],
    probes=[
        {
            "id": f"p{i}",
            "target_id": "t",
            "kind": "forget",
            "prompt": f"Question {i} on Ada?",
            "answers": ["Ulm"],
        }
        for i in range(PROBES)
    ],
)


@pytest.mark.slow
def test_ctrl_c_then_resume(tmp_path: Path) -> None:
    engine = AnswerEngine(rules=[("Ada", "Ulm")], delay_s=0.15)
    admin = FakeAdmin(key="k")
    app = create_app(make_settings(), engine=engine)
    admin.mount(app)
    suite_file = save_suite(SUITE, tmp_path / "suite.json")
    out = tmp_path / "out"
    with LiveServer(app) as live:
        args = [
            str(suite_file),
            "--base-url",
            live.url + "/v1",
            "--admin-key",
            "k",
            "--samples",
            "0",
            "--attacks",
            "none",
            "--concurrency",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ]
        process = subprocess.Popen(
            [sys.executable, "-m", "lethe.gateway.cli", "replay", *args],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TQDM_DISABLE": "1"},
            # A shell's background job inherits SIGINT ignored, and Python then keeps it
            # ignored: Ctrl-C must reach the replay however the test run was started.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        results = out / "results.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if results.exists() and len(results.read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 130
        assert "interrupted; rerun the same command to resume" in err and "Traceback" not in err
        assert admin.calls[0] == "POST import" and admin.calls[-1] == "DELETE t"
        assert not admin.targets
        done = len(results.read_text().splitlines())
        assert 2 <= done < PROBES
        before = len(engine.turns)
        assert main(["replay", *args]) == 0  # the same command resumes
        assert len(engine.turns) - before == PROBES - done
    assert len(results.read_text().splitlines()) == PROBES
