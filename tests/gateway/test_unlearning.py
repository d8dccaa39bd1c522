"""The unlearning pipeline's logic over a real store, with a scripted engine."""

from __future__ import annotations

import asyncio

import pytest

from lethe.decoders import Capabilities, Message, SamplingParams, Turn
from lethe.decoders.masking import ForbiddenTokenMask
from lethe.errors import ConfigurationError
from lethe.gateway.audit_writer import AuditWriter
from lethe.gateway.unlearning import Trace, UnlearningPipeline
from lethe.gateway.unlearning_config import UnlearningConfig
from lethe.indices import AuditQuery, StoreConfig, TargetStore
from tests.gateway.fakes import FakeEngine, Reply
from tests.guards.conftest import ADA, EINSTEIN, TENANT_ONLY
from tests.indices.fakes import HashingEmbedder

FULL = Capabilities(logits=True, logit_bias=True, rollback=True)
REFUSAL = "I'm not familiar with that."


class Recording(FakeEngine):
    """The scripted engine, also keeping the processor factories it was given."""

    def __init__(self, **kwargs):
        super().__init__(capabilities=FULL, **kwargs)
        self.processors = []

    def generate(self, turn, processors=()):
        self.processors.append(list(processors))
        return super().generate(turn, processors)


@pytest.fixture
def store(tmp_path):
    s = TargetStore.open(tmp_path / "d", HashingEmbedder(), config=StoreConfig(background=False))
    for t in (EINSTEIN, ADA, TENANT_ONLY):
        s.add(t)
    yield s
    s.close()


@pytest.fixture
def setup(store):
    engine = Recording()
    audit = AuditWriter(store.audit)
    config = UnlearningConfig.load()
    config = config.model_copy(
        update={"scope": config.scope.model_copy(update={"thresholds": {"entity": 2.0}})}
    )
    pipeline = UnlearningPipeline(engine, store, config, audit)
    yield pipeline, engine, audit, store
    audit.close()


def ask(pipeline, text, tenant=None, n=1):
    turn = Turn.chat(
        "req-1", [Message("user", text)], SamplingParams(max_tokens=16, n=n), tenant=tenant
    )
    trace = Trace()

    async def go():
        out = {}
        async for o in pipeline.generate(turn, trace):
            out[o.index] = out.get(o.index, "") + o.text
        return out

    return asyncio.run(go()), trace, turn


def test_a_request_that_touches_no_target_goes_to_the_engine_untouched(setup):
    pipeline, engine, _, _ = setup
    engine.enqueue(Reply(choices=(("The sky", " is blue."),)))
    out, trace, turn = ask(pipeline, "Why is the sky blue?")
    assert out == {0: "The sky is blue."}
    assert engine.turns[-1] is turn and engine.processors[-1] == []
    assert trace.techniques == [] and not trace.refused


def test_an_in_scope_target_gets_every_technique_of_its_kind(setup):
    pipeline, engine, audit, store = setup
    engine.enqueue(Reply(choices=(("He was a", " physicist."),)))
    out, trace, _ = ask(pipeline, "Tell me about Einstein.")
    assert out == {0: "He was a physicist."}
    sent = engine.turns[-1]
    assert sent.messages[0].role == "system" and "Albert Einstein" in sent.messages[0].content
    [factory] = engine.processors[-1]
    mask = factory()
    assert isinstance(mask, ForbiddenTokenMask)
    assert {"albert einstein", "einstein"} <= set(mask.strings.patterns)
    assert trace.techniques == ["in_context", "forbidden_tokens", "output_filter"]
    audit.flush()
    [event] = store.audit.query(AuditQuery(request_id="req-1")).events
    assert (event.target_id, event.technique, event.action) == ("einstein", "scope", "guard")
    assert event.registry_version == store.version and event.body is None


def test_a_refuse_policy_answers_with_the_refusal_without_running_the_model(setup):
    pipeline, engine, audit, store = setup
    out, trace, _ = ask(pipeline, "What is Ada Quill's number?", n=2)
    assert out == {0: REFUSAL, 1: REFUSAL}
    assert engine.turns == [] and trace.refused
    audit.flush()
    events = store.audit.query(AuditQuery(target_id="ada")).events
    assert [(e.technique, e.action) for e in events] == [("scope", "refuse")]


def test_a_leak_the_scope_missed_is_cut_by_the_output_filter(setup):
    pipeline, engine, audit, store = setup
    engine.enqueue(Reply(choices=(("Relativity. ", "It was Albert", " Einstein", "."),)))
    out, trace, _ = ask(pipeline, "Who came up with relativity?")
    assert "Einstein" not in out[0] and out[0].startswith("Relativity.")
    assert [(h.target_id, h.technique) for h in trace.hits] == [
        ("einstein", "output_filter_lexical")
    ]
    audit.flush()
    assert any(
        e.action == "cut" for e in store.audit.query(AuditQuery(target_id="einstein")).events
    )


