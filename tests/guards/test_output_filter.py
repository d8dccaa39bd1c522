"""The streaming output filter, over a real snapshot (lexical) and a real embedder (semantic)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from lethe.decoders import GenerationOutput, Usage
from lethe.guards.output_filter import FilterConfig, FilterScope, GuardedTarget, OutputFilter

REFUSAL = "I'm not familiar with that."


async def fake_stream(pieces_by_choice, finish="stop"):
    """Interleave each choice's pieces; the last piece of each choice carries ``finish``."""
    longest = max(len(p) for p in pieces_by_choice)
    for step in range(longest):
        for index, pieces in enumerate(pieces_by_choice):
            if step < len(pieces):
                last = step == len(pieces) - 1
                yield GenerationOutput(
                    index, pieces[step], Usage(5, step + 1), (), finish if last else None
                )


def run(flt, pieces_by_choice, scope):
    async def go():
        out = {}
        stream = flt.apply(fake_stream(pieces_by_choice), scope, choices=len(pieces_by_choice))
        async for o in stream:
            text, reason = out.get(o.index, ("", None))
            out[o.index] = (text + o.text, o.finish_reason or reason)
        return out

    return asyncio.run(go())


def split(text, size):
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The theory of relativity is a famous idea. It changed physics.", None),
        ("It was Albert Einstein. He was born in Ulm.", REFUSAL),
        ("Physics is fun. It was E-i-n-s-t-e-i-n who did it.", "Physics is fun."),
        ("Physics is fun. It was EINSTEIN.", "Physics is fun."),
        ("Physics is fun. e i n s t e i n did it.", "Physics is fun."),
        ("A stone. Einsteinium is an element.", None),  # not the word Einstein
        ("Call 555 0142 now.", REFUSAL),  # a forbidden string, however it is grouped
        ("The capital of Estonia is not Tartu.", REFUSAL),
    ],
)
@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_lexical_filter_never_emits_a_mention_whatever_the_chunking(store, text, expected, chunk):
    flt = OutputFilter(FilterConfig(), None)
    scope = FilterScope(store.snapshot, None, (), REFUSAL)
    got, reason = run(flt, [split(text, chunk)], scope)[0]
    assert reason == "stop"
    if expected is None:
        assert got == text
        return
    assert store.snapshot.lexical_hits(got) == []  # the mention never goes out
    if chunk >= len(text):
        assert got == expected  # whole text at once: cut at the sentence, or the refusal
    else:
        # Streamed: what went out before the mention stays; the choice ends right there.
        assert got == REFUSAL or text.startswith(got)


def test_unrelated_text_streams_with_a_few_characters_held_at_most(store):
    flt = OutputFilter(FilterConfig(), None)
    scope = FilterScope(store.snapshot, None, (), REFUSAL)
    pieces = split("The quick brown fox jumps over the lazy dog and keeps running.", 2)

    async def go():
        emitted, lags = "", []
        fed = ""

        async def source():
            nonlocal fed
            async for o in fake_stream([pieces]):
                fed += o.text
                yield o

        async for o in flt.apply(source(), scope):
            emitted += o.text
            lags.append(len(fed) - len(emitted))
        return emitted, lags

    emitted, lags = asyncio.run(go())
    assert emitted.endswith("running.")
    assert max(lags) <= 4


def test_tenant_targets_apply_only_to_that_tenant(store):
    flt = OutputFilter(FilterConfig(), None)
    text = ["Project Nightjar ships in May."]
    acme = run(flt, [text], FilterScope(store.snapshot, "acme", (), REFUSAL))[0][0]
    other = run(flt, [text], FilterScope(store.snapshot, "globex", (), REFUSAL))[0][0]
    assert acme == REFUSAL and other == text[0]


def test_each_choice_is_filtered_on_its_own_and_hits_are_reported(store):
    hits = []
    flt = OutputFilter(FilterConfig(finish_reason="content_filter"), None)
    scope = FilterScope(store.snapshot, None, (), REFUSAL, on_hit=hits.append)
    out = run(flt, [split("Sure. Einstein did.", 4), split("Newton did.", 4)], scope)
    assert (out[0][0].rstrip(), out[0][1]) == ("Sure.", "content_filter")
    assert out[1] == ("Newton did.", "stop")
    assert [(h.index, h.target_id, h.technique) for h in hits] == [
        (0, "einstein", "output_filter_lexical")
    ]


def test_an_empty_registry_passes_the_stream_through_untouched(empty_store):
    flt = OutputFilter(FilterConfig(), None)
    pieces = ["Albert", " Einstein", " did."]
    got = run(flt, [pieces], FilterScope(empty_store.snapshot, None, (), REFUSAL))[0]
    assert got == ("Albert Einstein did.", "stop")


@pytest.mark.embedder
def test_semantic_check_catches_a_paraphrased_leak_in_scope(tmp_path):
    from lethe.indices import SentenceTransformerEmbedder, StoreConfig, TargetStore
    from tests.guards.conftest import EINSTEIN

    embedder = SentenceTransformerEmbedder()
    store = TargetStore.open(tmp_path / "d", embedder, config=StoreConfig(background=False))
    store.add(EINSTEIN)
    hits = []
    scope = FilterScope(
        store.snapshot, None, (GuardedTarget("einstein", 0.5),), REFUSAL, hits.append
    )
    flt = OutputFilter(FilterConfig(), embedder)
    leak = "The theory of relativity was developed by a physicist born in Ulm. More text."
    got = run(flt, [split(leak, 5)], scope)[0][0]
    assert got == REFUSAL and hits[0].technique == "output_filter_semantic"
    fine = "Bread is made from flour, water and yeast. It is baked in an oven."
    assert run(flt, [split(fine, 5)], scope)[0][0] == fine
    store.close()


def test_the_lexical_check_can_be_turned_off_for_an_ablation(store):
    text = "It was Albert Einstein. He was born in Ulm."
    flt = OutputFilter(FilterConfig(lexical=False), None)
    got, reason = run(flt, [split(text, 3)], FilterScope(store.snapshot, None, (), REFUSAL))[0]
    assert (got, reason) == (text, "stop")


@pytest.mark.embedder
@pytest.mark.parametrize(
    ("question_context", "expected"), [(True, REFUSAL), (False, "Sure! Microsoft.")]
)
def test_a_short_answer_is_judged_after_the_question_it_answers(
    tmp_path, question_context, expected
):
    from lethe.indices import ForgetTarget, OnnxEmbedder, StoreConfig, TargetStore

    embedder = OnnxEmbedder(cache_dir=Path(os.environ["LETHE_EMBEDDER_CACHE_DIR"]))
    store = TargetStore.open(tmp_path / "d", embedder, config=StoreConfig(background=False))
    store.add(
        ForgetTarget(
            id="gates",
            kind="entity",
            name="Bill Gates",
            content=["Bill Gates is an American businessman who co-founded Microsoft."],
        )
    )
    scope = FilterScope(
        store.snapshot,
        None,
        (GuardedTarget("gates", 0.55),),
        REFUSAL,
        question="Which company did Bill Gates co-found?",
    )
    flt = OutputFilter(FilterConfig(question_context=question_context), embedder)
    assert run(flt, [split("Sure! Microsoft.", 4)], scope)[0][0] == expected
    retain = FilterScope(
        store.snapshot,
        None,
        (GuardedTarget("gates", 0.55),),
        REFUSAL,
        question="Who formulated the laws of motion?",
    )
    answer = "Isaac Newton formulated the laws of motion."
    assert run(flt, [split(answer, 4)], retain)[0][0] == answer
    store.close()
