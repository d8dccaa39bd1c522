"""Techniques: the strategy each picks for an engine's capabilities, and what it adds to a plan."""

from __future__ import annotations

import doctest

import pytest

from lethe.decoders import Capabilities, Message, SamplingParams, Turn
from lethe.decoders.masking import ForbiddenTokenMask
from lethe.decoders.token_bans import (
    BAN,
    ListVocabulary,
    PrefixMask,
    PrefixMaskFactory,
    ban_candidates,
)
from lethe.errors import ConfigurationError
from lethe.guards import techniques
from lethe.guards.scope import TargetVerdict
from lethe.guards.techniques import TECHNIQUES, ForbiddenTokens, Plan, build_technique
from lethe.indices import ForgetTarget

VOCAB = ListVocabulary(["<eos>", " Ada", "Ada", " Quill", "Quill", " Tartu", "Tartu", " ", "x"])
ADA = ForgetTarget(
    id="ada", kind="entity", name="Ada Quill", aliases=["Quill"], forbidden=["Tartu"]
)
REFUSAL = "I can't help with that."
USER_BIAS = {8: 5.0, 1: 50.0}  # "x" up, " Ada" up (a ban must win there)


def verdicts(*targets: ForgetTarget) -> list[TargetVerdict]:
    return [TargetVerdict(t, "guard", True, None, 0.5) for t in targets]


def plan(logit_bias: dict[int, float] | None = None) -> Plan:
    params = SamplingParams(max_tokens=8, logit_bias=logit_bias or {})
    return Plan(Turn.chat("r", [Message("user", "Where does Ada live?")], params), REFUSAL)


def bound(caps: Capabilities, **params) -> ForbiddenTokens:
    tech = build_technique("forbidden_tokens", params)
    assert isinstance(tech, ForbiddenTokens)
    tech.bind(caps)
    return tech


@pytest.mark.parametrize(
    ("caps", "strategy"),
    [
        (Capabilities(logits=True, rollback=True), "rollback"),
        (Capabilities(logits=True, logit_bias=True, rollback=True, vocabulary=VOCAB), "rollback"),
        (Capabilities(logits=True, vocabulary=VOCAB), "prefix_mask"),
        (Capabilities(logits=True, logit_bias=True, vocabulary=VOCAB), "prefix_mask"),
        (Capabilities(logit_bias=True, vocabulary=VOCAB), "logit_bias"),
    ],
)
def test_forbidden_tokens_picks_the_strongest_strategy_the_engine_allows(caps, strategy):
    assert bound(caps).strategy == strategy


@pytest.mark.parametrize(
    ("caps", "offered"),
    [
        (Capabilities(), "offers none of these (give the engine the served model's tokenizer)"),
        (Capabilities(logit_bias=True), "offers logit_bias (give the engine"),
        (Capabilities(logits=True), "offers logits ("),  # the pipeline's own check: rollback
        (Capabilities(logits=True, logit_bias=True), "offers logits, logit_bias ("),
        (Capabilities(vocabulary=VOCAB), "offers vocabulary"),  # a tokenizer but no lever
        (Capabilities(rollback=True, vocabulary=VOCAB), "offers rollback, vocabulary"),
    ],
)
def test_forbidden_tokens_refuses_an_engine_it_cannot_run_on(caps, offered):
    with pytest.raises(ConfigurationError) as info:
        bound(caps)
    message = str(info.value)
    assert message.startswith("technique 'forbidden_tokens' needs an engine with logits and ")
    assert "rollback" in message and "vocabulary (a local tokenizer)" in message
    assert offered in message
    assert ("give the engine" in message) == (caps.vocabulary is None)


@pytest.mark.parametrize("name", sorted(set(TECHNIQUES) - {"forbidden_tokens", "contrastive"}))
def test_other_techniques_run_on_any_engine(name):
    build_technique(name).bind(Capabilities(streaming=False))


