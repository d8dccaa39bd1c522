"""The resumable results log: resume, repair after a cut line, refuse a different run."""

from __future__ import annotations

import pytest

from lethe.gateway.replay.results import RESULTS_FILE, ResultLog, RunMismatch
from lethe.gateway.replay.scoring import ProbeResult


def result(pid: str, endpoint: str = "main") -> ProbeResult:
    return ProbeResult(endpoint=endpoint, probe_id=pid, kind="retain", hit=True)


def test_resume_reads_what_was_written(tmp_path):
    log = ResultLog.open(tmp_path, {"suite": "a"})
    log.append(result("p1"))
    log.append(result("p1", "baseline"))
    again = ResultLog.open(tmp_path, {"suite": "a"})
    assert set(again.done()) == {("main", "p1"), ("baseline", "p1")}
    assert [r.probe_id for r in again.results("baseline")] == ["p1"]


def test_a_cut_line_is_dropped_and_appends_start_clean(tmp_path):
    log = ResultLog.open(tmp_path, {"suite": "a"})
    log.append(result("p1"))
    path = tmp_path / RESULTS_FILE
    path.write_text(path.read_text() + result("p2").model_dump_json()[:15])  # crash mid-line
    again = ResultLog.open(tmp_path, {"suite": "a"})
    assert set(again.done()) == {("main", "p1")}
    again.append(result("p3"))
    third = ResultLog.open(tmp_path, {"suite": "a"})
    assert set(third.done()) == {("main", "p1"), ("main", "p3")}


def test_a_different_run_is_refused_unless_fresh(tmp_path):
    ResultLog.open(tmp_path, {"suite": "a", "samples": 4}).append(result("p1"))
    with pytest.raises(RunMismatch, match=r"changed: samples"):
        ResultLog.open(tmp_path, {"suite": "a", "samples": 16})
    fresh = ResultLog.open(tmp_path, {"suite": "a", "samples": 16}, fresh=True)
    assert fresh.done() == {}
    assert ResultLog.open(tmp_path, {"suite": "a", "samples": 16}).done() == {}
