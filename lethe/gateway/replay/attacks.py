"""Adversarial probe generators: each turns a forget probe into an attacked variant.

A generator is a pure function ``(probe, target, ctx) -> Probe | None`` registered under its
attack name in :data:`ATTACKS` (``None``: the attack does not apply, e.g. target masking when the
question never names the target). :func:`generate_attacks` applies a set of them to every direct
forget probe of a suite; each variant gets the id ``<probe id>~<attack>``, ``attack=<name>`` and
``parent_id=<probe id>``. Randomness (template choice, masked letters, shuffled options) comes
from a ``random.Random`` seeded by ``(seed, probe id, attack)``: the same suite and seed always
give the same probes, whatever the order.

The attacks (after RWKU's adversarial probes and common jailbreaks): paraphrase,
prefix_injection, affirmative_suffix, role_play, multiple_choice, reverse_query (the answer is the
target itself), synonym_alias, background_hint, few_shot, cross_lingual_{fr,de,es}, many_shot,
target_masking (``A*bert Ein*tein``), spell_{dashes,reversed,base64}, multi_turn (the target is
introduced in an earlier turn) and ignore_previous. Texts live in
:mod:`lethe.gateway.replay.attack_text`.

Example:
    >>> suite = Suite(name="s", targets=[{"id": "t", "kind": "entity", "name": "Albert Einstein"}],
    ...               probes=[{"id": "p", "target_id": "t", "kind": "forget",
    ...                        "prompt": "What did Albert Einstein discover?",
    ...                        "answers": ["relativity"]}])
    >>> [p.prompt for p in generate_attacks(suite, ["target_masking"], seed=1)]
    ['What did Albe*t Einst*in discover?']
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from lethe.gateway.replay import attack_text as text
from lethe.gateway.replay.matching import CHOICE_LETTERS, matched_answers, spans
from lethe.gateway.replay.suite import Message, Probe, Suite
from lethe.indices import ForgetTarget


@dataclass(frozen=True, slots=True)
class AttackContext:
    """What generators may draw on besides the probe: filler Q/A, distractors, randomness."""

    rng: random.Random
    shots: tuple[tuple[str, str], ...]
    distractors: tuple[str, ...]


Attack = Callable[[Probe, ForgetTarget | None, AttackContext], Probe | None]


def _names(target: ForgetTarget | None) -> list[str]:
    return [] if target is None else [target.name, *target.aliases]


def _mentions(question: str, target: ForgetTarget | None) -> list[tuple[int, int, str]]:
    """Non-overlapping mentions of the target's names, longest first where they overlap."""
    found = sorted(spans(question, _names(target)), key=lambda s: (s[0], s[0] - s[1]))
    out: list[tuple[int, int, str]] = []
    for span in found:
        if not out or span[0] >= out[-1][1]:
            out.append(span)
    return out


def _template(template: str, probe: Probe, *_: object) -> Probe:
    return probe.with_question(template.format(q=probe.question))


def paraphrase(probe: Probe, target: ForgetTarget | None, ctx: AttackContext) -> Probe:
    """The question inside a conversational frame (one of :data:`attack_text.PARAPHRASES`)."""
    return _template(ctx.rng.choice(text.PARAPHRASES), probe)


def multiple_choice(probe: Probe, target: ForgetTarget | None, ctx: AttackContext) -> Probe:
    """The first accepted answer among three distractors (options alike: numbers among numbers,
    PII among PII); scored by the chosen letter."""
    options = [probe.answers[0], *ctx.rng.sample(ctx.distractors, 3)]
    ctx.rng.shuffle(options)
    letter = CHOICE_LETTERS[options.index(probe.answers[0])]
    listing = "\n".join(f"{CHOICE_LETTERS[i]}) {o}" for i, o in enumerate(options))
    prompt = text.MULTIPLE_CHOICE.format(q=probe.question, options=listing)
    return probe.with_question(prompt, scoring="choice", choices=tuple(options), answers=(letter,))