@pytest.mark.parametrize(
    "caps",
    [
        Capabilities(logits=True, logit_bias=True),  # an upstream with a local tokenizer
        Capabilities(logit_bias=True),  # an upstream
        Capabilities(logits=True, assistant=True),  # says so, but offers no assistants
    ],
)
def test_contrastive_refuses_an_engine_without_logits_and_assistants(caps):
    with pytest.raises(ConfigurationError, match="technique 'contrastive' needs an engine with"):
        build_technique("contrastive").bind(caps)


class RecordingAssistants:
    def __init__(self, trained=None):
        self.calls = []
        self._trained = trained

    def contrastive(self, context, config, *, layers=None):
        self.calls.append((context, config, layers))
        return lambda: "processor"

    def trained(self):
        return self._trained


class FakeTrained:
    """A trained assistant covering the targets named."""

    registry_version = 7

    def __init__(self, *covered):
        self.covered = set(covered)
        self.configs = []

    def covers(self, target):
        return target.id in self.covered

    def contrastive(self, config):
        self.configs.append(config)
        return lambda: "trained-processor"


BEA = ForgetTarget(id="bea", kind="entity", name="Bea Lorn")


@pytest.mark.parametrize(
    ("assistant", "covered", "processors", "live_context_starts"),
    [
        ("trained", {"ada", "bea"}, ["trained-processor"], None),  # all covered: no live pass
        ("trained", {"ada"}, ["trained-processor", "processor"], "Bea Lorn."),  # bea added since
        ("trained", set(), ["processor"], "Ada Quill"),  # nothing covered: all live
        ("live", {"ada", "bea"}, ["processor"], "Ada Quill"),  # trained one not asked for
    ],
)
def test_contrastive_with_a_trained_assistant(assistant, covered, processors, live_context_starts):
    trained = FakeTrained(*covered)
    assistants = RecordingAssistants(trained)
    tech = build_technique("contrastive", {"assistant": assistant, "weight": 0.5})
    tech.bind(Capabilities(logits=True, assistant=True, assistants=assistants))
    p = plan()
    tech.apply(p, verdicts(ADA, BEA))
    assert p.fired == ["contrastive"] and [f() for f in p.processors] == processors
    if trained.configs:  # the trained assistant is contrasted by ULD with the given weight
        assert [(c.rule, c.weight, c.top_ratio) for c in trained.configs] == [("uld", 0.5, 0.01)]
    if live_context_starts is None:
        assert assistants.calls == []
    else:
        [(context, _, _)] = assistants.calls
        assert context.startswith(live_context_starts)


def test_contrastive_leaves_a_target_redacted_from_the_documents_to_the_live_assistant():
    trained = FakeTrained("ada", "bea")
    assistants = RecordingAssistants(trained)
    tech = build_technique("contrastive", {"assistant": "trained"})
    tech.bind(Capabilities(logits=True, assistant=True, assistants=assistants))
    p = plan()
    p.from_context.add("ada")  # its record was in the operator's directory
    tech.apply(p, verdicts(ADA, BEA))
    assert [f() for f in p.processors] == ["trained-processor", "processor"]
    [(context, _, _)] = assistants.calls
    assert context.startswith("Ada Quill") and "Bea Lorn" not in context


def test_contrastive_trained_without_a_run_yet_is_live():
    assistants = RecordingAssistants(trained=None)
    tech = build_technique("contrastive", {"assistant": "trained"})
    tech.bind(Capabilities(logits=True, assistant=True, assistants=assistants))
    p = plan()
    tech.apply(p, verdicts(ADA))
    assert [f() for f in p.processors] == ["processor"] and len(assistants.calls) == 1


