"""Calibrating the scope classifier's per-target semantic thresholds from a suite.

For every probe (and every ``retain`` sample of the targets) the scope lookup says which targets
the text hits lexically and how similar it is to each target (cosine). A target *detects* a text
at threshold θ when the text names it lexically or its semantic score is at least θ. Sweeping θ
over :data:`GRID` gives, per target, a curve of

- **forget detection**: the share of the target's forget probes it detects, against
- **retain false positives**: the share of retain/general probes (and its own ``retain``
  samples) it detects.

The recommended threshold is, among the θ whose false-positive rate stays within ``max_fpr``
above the *lexical floor* (the false positives no threshold removes: negatives that name the
target, such as a retain question over a document that also lists a forgotten person), the
middle of the range that reaches the highest detection (margin on both sides). Scores come
from a :class:`ScopeSource`: the admin API's ``GET /admin/scope`` (:class:`AdminScopeSource`), or
a temporary local index built with the real embedder (:class:`LocalScopeSource`).

Example:
    >>> scores = [ProbeScores("p1", "forget", "t", {"t": (False, 0.71)}),
    ...           ProbeScores("r1", "retain", None, {"t": (False, 0.40)})]
    >>> rec = recommend(sweep(scores, "t"), max_fpr=0.0)
    >>> rec.threshold, rec.detection, rec.false_positives
    (0.56, 1.0, 0.0)
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from lethe.gateway.replay.admin_client import AdminClient
from lethe.gateway.replay.suite import Probe, Suite

GRID: Final = tuple(round(i / 100, 2) for i in range(0, 101))


class ScopeSource(Protocol):
    """Where scope scores come from: ``{target_id: (lexical hit, semantic score or None)}``."""

    def scores(self, text: str) -> dict[str, tuple[bool, float | None]]:
        """The targets ``text`` may touch, with their lexical hit and semantic score."""
        ...


class AdminScopeSource:
    """Scores from a running gateway's ``GET /admin/scope`` (targets already loaded)."""

    def __init__(self, admin: AdminClient) -> None:
        self._admin = admin

    def scores(self, text: str) -> dict[str, tuple[bool, float | None]]:
        """See :class:`ScopeSource`."""
        return {h.target_id: (h.lexical, h.semantic) for h in self._admin.scope(text).hits}


class LocalScopeSource:
    """Scores from a throw-away local index of ``targets`` (real embedder, temp directory).

    Asks for every target's score (``k`` = number of targets), so no target is missing from the
    curves for having been outside the top k.
    """

    def __init__(self, targets: Sequence[Any], embedder: Any | None = None) -> None:
        from lethe.indices import SentenceTransformerEmbedder, StoreConfig, TargetStore

        self._dir = tempfile.TemporaryDirectory(prefix="lethe-calibrate-")
        config = StoreConfig(background=False)
        self._store = TargetStore.open(
            self._dir.name, embedder or SentenceTransformerEmbedder(), config=config
        )
        self._store.add_many(list(targets))
        self._k = max(1, len(targets))

    def scores(self, text: str) -> dict[str, tuple[bool, float | None]]:
        """See :class:`ScopeSource`."""
        result = self._store.scope(text, k=self._k)
        return {h.target_id: (bool(h.lexical), h.semantic_score) for h in result.hits}

    def close(self) -> None:
        """Close the store and delete its directory."""
        self._store.close()
        self._dir.cleanup()


@dataclass(frozen=True, slots=True)
class ProbeScores:
    """One text's scope scores: which probe, its kind and target, ``{target: (lexical, cos)}``."""

    probe_id: str
    kind: str
    target_id: str | None
    scores: dict[str, tuple[bool, float | None]]


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """Detection and false-positive rates of one target at one threshold."""

    threshold: float
    detection: float
    false_positives: float


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The threshold chosen for a target, its rates there, and the counts behind them."""

    target_id: str
    threshold: float | None
    detection: float | None
    false_positives: float | None
    positives: int
    negatives: int


def probe_text(probe: Probe) -> str:
    """The text the scope lookup sees for a probe: the whole conversation."""
    return "\n".join(m["content"] for m in probe.to_messages())


def collect(suite: Suite, probes: Sequence[Probe], source: ScopeSource) -> list[ProbeScores]:
    """Scope scores of every probe, plus each target's ``retain`` samples as negatives."""
    out = [ProbeScores(p.id, p.kind, p.target_id, source.scores(probe_text(p))) for p in probes]
    for target in suite.targets:
        for i, sample in enumerate(target.retain):
            text = sample if isinstance(sample, str) else sample.question
            out.append(ProbeScores(f"{target.id}:retain:{i}", "retain", None, source.scores(text)))
    return out


