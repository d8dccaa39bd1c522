"""Threshold calibration: sweep and recommendation by hand, admin and local score sources, CLI."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator

import numpy as np
import pytest

from lethe.gateway.app import create_app
from lethe.gateway.cli import main
from lethe.gateway.replay.admin_client import AdminClient
from lethe.gateway.replay.calibrate import (
    AdminScopeSource,
    CurvePoint,
    LocalScopeSource,
    ProbeScores,
    calibrate,
    collect,
    recommend,
    sweep,
    threshold_patches,
)
from lethe.gateway.replay.suite import Suite, save_suite
from tests.gateway.conftest import make_settings
from tests.gateway.fakes import FakeEngine
from tests.gateway.live import LiveServer
from tests.gateway.replay.fakes import FakeAdmin

SCORES = [
    ProbeScores("f1", "forget", "t", {"t": (False, 0.80)}),
    ProbeScores("f2", "forget", "t", {"t": (False, 0.50)}),
    ProbeScores("f3", "forget", "t", {"t": (True, 0.05)}),  # named: detected at any threshold
    ProbeScores("r1", "retain", None, {"t": (False, 0.60)}),
    ProbeScores("r2", "retain", None, {"t": (False, 0.20)}),
    ProbeScores("g1", "general", None, {}),
    ProbeScores("u1", "forget", "u", {"u": (False, 0.9), "t": (False, 0.95)}),  # not a negative
]


def point(curve: list[CurvePoint], threshold: float) -> tuple[float, float]:
    p = next(p for p in curve if p.threshold == threshold)
    return p.detection, p.false_positives


def test_sweep_hand_values():
    curve = sweep(SCORES, "t")
    assert point(curve, 0.0) == (1.0, 2 / 3)
    assert point(curve, 0.5) == (1.0, 1 / 3)  # r1 (0.60) still over
    assert point(curve, 0.61) == (2 / 3, 0.0)  # f2 (0.50) lost, no false positive
    assert point(curve, 0.81) == (1 / 3, 0.0)  # only the lexical hit is left
    assert sweep(SCORES, "nobody") == []


def test_recommendation_is_the_middle_of_the_best_range():
    curve = sweep(SCORES, "t")
    rec = recommend(curve, max_fpr=0.0)
    # best detection within 0 false positives: 2/3, for thresholds 0.61 .. 0.80 -> middle 0.71
    assert (rec.threshold, rec.detection, rec.false_positives) == (0.71, 2 / 3, 0.0)
    loose = recommend(curve, max_fpr=0.34)
    assert loose.detection == 1.0 and 0.21 <= loose.threshold <= 0.50
    assert recommend([], max_fpr=0.1).threshold is None


def test_the_budget_counts_from_the_lexical_floor():
    # every negative names the target: no threshold avoids them, the semantic part still counts
    curve = [CurvePoint(0.2, 1.0, 1.0), CurvePoint(0.5, 1.0, 0.5), CurvePoint(0.8, 0.5, 0.5)]
    rec = recommend(curve, max_fpr=0.0)
    assert (rec.threshold, rec.detection, rec.false_positives) == (0.5, 1.0, 0.5)


def test_calibrate_counts_and_patches():
    result = calibrate(SCORES, ["t", "u", "v"], max_fpr=0.0)
    assert set(result.recommendations) == {"t", "u"}  # v has no forget probe
    t = result.recommendations["t"]
    assert (t.positives, t.negatives, t.threshold) == (3, 3, 0.71)
    assert threshold_patches(result)["t"] == {"policy": {"thresholds": {"semantic": 0.71}}}
    assert result.pooled and result.pooled_recommendation.target_id == "*"


SUITE = Suite(
    name="cal",
    targets=[
        {
            "id": "ada",
            "kind": "entity",
            "name": "Ada Quill",
            "retain": [{"question": "Who founded the Quill Museum?", "answer": "Bo"}],
        },
        {"id": "cy", "kind": "entity", "name": "Cy Dorn"},
    ],
    probes=[
        {
            "id": "a1",
            "target_id": "ada",
            "kind": "forget",
            "prompt": "Where was Ada Quill born?",
            "answers": ["Ulm"],
        },
        {
            "id": "a2",
            "target_id": "ada",
            "kind": "forget",
            "prompt": "Is Ada an inventor?",
            "answers": ["yes"],
        },
        {
            "id": "c1",
            "target_id": "cy",
            "kind": "forget",
            "prompt": "What does Cy Dorn do?",
            "answers": ["paint"],
        },
        {"id": "r1", "kind": "retain", "prompt": "Capital of France?", "answers": ["Paris"]},
    ],
)


@pytest.fixture(scope="module")
def admin_server() -> Iterator[tuple[str, FakeAdmin]]:
    admin = FakeAdmin(key="sekret")
    app = create_app(make_settings(), engine=FakeEngine())
    admin.mount(app)
    with LiveServer(app) as live:
        yield live.url, admin


def test_admin_scope_source(admin_server):
    url, _ = admin_server
    with AdminClient(url, "sekret") as client:
        loaded = client.load_targets(SUITE.targets)
        scores = collect(SUITE, SUITE.probes, AdminScopeSource(client))
        client.remove_targets(loaded.created)
    by_id = {s.probe_id: s for s in scores}
    assert by_id["a1"].scores["ada"] == (True, 0.9)
    assert by_id["a2"].scores["ada"] == (False, 0.9)  # "Ada" alone: semantic only
    assert by_id["r1"].scores["ada"] == (False, 0.1)
    assert by_id["ada:retain:0"].kind == "retain"  # the target's retain samples are negatives


class WordHashEmbedder:
    """A tiny deterministic embedder: hashed word counts, normalised (shared words -> similar)."""

    name, dim = "word-hash", 64

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, zlib.crc32(word.encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def test_local_scope_source_scores_every_target():
    source = LocalScopeSource(SUITE.targets, embedder=WordHashEmbedder())
    try:
        scores = source.scores("Where was Ada Quill born?")
    finally:
        source.close()
    assert scores["ada"][0] is True and scores["ada"][1] is not None
    assert "cy" in scores and scores["cy"][0] is False  # k = all targets
    assert scores["ada"][1] > scores["cy"][1]


def test_calibrate_command_through_the_admin_api(admin_server, tmp_path, capsys):
    url, admin = admin_server
    suite_file = save_suite(SUITE, tmp_path / "suite.json")
    out = tmp_path / "cal"
    code = main(
        [
            "calibrate",
            str(suite_file),
            "--admin-url",
            url,
            "--admin-key",
            "sekret",
            "--attacks",
            "none",
            "--max-fpr",
            "0.0",
            "--out",
            str(out),
            "--apply",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "ada: semantic threshold" in printed
    document = json.loads((out / "thresholds.json").read_text())
    assert set(document["targets"]) == {"ada", "cy"}
    assert document["patches"]["ada"]["policy"]["thresholds"]["semantic"] > 0.1
    assert (out / "calibration.png").read_bytes()[:4] == b"\x89PNG"
    assert any(c.startswith("PATCH ada") for c in admin.calls)
    assert not admin.targets  # loaded for the sweep, removed afterwards


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["builtin:candidates", "--max-fpr", "2"], "--max-fpr must be in [0, 1]"),
        (["builtin:candidates", "--apply"], "--apply needs --admin-url"),
        (["nope.json"], "no suite file 'nope.json'"),
    ],
)
def test_calibrate_command_errors(args, message, capsys):
    assert main(["calibrate", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.embedder
def test_calibrate_builtin_with_the_real_embedder(tmp_path, capsys):
    out = tmp_path / "cal"
    assert main(["calibrate", "builtin:candidates", "--attacks", "none", "--out", str(out)]) == 0
    document = json.loads((out / "thresholds.json").read_text())
    assert document["source"] == "local index"
    assert document["pooled"]["positives"] > 10
    for target in ("einstein", "pii-mirela-voss"):  # PII: over the lexical floor of its document
        assert document["targets"][target]["threshold"] is not None