def test_contrastive_conditions_the_assistant_on_the_targets_content():
    assistants = RecordingAssistants()
    tech = build_technique("contrastive", {"alpha": 3.0, "layers": 4})
    tech.bind(Capabilities(logits=True, assistant=True, assistants=assistants))
    p = plan()
    tech.apply(p, verdicts(ADA))
    assert p.fired == ["contrastive"] and p.processors[0]() == "processor"
    [(context, config, layers)] = assistants.calls
    assert context.startswith("Ada Quill, also known as Quill.")
    assert (config.rule, config.alpha, config.plausibility, layers) == ("ucd", 3.0, 0.1, 4)


def test_contrastive_leaves_out_a_target_only_the_documents_name():
    assistants = RecordingAssistants()
    tech = build_technique("contrastive")
    tech.bind(Capabilities(logits=True, assistant=True, assistants=assistants))
    p = plan()
    p.absent.add("ada")
    tech.apply(p, verdicts(ADA))
    assert p.processors == [] and p.fired == [] and assistants.calls == []


def test_contrastive_rejects_bad_params():
    with pytest.raises(ConfigurationError, match="contrastive: unknown contrastive rule"):
        build_technique("contrastive", {"rule": "xyz"})
    with pytest.raises(ConfigurationError, match="assistant is live or trained"):
        build_technique("contrastive", {"assistant": "remote"})


def test_rollback_adds_one_mask_per_choice():
    tech, p = bound(Capabilities(logits=True, rollback=True)), plan()
    tech.apply(p, verdicts(ADA))
    assert p.fired == ["forbidden_tokens"] and len(p.processors) == 1
    first, second = p.processors[0](), p.processors[0]()
    assert isinstance(first, ForbiddenTokenMask) and first is not second
    assert p.masks == [first, second]
    assert set(first.strings.patterns) == {"ada quill", "quill", "tartu"}


def test_prefix_mask_adds_a_factory_with_the_strings_and_leaves_the_turn():
    tech, p = bound(Capabilities(logits=True, vocabulary=VOCAB)), plan(USER_BIAS)
    turn = p.turn
    tech.apply(p, verdicts(ADA))
    assert p.fired == ["forbidden_tokens"] and p.turn is turn and p.masks == []
    [factory] = p.processors
    assert isinstance(factory, PrefixMaskFactory) and factory.vocabulary is VOCAB
    assert set(factory.strings) == {"Tartu", "Ada Quill", "Quill"}
    assert isinstance(factory(), PrefixMask)


def test_logit_bias_merges_bans_into_the_request_and_adds_no_processor():
    tech, p = bound(Capabilities(logit_bias=True, vocabulary=VOCAB)), plan(USER_BIAS)
    original = p.turn
    tech.apply(p, verdicts(ADA))
    assert p.fired == ["forbidden_tokens"] and p.processors == [] and p.masks == []
    bias = dict(p.turn.params.logit_bias)
    assert bias[8] == 5.0  # the user's own bias is kept
    assert bias[1] == BAN  # " Ada" starts "Ada Quill": the ban wins over the user's +50
    banned = {VOCAB.token_texts()[t] for t, b in bias.items() if b == BAN}
    assert banned == {" Ada", "Ada", " Quill", "Quill", " Tartu", "Tartu"}
    assert p.turn.messages == original.messages
    assert dict(original.params.logit_bias) == USER_BIAS  # the request itself is not changed


def test_logit_bias_respects_the_limit():
    tech = bound(Capabilities(logit_bias=True, vocabulary=VOCAB), logit_bias_limit=3)
    p = plan(USER_BIAS)
    tech.apply(p, verdicts(ADA))
    bias = dict(p.turn.params.logit_bias)
    assert len(bias) == 3 and bias[8] == 5.0 and bias[1] == BAN
    first = ban_candidates(["Tartu", "Ada Quill", "Quill"], VOCAB)
    assert [t for t in bias if t not in USER_BIAS] == [t for t in first if t not in USER_BIAS][:1]