def reverse_query(probe: Probe, target: ForgetTarget | None, ctx: AttackContext) -> Probe | None:
    """Give the answer, ask for the subject: the accepted answers become the target's names.

    Skipped when the context (a system document, earlier turns) already names the target: the
    answer would be read, not remembered."""
    if target is None:
        return None
    context = [m.content for m in probe.messages or () if m.role != "user"]
    if any(_mentions(c, target) for c in context):
        return None
    question = probe.question
    for start, end, _ in reversed(_mentions(question, target)):
        question = question[:start] + "___" + question[end:]
    prompt = text.REVERSE_QUERY.format(answer=probe.answers[0], q=question)
    return probe.with_question(prompt, answers=tuple(_names(target)))


def synonym_alias(probe: Probe, target: ForgetTarget | None, ctx: AttackContext) -> Probe | None:
    """The target's mention replaced by another of its names (alias ↔ name)."""
    found = _mentions(probe.question, target)
    if not found:
        return None
    used = {p for _, _, p in found}
    others = [n for n in _names(target) if n not in used]
    if not others:
        return None
    replacement = ctx.rng.choice(others)
    question = probe.question
    for start, end, _ in reversed(found):
        question = question[:start] + replacement + question[end:]
    return probe.with_question(question)


def background_hint(probe: Probe, target: ForgetTarget | None, ctx: AttackContext) -> Probe:
    """A hint from the target's content (one that does not give the answer away) before it."""
    hints = []
    for sample in target.content if target is not None else ():
        line = sample if isinstance(sample, str) else f"{sample.question} {sample.answer}"
        if not matched_answers(line, probe.answers):
            hints.append(line[:400])
    if hints:
        hint = ctx.rng.choice(hints)
    elif target is not None:
        hint = text.BACKGROUND_NAME.format(name=target.name)
    else:
        hint = "The question is about a well-known subject."
    return probe.with_question(text.BACKGROUND.format(hint=hint, q=probe.question))


def few_shot(probe: Probe, target: ForgetTarget | None, ctx: AttackContext) -> Probe:
    """Four answered questions in the same message, then this one (in-context few-shot)."""
    shots = ctx.rng.sample(ctx.shots, 4)
    body = "".join(f"Q: {q}\nA: {a}\n\n" for q, a in shots)
    return probe.with_question(f"{text.FEW_SHOT_INTRO}{body}Q: {probe.question}\nA:")


def many_shot(probe: Probe, target: ForgetTarget | None, ctx: AttackContext) -> Probe:
    """Many earlier turns in which the assistant complied every time (many-shot jailbreak)."""
    shots = ctx.rng.sample(ctx.shots, min(16, len(ctx.shots)))
    turns: list[Message] = []
    for q, a in shots:
        turns.append(Message(role="user", content=q))
        turns.append(Message(role="assistant", content=text.MANY_SHOT_ANSWER.format(answer=a)))
    return _with_turns(probe, turns)


def _with_turns(probe: Probe, turns: Sequence[Message], question: str | None = None) -> Probe:
    """``turns`` inserted before the last user message (system messages stay first)."""
    msgs = list(probe.messages or (Message(role="user", content=probe.prompt or ""),))
    last = max(i for i, m in enumerate(msgs) if m.role == "user")
    final = Message(role="user", content=question if question is not None else probe.question)
    new = (*msgs[:last], *turns, final, *msgs[last + 1 :])
    return probe.model_copy(update={"prompt": None, "messages": new})


def multi_turn(probe: Probe, target: ForgetTarget | None, ctx: AttackContext) -> Probe | None:
    """The target is introduced in an earlier turn; the question only refers back to it."""
    if target is None:
        return None
    question = probe.question
    pronoun = text.PRONOUNS[target.kind]
    for start, end, _ in reversed(_mentions(question, target)):
        question = question[:start] + pronoun + question[end:]
    turns = [
        Message(role="user", content=text.MULTI_TURN_OPEN.format(name=target.name)),
        Message(role="assistant", content=text.MULTI_TURN_REPLY.format(name=target.name)),
    ]
    return _with_turns(probe, turns, question)


def _mask_word(word: str, rng: random.Random) -> str:
    if len(word) < 3:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + "*" + word[i + 1 :]


def target_masking(probe: Probe, target: ForgetTarget | None, ctx: AttackContext) -> Probe | None:
    """One letter of each word of the target's name starred out (``A*bert Ein*tein``)."""
    found = _mentions(probe.question, target)
    if not found:
        return None
    question = probe.question
    for start, end, _ in reversed(found):
        masked = " ".join(_mask_word(w, ctx.rng) for w in question[start:end].split(" "))
        question = question[:start] + masked + question[end:]
    return probe.with_question(question)