def test_tenant_targets_only_apply_to_their_tenant(setup):
    pipeline, engine, _, _ = setup
    engine.enqueue(Reply(choices=(("Sure.",),)), Reply(choices=(("Sure.",),)))
    _, acme, _ = ask(pipeline, "Status of Project Nightjar?", tenant="acme")
    _, other, _ = ask(pipeline, "Status of Project Nightjar?", tenant="globex")
    assert [v.target.id for v in acme.verdicts if v.decision == "guard"] == ["acme-secret"]
    assert [v for v in other.verdicts if v.decision != "pass"] == []


def test_techniques_needing_rollback_refuse_an_engine_without_it(store):
    engine = FakeEngine(capabilities=Capabilities(logits=True, logit_bias=True))
    with pytest.raises(ConfigurationError, match="rollback"):
        UnlearningPipeline(engine, store, UnlearningConfig.load())


def test_a_policy_can_name_its_own_techniques(setup, store):
    pipeline, engine, _, _ = setup
    store.add(
        EINSTEIN.model_copy(
            update={
                "id": "curie",
                "name": "Marie Curie",
                "aliases": (),
                "policy": EINSTEIN.policy.model_copy(update={"techniques": ("in_context",)}),
            }
        )
    )
    engine.enqueue(Reply(choices=(("She studied radioactivity.",),)))
    _, trace, _ = ask(pipeline, "Tell me about Marie Curie.")
    assert trace.techniques == ["in_context"] and engine.processors[-1] == []


def test_an_unknown_technique_in_the_config_fails_at_start_up(store):
    config = UnlearningConfig(refusal=REFUSAL, techniques=({"type": "telepathy"},))
    with pytest.raises(ConfigurationError, match="telepathy"):
        UnlearningPipeline(Recording(), store, config)


def test_defaults_naming_an_unconfigured_technique_fail_to_load(tmp_path):
    path = tmp_path / "u.yaml"
    path.write_text("techniques:\n  - type: in_context\n")
    with pytest.raises(ConfigurationError, match="defaults_by_kind"):
        UnlearningConfig.load(path)


def test_without_a_lexical_mention_the_bare_decode_starts_during_the_scope_check(store):
    store.delete("ada")  # a refuse target in scope would answer without any decode
    engine = Recording()
    config = UnlearningConfig.load()
    low = config.model_copy(
        update={
            "scope": config.scope.model_copy(update={"thresholds": {"entity": 0.01}}),
            # at this threshold any answer after the question reads as a leak: not tested here
            "output_filter": config.output_filter.model_copy(update={"question_context": False}),
        }
    )
    pipeline = UnlearningPipeline(engine, store, low)
    engine.enqueue(
        Reply(choices=(tuple(f"bare{i} " for i in range(50)),), delay_s=0.01),
        Reply(choices=(("Guarded answer.",),)),
    )
    out, trace, turn = ask(pipeline, "who came up with relativity")
    assert [t is turn for t in engine.turns] == [True, False]  # speculative, then the plan
    assert engine.cancelled.is_set()  # the speculative decode was dropped ...
    assert out == {0: "Guarded answer."}  # ... before any of it went out
    assert "einstein" in [v.target.id for v in trace.verdicts if v.decision == "guard"]


def test_a_lexical_mention_skips_the_speculative_decode(setup):
    pipeline, engine, _, _ = setup
    engine.enqueue(Reply(choices=(("He was a physicist.",),)))
    ask(pipeline, "Tell me about Einstein.")
    assert len(engine.turns) == 1 and engine.turns[0].messages[0].role == "system"


class Vocab:
    """A stand-in for a local tokenizer's vocabulary (only its presence matters here)."""

    def token_texts(self):
        return ["a", "b"]


@pytest.mark.parametrize(
    "caps",
    [
        FULL,  # hf
        Capabilities(logit_bias=True, vocabulary=Vocab()),  # upstream with a tokenizer
        Capabilities(logits=True, logit_bias=True, vocabulary=Vocab()),  # vllm
    ],
    ids=["hf", "upstream", "vllm"],
)
def test_the_packaged_configuration_starts_on_every_engine(store, caps):
    engine = FakeEngine(capabilities=caps)
    pipeline = UnlearningPipeline(engine, store, UnlearningConfig.load())
    assert {t.name for t in pipeline._techniques} >= {"in_context", "output_filter", "agentic"}
    pipeline.close()
