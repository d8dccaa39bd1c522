"""The agentic stage inside the unlearning pipeline, with a scripted engine and judge: drafts
held back and replaced, passes kept as drafted, the output filter still last, audit events."""

from __future__ import annotations

import asyncio

import pytest

from lethe.decoders import Message, SamplingParams, Turn
from lethe.gateway.audit_writer import AuditWriter
from lethe.gateway.unlearning import Trace, UnlearningPipeline
from lethe.gateway.unlearning_config import UnlearningConfig
from lethe.indices import AuditQuery, StoreConfig, TargetStore
from tests.gateway.fakes import FakeEngine, Reply
from tests.guards.agentic.fakes import ScriptedJudge
from tests.guards.conftest import EINSTEIN

REFUSAL = "I'm not familiar with that."
QUESTION = "Who developed the theory of relativity, Einstein?"


@pytest.fixture
def store(tmp_path):
    from tests.indices.fakes import HashingEmbedder

    s = TargetStore.open(tmp_path / "d", HashingEmbedder(), config=StoreConfig(background=False))
    s.add(EINSTEIN)
    yield s
    s.close()


def make_pipeline(
    store, judge, techniques=("in_context", "output_filter", "agentic"), **agentic_params
):
    config = UnlearningConfig.load()
    specs = tuple(
        t.model_copy(update={"params": {**t.params, **agentic_params}})
        if t.type == "agentic"
        else t
        for t in config.techniques
    )
    config = config.model_copy(
        update={
            "techniques": specs,
            "defaults_by_kind": {**config.defaults_by_kind, "entity": techniques},
            "scope": config.scope.model_copy(update={"thresholds": {"entity": 2.0}}),
        }
    )
    engine = FakeEngine()
    engine.load()
    audit = AuditWriter(store.audit)
    return UnlearningPipeline(engine, store, config, audit, judge=judge), engine, audit


def ask(pipeline, text=QUESTION, n=1, logprobs=False):
    params = SamplingParams(max_tokens=32, n=n, logprobs=logprobs)
    turn = Turn.chat("req-a", [Message("user", text)], params)
    trace = Trace()

    async def go():
        outs = [o async for o in pipeline.generate(turn, trace)]
        return outs

    return asyncio.run(go()), trace


def texts(outs):
    joined = {}
    for o in outs:
        joined[o.index] = joined.get(o.index, "") + o.text
    return joined


def test_a_leaking_draft_is_replaced_by_the_composed_rewrite(store):
    judge = ScriptedJudge(
        '{"leaked": ["T1"]}',
        ("A physicist did.", "Someone in 1905."),
        "5",
        "4",
        "A physicist, 1905.",
    )
    pipeline, engine, audit = make_pipeline(store, judge)
    engine.enqueue(Reply(choices=(("A man born", " in Ulm did."),)))
    outs, trace = ask(pipeline)
    assert texts(outs) == {0: "A physicist, 1905."}
    assert outs[-1].finish_reason == "stop" and outs[-1].usage.completion_tokens > 0
    assert "agentic" in trace.techniques
    [(choice, review)] = trace.reviews
    assert (choice, review.action, review.leaked, review.calls) == (0, "rewrite", ("einstein",), 5)
    assert trace.debug()["agentic"][0]["reason"] == "rewritten"
    audit_prompt = judge.calls[0][0][1].content
    assert '"A man born in Ulm did."' in audit_prompt  # the whole draft, quoted
    audit.flush()
    events = store.audit.query(AuditQuery(request_id="req-a")).events
    assert any(e.technique == "agentic" and e.action == "rewrite" for e in events)
    audit.close()


def test_a_clean_draft_is_emitted_as_drafted_with_its_logprobs(store):
    judge = ScriptedJudge('{"leaked": []}')
    pipeline, engine, audit = make_pipeline(store, judge)
    engine.enqueue(Reply(choices=(("It was", " a physicist."),)))
    outs, trace = ask(pipeline, logprobs=True)
    assert texts(outs) == {0: "It was a physicist."}
    assert all(o.logprobs for o in outs if o.text)
    assert trace.reviews[0][1].action == "pass"
    audit.close()


def test_a_rewrite_still_passes_through_the_output_filter(store):
    judge = ScriptedJudge('{"leaked": ["T1"]}', ("Einstein did.",), "5")
    pipeline, engine, audit = make_pipeline(store, judge, rewrites=1, compose_top=1)
    engine.enqueue(Reply(choices=(("Albert", " Einstein."),)))
    outs, trace = ask(pipeline)
    assert texts(outs) == {0: REFUSAL}  # the judge let the name through; the filter did not
    assert trace.hits and trace.hits[0].technique == "output_filter_lexical"
    audit.close()


def test_a_failing_judge_gives_the_refusal_never_the_draft(store):
    judge = ScriptedJudge(RuntimeError("judge down"))
    pipeline, engine, audit = make_pipeline(store, judge)
    engine.enqueue(Reply(choices=(("Born in Ulm,", " he did."),)))
    outs, trace = ask(pipeline)
    assert texts(outs) == {0: REFUSAL}
    assert trace.reviews[0][1].reason == "judge_error"
    audit.close()


def test_every_choice_is_reviewed(store):
    judge = ScriptedJudge('{"leaked": []}', '{"leaked": []}')
    pipeline, engine, audit = make_pipeline(store, judge)
    engine.enqueue(Reply(choices=(("First",), ("Second",))))
    outs, trace = ask(pipeline, n=2)
    assert texts(outs) == {0: "First", 1: "Second"}
    assert [c for c, _ in trace.reviews] == [0, 1] and len(judge.calls) == 2
    assert outs[-1].usage == max((o.usage for o in outs), key=lambda u: u.completion_tokens)
    audit.close()


def test_a_request_out_of_scope_never_reaches_the_judge(store):
    judge = ScriptedJudge()
    pipeline, engine, audit = make_pipeline(store, judge)
    engine.enqueue(Reply(choices=(("Blue",),)))
    outs, trace = ask(pipeline, text="Why is the sky blue?")
    assert texts(outs) == {0: "Blue"} and judge.calls == [] and trace.reviews == []
    audit.close()


def test_targets_without_agentic_in_their_techniques_skip_it(store):
    judge = ScriptedJudge()
    pipeline, engine, audit = make_pipeline(store, judge, techniques=("output_filter",))
    engine.enqueue(Reply(choices=(("A physicist.",),)))
    outs, trace = ask(pipeline)
    assert texts(outs) == {0: "A physicist."} and judge.calls == [] and trace.reviews == []
    audit.close()
