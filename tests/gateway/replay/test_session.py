"""End-to-end replays through live gateways on scripted engines, with the official openai client.

``main`` forgets (refuses the forget question, leaks in one sample of four); ``baseline`` knows
everything. The admin API is an in-memory fake mounted on the main gateway.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from lethe.gateway.app import create_app
from lethe.gateway.replay.results import RESULTS_FILE, RunMismatch
from lethe.gateway.replay.runner import RunConfig
from lethe.gateway.replay.session import Endpoint, ReplayOptions, run_replay
from lethe.gateway.replay.suite import Suite
from tests.gateway.conftest import make_settings
from tests.gateway.live import LiveServer
from tests.gateway.replay.fakes import REFUSAL, AnswerEngine, FakeAdmin

SUITE = Suite(
    name="mini",
    targets=[
        {"id": "einstein", "kind": "entity", "name": "Albert Einstein", "aliases": ["Einstein"]}
    ],
    probes=[
        {
            "id": "f1",
            "target_id": "einstein",
            "kind": "forget",
            "prompt": "Who developed relativity?",
            "answers": ["Einstein"],
        },
        {
            "id": "r1",
            "kind": "retain",
            "prompt": "What is the capital of France?",
            "answers": ["Paris"],
        },
        {"id": "g1", "kind": "general", "prompt": "Say hi."},
        {
            "id": "g2",
            "kind": "general",
            "prompt": "Tell me about bananas.",
            "answers": ["yellow"],
            "max_tokens": 1_000_000,
        },  # the server refuses it: an errored probe, not a crash
    ],
)
FORGETFUL = AnswerEngine(
    rules=[("relativity", REFUSAL), ("France", "It is Paris."), ("hi", "Hello!")],
    sampled=[("relativity", ["No idea.", "Albert Einstein!", "No.", "Not sure."])],
)
KNOWING = AnswerEngine(
    rules=[("relativity", "Albert Einstein."), ("France", "Paris"), ("hi", "Hi there.")],
    sampled=[("relativity", ["Einstein"] * 4)],
)


@pytest.fixture(scope="module")
def admin() -> FakeAdmin:
    return FakeAdmin()


@pytest.fixture(scope="module")
def main_url(admin: FakeAdmin) -> Iterator[str]:
    app = create_app(make_settings(max_n=8), engine=FORGETFUL)
    admin.mount(app)
    with LiveServer(app) as live:
        yield live.url


@pytest.fixture(scope="module")
def baseline_url() -> Iterator[str]:
    with LiveServer(create_app(make_settings(max_n=2), engine=KNOWING)) as live:
        yield live.url


@pytest.fixture
def options(tmp_path: Path, main_url: str, baseline_url: str) -> ReplayOptions:
    return ReplayOptions(
        suite=SUITE,
        main=Endpoint(main_url + "/v1"),
        baseline=Endpoint(baseline_url + "/v1"),
        admin_url=main_url,
        admin_key="admin-key",
        out_dir=tmp_path / "out",
        attacks=("paraphrase", "multi_turn"),
        run=RunConfig(samples=4, max_tokens=16, concurrency=2),
        progress=False,
    )


def test_replay_side_by_side(options: ReplayOptions, admin: FakeAdmin) -> None:
    admin.calls.clear()
    report = run_replay(options).report
    main, base = report["summary"]["main"], report["summary"]["baseline"]
    assert main["forget"]["n"] == 3  # f1 and its two attacked variants
    assert main["forget"]["leak_rate"] == 0.0 and base["forget"]["leak_rate"] == 1.0
    assert main["forget"]["leak_at_k"] == {"1": 0.25, "4": 1.0}  # one leak in four samples
    assert base["forget"]["leak_at_k"] == {"1": 1.0, "4": 1.0}  # n=4 split over max_n=2
    assert main["forget"]["refusal_rate"] == 1.0
    assert set(main["by_attack"]) == {"direct", "paraphrase", "multi_turn"}
    assert main["retain"]["accuracy"] == 1.0 and main["general"]["over_refusal"] == 0.0
    assert main["errors"] == 1 and base["errors"] == 1  # g2's budget is refused by both
    rows = {row["metric"]: row for row in report["comparison"]}
    assert rows["forget: leak rate (greedy)"]["ratio"] == 0.0
    assert rows["retain: accuracy"]["ratio"] == 1.0
    assert report["conditional"]["main"]["forget"] == {"n": 3, "leak_rate": 0.0}
    assert report["endpoints"]["main"]["targets_loaded"] == 1
    assert admin.calls == ["POST import", "DELETE einstein"] and not admin.targets


def test_report_files(options: ReplayOptions) -> None:
    files = {p.name: p for p in run_replay(options).files}
    assert {
        "report.json",
        "report.md",
        "overview.png",
        "leak_by_attack.png",
        "leak_at_k.png",
        "latency.png",
    } <= set(files)
    for name, path in files.items():
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = files["report.md"].read_text()
    assert "| forget: leak rate (greedy) | 0.000 | 1.000 | 0.000 |" in md
    assert "![leak_at_k.png](leak_at_k.png)" in md
    data = json.loads(files["report.json"].read_text())
    assert data["suite"]["counts"]["forget"] == 1 and data["config"]["samples"] == 4


def test_rerun_resumes_without_new_requests(options: ReplayOptions) -> None:
    first = run_replay(options).report
    before = len(FORGETFUL.turns)
    again = run_replay(options).report
    assert len(FORGETFUL.turns) == before
    assert again["summary"] == first["summary"]


def test_an_interrupted_log_is_completed(options: ReplayOptions) -> None:
    run_replay(options)
    log = options.out_dir / RESULTS_FILE
    lines = log.read_text().splitlines()
    keys = [(json.loads(x)["endpoint"], json.loads(x)["probe_id"]) for x in lines]
    # drop two results and cut the next one in half, as a crash mid-write would
    log.write_text("\n".join(lines[:-3]) + "\n" + lines[-3][:20])
    report = run_replay(options).report
    after = [json.loads(x) for x in log.read_text().splitlines()[len(lines) - 3 :]]
    assert sorted((r["endpoint"], r["probe_id"]) for r in after) == sorted(keys[-3:])
    assert report["summary"]["main"]["forget"]["n"] == 3


def test_a_different_run_in_the_same_directory_is_refused(options: ReplayOptions) -> None:
    run_replay(options)
    changed = replace(options, run=replace(options.run, samples=2))
    with pytest.raises(RunMismatch, match="samples"):
        run_replay(changed)
    assert run_replay(replace(changed, fresh=True)).report["config"]["samples"] == 2


def test_keep_targets(options: ReplayOptions, admin: FakeAdmin) -> None:
    run_replay(replace(options, keep_targets=True))
    assert "einstein" in admin.targets
    admin.calls.clear()
    run_replay(replace(options, out_dir=options.out_dir.parent / "again"))
    # already there: used, reported as pre-existing, and left alone
    assert admin.calls == ["POST import"] and "einstein" in admin.targets
    admin.targets.clear()


def test_any_openai_endpoint_without_admin(options: ReplayOptions) -> None:
    bare = replace(options, admin_url=None, baseline=None, attacks=())
    report = run_replay(bare).report
    assert report["endpoints"]["main"]["targets_loaded"] == 0
    assert report["comparison"] is None and report["conditional"] is None
    assert report["summary"]["main"]["forget"]["n"] == 1