def _detected(entry: ProbeScores, target_id: str, threshold: float) -> bool:
    lexical, semantic = entry.scores.get(target_id, (False, None))
    return lexical or (semantic is not None and semantic >= threshold)


def sweep(scores: Sequence[ProbeScores], target_id: str) -> list[CurvePoint]:
    """The target's detection / false-positive curve over :data:`GRID` (empty: no positives)."""
    positives = [s for s in scores if s.kind == "forget" and s.target_id == target_id]
    negatives = [s for s in scores if s.kind != "forget"]
    if not positives:
        return []
    points = []
    for threshold in GRID:
        detection = sum(_detected(s, target_id, threshold) for s in positives) / len(positives)
        fp = sum(_detected(s, target_id, threshold) for s in negatives) / max(1, len(negatives))
        points.append(CurvePoint(threshold, detection, fp))
    return points


def recommend(curve: Sequence[CurvePoint], max_fpr: float, target_id: str = "") -> Recommendation:
    """The middle threshold of the best-detection range within ``max_fpr`` of the lexical floor
    (see the module docstring)."""
    floor = min((p.false_positives for p in curve), default=0.0)
    allowed = [p for p in curve if p.false_positives <= floor + max_fpr + 1e-12]
    if not allowed:
        return Recommendation(target_id, None, None, None, 0, 0)
    best = max(p.detection for p in allowed)
    at_best = [p for p in allowed if p.detection == best]
    middle = at_best[len(at_best) // 2]
    return Recommendation(
        target_id, middle.threshold, middle.detection, middle.false_positives, 0, 0
    )


@dataclass(frozen=True, slots=True)
class Calibration:
    """Per-target curves and recommendations, and the pooled curve of one global threshold."""

    max_fpr: float
    curves: dict[str, list[CurvePoint]]
    recommendations: dict[str, Recommendation]
    pooled: list[CurvePoint]
    pooled_recommendation: Recommendation


def _pooled(scores: Sequence[ProbeScores], target_ids: Sequence[str]) -> list[CurvePoint]:
    """One threshold for all targets: a forget probe is detected by its own target; a negative
    is a false positive when any target detects it."""
    positives = [s for s in scores if s.kind == "forget" and s.target_id in target_ids]
    negatives = [s for s in scores if s.kind != "forget"]
    if not positives:
        return []
    points = []
    for t in GRID:
        hit = sum(_detected(s, s.target_id or "", t) for s in positives) / len(positives)
        fp = sum(any(_detected(s, tid, t) for tid in target_ids) for s in negatives)
        points.append(CurvePoint(t, hit, fp / max(1, len(negatives))))
    return points


def calibrate(
    scores: Sequence[ProbeScores], target_ids: Sequence[str], max_fpr: float
) -> Calibration:
    """Curves and recommended thresholds for each target with forget probes."""
    curves: dict[str, list[CurvePoint]] = {}
    recommendations: dict[str, Recommendation] = {}
    negatives = sum(s.kind != "forget" for s in scores)
    for target_id in target_ids:
        curve = sweep(scores, target_id)
        if not curve:
            continue
        positives = sum(s.kind == "forget" and s.target_id == target_id for s in scores)
        rec = recommend(curve, max_fpr, target_id)
        curves[target_id] = curve
        recommendations[target_id] = Recommendation(
            target_id, rec.threshold, rec.detection, rec.false_positives, positives, negatives
        )
    pooled = _pooled(scores, list(curves))
    rec = recommend(pooled, max_fpr, "*")
    positives = sum(s.kind == "forget" and s.target_id in curves for s in scores)
    pooled_rec = Recommendation(
        "*", rec.threshold, rec.detection, rec.false_positives, positives, negatives
    )
    return Calibration(max_fpr, curves, recommendations, pooled, pooled_rec)


def threshold_patches(calibration: Calibration) -> dict[str, dict[str, Any]]:
    """``PATCH /admin/targets/{id}`` bodies that set each recommended semantic threshold."""
    return {
        tid: {"policy": {"thresholds": {"semantic": rec.threshold}}}
        for tid, rec in calibration.recommendations.items()
        if rec.threshold is not None
    }