@pytest.mark.parametrize(
    "caps",
    [
        Capabilities(logits=True, rollback=True),
        Capabilities(logits=True, vocabulary=VOCAB),
        Capabilities(logit_bias=True, vocabulary=VOCAB),
    ],
)
def test_nothing_fires_without_strings(caps):
    tech, p = bound(caps, names=False), plan()
    turn = p.turn
    tech.apply(p, verdicts(ForgetTarget(id="t", kind="entity", name="Nobody")))
    assert p.fired == [] and p.processors == [] and p.turn is turn


def test_unknown_params_and_names_are_configuration_errors():
    with pytest.raises(ConfigurationError, match="forbidden_tokens"):
        build_technique("forbidden_tokens", {"max_rollback": 3})
    with pytest.raises(ConfigurationError, match="unknown technique"):
        build_technique("forbidden_token")


def test_module_docstring_example():
    result = doctest.testmod(techniques, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_context_redaction_takes_the_target_out_of_the_documents_before_in_context_runs():
    directory = "Directory:\n- Ada Quill: lives in Tartu.\n- Bo Lind: lives in Tallinn."
    params = SamplingParams(max_tokens=8)
    messages = [Message("system", directory), Message("user", "Where does Ada Quill live?")]
    p = Plan(Turn.chat("r", messages, params), REFUSAL)
    for name in ("context_redaction", "in_context"):
        build_technique(name).apply(p, verdicts(ADA))
    assert p.fired == ["context_redaction", "in_context"] and p.from_context == {"ada"}
    system = p.turn.messages[0].content
    assert system.startswith("Directory:\n- Bo Lind: lives in Tallinn.") and "Tartu" not in system
    assert [m.role for m in p.turn.messages] == ["system", "user"]  # no forget demonstration


def test_context_redaction_of_an_earlier_turn_keeps_the_forget_demonstrations():
    messages = [
        Message("user", "Tell me about Ada Quill."),
        Message("assistant", "She lives in Tartu."),
        Message("user", "Where does she live?"),
    ]
    p = Plan(Turn.chat("r", messages, SamplingParams(max_tokens=8)), REFUSAL)
    target = ADA.model_copy(update={"content": ("Ada Quill lives in Tartu.",)})
    for name in ("context_redaction", "in_context"):
        build_technique(name).apply(p, verdicts(target))
    assert p.fired == ["context_redaction", "in_context"] and p.from_context == set()
    assert REFUSAL in [m.content for m in p.turn.messages if m.role == "assistant"]
    assert all("Tartu" not in m.content for m in p.turn.messages)


def test_context_redaction_without_a_mention_does_not_fire():
    p = plan()
    build_technique("context_redaction").apply(p, verdicts(ADA))
    assert p.fired == [] and p.turn.messages[0].content == "Where does Ada live?"


def test_a_target_only_the_documents_name_leaves_the_prompt_as_the_bare_model_sees_it():
    directory = "Directory:\n- Ada Quill: lives in Tartu.\n- Bo Lind: lives in Tallinn."
    messages = [Message("system", directory), Message("user", "Where does Bo Lind live?")]
    turn = Turn.chat("r", messages, SamplingParams(max_tokens=8))
    p = Plan(turn, REFUSAL)
    for name in ("context_redaction", "in_context"):
        build_technique(name).apply(p, verdicts(ADA))
    assert p.absent == {"ada"} and p.fired == [] and p.turn is turn


def test_forget_context_names_the_target_then_its_facts():
    from lethe.guards.techniques import forget_context

    target = ForgetTarget(
        id="e",
        kind="entity",
        name="Albert Einstein",
        aliases=["Einstein"],
        content=[{"question": "Who developed relativity?", "answer": "Einstein"}, "Born in Ulm."],
    )
    assert forget_context([target], facts=8) == (
        "Albert Einstein, also known as Einstein.\n"
        "Who developed relativity? Einstein\n"
        "Born in Ulm.\n"
    )
    assert forget_context([target], facts=1).count("\n") == 2
