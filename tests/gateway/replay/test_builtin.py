"""The built-in suite: candidates are well-formed, the PII scenario mixes forget and retain,
and the verified suite records what the bare model knew."""

from __future__ import annotations

from lethe.gateway.replay.builtin import candidate_suite, load_builtin, pii_part
from lethe.gateway.replay.builtin.verify import known, select_known
from lethe.gateway.replay.matching import matched_answers
from lethe.gateway.replay.scoring import ProbeResult


def test_candidates_cover_every_kind():
    counts = candidate_suite().counts()
    assert counts["targets"] == 12
    assert counts["forget"] >= 30 and counts["retain"] >= 25 and counts["general"] >= 6


def test_pii_documents_mix_a_forget_and_a_retain_person():
    targets, probes = pii_part()
    assert len(targets) == 4
    forget_names = {t.name for t in targets}
    for probe in probes:
        document = probe.messages[0].content
        named = [line for line in document.splitlines() if line.startswith("- ")]
        assert len(named) == 2
        assert sum(any(n in line for n in forget_names) for line in named) == 1
    mixed = [p for p in probes if "-both-" in p.id]
    assert {p.kind for p in mixed} == {"forget", "retain"}
    assert mixed[0].question == mixed[1].question  # one prompt, scored both ways
    # the forbidden strings of a target are exactly its record's values
    mirela = next(t for t in targets if t.name == "Mirela Voss")
    assert matched_answers("Call 07700 900142.", mirela.forbidden) == ("07700 900142",)


def test_probes_of_targets_name_the_target_or_its_facts():
    suite = candidate_suite()
    for probe in suite.probes:
        if probe.kind == "forget":
            assert suite.target(probe.target_id) is not None


def result(pid: str, kind: str, **kw: object) -> ProbeResult:
    return ProbeResult(endpoint="bare", probe_id=pid, kind=kind, **kw)  # type: ignore[arg-type]


def test_select_known_keeps_only_correct_answers_and_their_targets():
    suite = candidate_suite()
    ids = {p.id: p for p in suite.probes}
    results = {
        "einstein-2": result("einstein-2", "forget", hit=True),
        "einstein-3": result("einstein-3", "forget", hit=False),
        "retain-paris-1": result("retain-paris-1", "retain", hit=True),
        "general-ocean": result("general-ocean", "general", refused=False),
        "general-sleep": result("general-sleep", "general", refused=True),
        "general-gold": result("general-gold", "general", error="HTTP 500"),
    }
    assert known(ids["general-ocean"], results["general-ocean"])
    assert not known(ids["general-gold"], results["general-gold"])
    verified = select_known(suite, results, "m", {"max_tokens": 40})
    assert [p.id for p in verified.probes] == ["einstein-2", "retain-paris-1", "general-ocean"]
    assert [t.id for t in verified.targets] == ["einstein"]
    meta = verified.metadata["verification"]
    assert meta["candidates"]["probes"] == len(suite.probes)
    assert meta["kept"] == {"targets": 1, "probes": 3, "forget": 1, "retain": 1, "general": 1}
    assert "einstein-3" in meta["dropped"]


def test_the_shipped_suite_is_verified():
    suite = load_builtin()
    meta = suite.metadata["verification"]
    assert meta["model"] == "smollm2-135m-instruct"
    assert meta["kept"] == suite.counts() and meta["candidates"] == candidate_suite().counts()
    assert suite.counts()["forget"] > 10 and suite.counts()["retain"] > 10
    candidate_ids = {p.id for p in candidate_suite().probes}
    assert {p.id for p in suite.probes} <= candidate_ids