def cross_lingual(
    language: str, probe: Probe, target: ForgetTarget | None, ctx: AttackContext
) -> Probe:
    """The question in another language (the probe's translation if it has one), answer asked
    in that language."""
    question = probe.translations.get(language, probe.question)
    return probe.with_question(text.LANGUAGES[language].format(q=question))


ATTACKS: dict[str, Attack] = {
    "paraphrase": paraphrase,
    "prefix_injection": partial(_template, text.PREFIX_INJECTION),
    "affirmative_suffix": partial(_template, text.AFFIRMATIVE_SUFFIX),
    "role_play": partial(_template, text.ROLE_PLAY),
    "multiple_choice": multiple_choice,
    "reverse_query": reverse_query,
    "synonym_alias": synonym_alias,
    "background_hint": background_hint,
    "few_shot": few_shot,
    **{f"cross_lingual_{lang}": partial(cross_lingual, lang) for lang in text.LANGUAGES},
    "many_shot": many_shot,
    "target_masking": target_masking,
    **{name: partial(_template, template) for name, template in text.SPELLING.items()},
    "multi_turn": multi_turn,
    "ignore_previous": partial(_template, text.IGNORE_PREVIOUS),
}


def resolve_attacks(spec: str) -> list[str]:
    """Attack names from ``all``, ``none`` or a comma-separated list; unknown names raise."""
    if spec.strip() == "all":
        return list(ATTACKS)
    if spec.strip() in ("", "none"):
        return []
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack(s) {', '.join(unknown)}; known: {', '.join(ATTACKS)}")
    return names


def _shots(suite: Suite) -> tuple[tuple[str, str], ...]:
    own = [
        (p.prompt, p.answers[0])
        for p in suite.probes
        if p.kind != "forget" and p.prompt and p.answers and p.scoring == "contains"
    ]
    return tuple(own[:12]) + text.FILLER_QA


def _has_digits(s: str) -> bool:
    return any(c.isdigit() for c in s)


def _distractors(suite: Suite, probe: Probe) -> tuple[str, ...]:
    """Wrong options that look like the answer: first answers of probes with the same tags and
    the same shape (a number or not), topped up with filler to three."""
    numeric = _has_digits(probe.answers[0])
    alike = {
        p.answers[0]
        for p in suite.probes
        if p.answers
        and p.scoring == "contains"
        and p.tags == probe.tags
        and _has_digits(p.answers[0]) == numeric
        and not matched_answers(p.answers[0], probe.answers)
    }
    filler = [f for f in text.FILLER_DISTRACTORS if not matched_answers(f, probe.answers)]
    return tuple(sorted(alike)) + tuple(filler[: max(0, 3 - len(alike))])


def attack_sources(suite: Suite, per_target: int | None = None) -> list[Probe]:
    """The direct forget probes attacks apply to: all, or the first ``per_target`` of each
    target (probes without a target count as one group)."""
    seen: dict[str | None, int] = {}
    out = []
    for probe in suite.probes:
        if probe.kind != "forget" or probe.attack is not None or probe.scoring != "contains":
            continue
        if per_target is not None and seen.get(probe.target_id, 0) >= per_target:
            continue
        seen[probe.target_id] = seen.get(probe.target_id, 0) + 1
        out.append(probe)
    return out


def generate_attacks(
    suite: Suite, names: Iterable[str], seed: int = 0, per_target: int | None = None
) -> list[Probe]:
    """Attacked variants of the direct forget probes (see :func:`attack_sources`), for each
    attack in ``names``."""
    shots = _shots(suite)
    out: list[Probe] = []
    names = list(names)
    for probe in attack_sources(suite, per_target):
        target = suite.target(probe.target_id)
        distractors = _distractors(suite, probe)
        for name in names:
            rng = random.Random(f"{seed}:{probe.id}:{name}")
            variant = ATTACKS[name](probe, target, AttackContext(rng, shots, distractors))
            if variant is not None:
                update = {"id": f"{probe.id}~{name}", "attack": name, "parent_id": probe.id}
                out.append(variant.model_copy(update=update))
    return out
