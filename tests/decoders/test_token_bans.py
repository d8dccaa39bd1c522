"""Forbidden strings as token bans: logit_bias candidates, their merge with the user's own
biases, and prefix masks that never let a forbidden string complete, whatever the tokenisation."""

from __future__ import annotations

import doctest
from dataclasses import dataclass, field

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from lethe.decoders import token_bans
from lethe.decoders.forbidden import ForbiddenStrings
from lethe.decoders.token_bans import (
    BAN,
    ListVocabulary,
    PrefixBans,
    PrefixMask,
    PrefixMaskFactory,
    TokenizerVocabulary,
    VocabularyIndex,
    ban_candidates,
    merge_bans,
)
from tests.tiny_model import tiny_tokenizer

# "Paris" can be spelled " Paris", " Par"+"is", " P"+"aris", " Pa"+"ri"+"s", "Par"+"is", ...
TEXTS = [
    "<eos>", " Paris", " Par", "is", " P", "aris", " Pa", "ri", "s", "Paris", "Par", "P",
    "PARIS", " paris", "isian", " Parisian", ".paris", "xparis", "compar", " com", " the",
    " saw", " I", "I", " ", ".", "x", "a", "'s",
]  # fmt: skip
VOCAB = ListVocabulary(TEXTS)
PIECES = {" Paris", " Par", "is", " P", "aris", " Pa", "ri", "s", "Paris", "Par", "P", "PARIS"}


def ids(*texts: str) -> list[int]:
    return [TEXTS.index(t) for t in texts]


def texts_of(token_ids) -> set[str]:
    return {TEXTS[i] for i in token_ids}


@dataclass
class View:
    """A :class:`~lethe.decoders.SequenceView` over a fixed text."""

    text: str
    prompt_ids: list[int] = field(default_factory=list)
    output_ids: list[int] = field(default_factory=list)


# -- vocabularies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        (" Paris", [" Paris"]),  # the longest token wins
        (" Parisian", [" Parisian"]),
        (" Part", [" Par"]),  # "t" has no token: skipped
        ("I saw Paris.", ["I", " saw", " Paris", "."]),
        ("?!", []),
        ("", []),
    ],
)
def test_list_vocabulary_encodes_longest_token_first(text, tokens):
    assert VOCAB.encode(text) == ids(*tokens)
    assert VOCAB.token_texts() == TEXTS


def test_tokenizer_vocabulary_over_a_byte_level_tokenizer():
    tok = tiny_tokenizer()
    vocab = TokenizerVocabulary(tok)
    texts = vocab.token_texts()
    assert len(texts) == len(tok)
    assert "".join(texts[i] for i in vocab.encode(" Paris is nice")) == " Paris is nice"
    assert all(texts[i] == "" for i in tok.all_special_ids)


def test_tokenizer_vocabulary_loads_its_tokenizer_once_on_first_use():
    calls = []

    def load():
        calls.append(1)
        return tiny_tokenizer()

    vocab = TokenizerVocabulary(load)
    assert calls == []
    vocab.encode("Paris")
    vocab.token_texts()
    assert calls == [1]


def sentencepiece_style_tokenizer() -> PreTrainedTokenizerFast:
    """A Metaspace ("▁Paris") tokenizer like Llama's or Mistral's, trained in-process."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=200, special_tokens=["<unk>", "</s>"], show_progress=False
    )
    tok.train_from_iterator(["I saw Paris in the spring. Paris is nice."] * 4, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="</s>")


def test_sentencepiece_tokens_keep_their_leading_space():
    # Decoded alone, "▁Paris" reads "Paris"; behind other text it reads " Paris". With the
    # former, " Paris" was not banned after "I saw" (no word boundary before "Paris").
    tok = sentencepiece_style_tokenizer()
    vocab = TokenizerVocabulary(tok)
    saw, paris = vocab.encode("I saw Paris")[-2:]
    assert tok.convert_ids_to_tokens(paris) == "▁Paris"
    assert vocab.token_texts()[paris] == " Paris"
    assert vocab.token_texts()[saw] == " saw"
    assert paris in PrefixBans(["Paris"], VocabularyIndex.of(vocab)).banned("I saw")


# -- logit_bias bans ------------------------------------------------------------------------


def test_first_tokens_of_every_variant_come_before_second_tokens():
    # Every spelling of "Einstein" is two tokens here: the first ones lead the list.
    texts = ["<eos>", " Ein", "Ein", " ein", "ein", " EIN", "EIN", "stein", "STEIN", "'s", "’s"]
    vocab = ListVocabulary(texts)
    got = [texts[i] for i in ban_candidates(["Einstein"], vocab)]
    first = {" Ein", "Ein", " ein", "ein", " EIN", "EIN"}
    assert set(got[: len(first)]) == first
    assert got[len(first) :] in (["stein", "STEIN"], ["STEIN", "stein"])
    assert len(got) == len(set(got))  # no duplicates


@pytest.mark.parametrize(
    ("strings", "texts", "min_chars", "banned"),
    [
        # whole tokens for the whole string
        (
            ["Paris"],
            [" Paris", "Paris", "PARIS", " paris"],
            3,
            {" Paris", "Paris", "PARIS", " paris"},
        ),
        # "is" is too short to ban on its own; " Par" is not
        (["Paris"], [" Par", "is"], 3, {" Par"}),
        (["Paris"], [" Par", "is"], 2, {" Par", "is"}),
        # " P" is short, "aris" long enough
        (["Paris"], [" P", "aris"], 3, {"aris"}),
        # a short token that spells a whole variant is banned all the same
        (["Bo"], [" Bo", "Bo", "B", "o"], 3, {" Bo", "Bo"}),
        # a bare space token is never banned
        (["Paris"], [" ", "Paris"], 3, {"Paris"}),
        # a possessive's "'s" is left alone
        (["Paris"], ["Paris", "'s", " "], 3, {"Paris"}),
        ([], [" Paris"], 3, set()),
    ],
)
def test_ban_candidates_leave_out_short_generic_tokens(strings, texts, min_chars, banned):
    texts = ["<eos>", *texts]
    got = ban_candidates(strings, ListVocabulary(texts), min_chars=min_chars)
    assert {texts[i] for i in got} == banned


@pytest.mark.parametrize(
    ("user", "bans", "limit", "merged"),
    [
        ({}, [1, 2], 300, {1: BAN, 2: BAN}),
        ({5: 3.0}, [1], 300, {5: 3.0, 1: BAN}),  # the user's own entries are kept
        ({1: 50.0}, [1], 300, {1: BAN}),  # a ban wins over the user's value
        ({5: 1.0, 6: 1.0}, [1, 2, 3], 3, {5: 1.0, 6: 1.0, 1: BAN}),  # in order, up to the limit
        ({1: 5.0, 2: 5.0}, [3, 1], 2, {1: BAN, 2: 5.0}),  # full, but a user token is banned
        ({}, [], 300, {}),
    ],
)
def test_merge_bans(user, bans, limit, merged):
    before = dict(user)
    assert merge_bans(user, bans, limit=limit) == merged
    assert len(merged) <= max(limit, len(user))
    assert user == before  # not modified in place


# -- prefix masks -----------------------------------------------------------------------------

ALWAYS = {" Paris", " paris", " Parisian", ".paris"}  # the whole string behind a boundary


@pytest.mark.parametrize(
    ("text", "banned"),
    [
        ("", {"Paris", "PARIS"}),  # the start of the text is a word boundary
        ("I saw", set()),  # "Paris" right after "saw" would not be a word
        ("I saw ", {"Paris", "PARIS"}),
        ("I saw.", {"Paris", "PARIS"}),
        ("I saw Par", {"is", "isian"}),  # "isian": the word may not end there, banned too
        ("I SAW PAR", {"is", "isian"}),  # case-insensitive
        ("I saw pAr", {"is", "isian"}),
        ("I saw Pari", {"s"}),
        ("I saw P", {"aris"}),
        ("I saw Pa", set()),  # "ri" does not complete it, and no token is "ris..."
        ("Par", {"is", "isian"}),  # a prefix at the very start of the text
        ("I saw compar", set()),  # inside a longer word: "comparis" is no match
        ("x" * 200 + " Par", {"is", "isian"}),  # longer than the window
        ("x" * 200 + "Par", set()),
        ("I saw Paris", set()),  # already complete: nothing left to complete
    ],
)
def test_prefix_bans(text, banned):
    bans = PrefixBans(["Paris"], VocabularyIndex.of(VOCAB))
    assert texts_of(bans.always) == ALWAYS
    assert texts_of(bans.banned(text)) == banned | ALWAYS


def test_prefix_bans_of_several_strings_and_of_none():
    bans = PrefixBans(["Paris", " the ", ""], VocabularyIndex.of(VOCAB))
    assert bans.patterns == ("paris", "the")
    assert {" the"} <= texts_of(bans.banned("I saw"))  # " the" after "saw": a word
    assert texts_of(PrefixBans([], VocabularyIndex.of(VOCAB)).banned("I saw Par")) == set()


def test_a_vocabulary_index_is_built_once_per_vocabulary():
    assert VocabularyIndex.of(VOCAB) is VocabularyIndex.of(VOCAB)
    index = VocabularyIndex.of(VOCAB)
    assert texts_of(index.starting_with("par")) == {"Paris", "Par", "PARIS"}
    assert texts_of(index.starting_with("is")) == {"is", "isian"}
    assert texts_of(index.containing("paris")) == ALWAYS


def test_prefix_mask_sets_banned_logits_to_minus_infinity_only():
    mask = PrefixMaskFactory(("Paris",), VOCAB)()
    assert isinstance(mask, PrefixMask)
    logits = torch.arange(len(TEXTS), dtype=torch.float32)
    out = mask(View("I saw Par"), logits.clone())
    banned = set(ids(*ALWAYS, "is", "isian"))
    for i, value in enumerate(out.tolist()):
        assert value == (float("-inf") if i in banned else float(i)), TEXTS[i]


def test_prefix_mask_ignores_ids_beyond_the_logits():
    mask = PrefixMaskFactory(("Paris",), VOCAB)()
    logits = torch.zeros(3)  # a vocabulary larger than the model's output: no IndexError
    assert mask(View(""), logits).tolist() == [0.0, float("-inf"), 0.0]  # id 1 is " Paris"


def greedy(seed: int, processor: PrefixMask | None, steps: int = 24) -> str:
    """Decode greedily from random logits that favour the pieces of "Paris"."""
    gen = torch.Generator().manual_seed(seed)
    favoured = torch.tensor([t in PIECES for t in TEXTS], dtype=torch.float32)
    text = ""
    for _ in range(steps):
        logits = torch.randn(len(TEXTS), generator=gen) + 1.5 * favoured
        logits[0] = float("-inf")  # never stop early
        if processor is not None:
            logits = processor(View(text), logits)
        text += TEXTS[int(torch.argmax(logits))]
    return text


def test_no_tokenisation_of_paris_gets_through_a_prefix_mask():
    forbidden = ForbiddenStrings(["Paris"])
    seeds = range(300)
    unmasked = [s for s in seeds if forbidden.violation(greedy(s, None), 0, final=True) is not None]
    assert len(unmasked) > 50  # without the mask, "Paris" comes out, spelled many ways
    factory = PrefixMaskFactory(("Paris",), VOCAB)
    for seed in seeds:
        text = greedy(seed, factory())
        assert forbidden.violation(text, 0, final=True) is None, (seed, text)


@pytest.mark.model
def test_every_spelling_of_paris_meets_a_ban_with_the_smollm2_tokenizer(smollm2):
    tok = smollm2.tokenizer
    vocab = TokenizerVocabulary(tok)
    bans = PrefixBans(["Paris"], VocabularyIndex.of(vocab))
    spellings = [
        vocab.encode("I saw Paris."),
        vocab.encode("I saw") + [i for c in " Paris." for i in vocab.encode(c)],
        vocab.encode("I saw P") + vocab.encode("aris."),
        vocab.encode("I saw Par") + vocab.encode("is."),
        vocab.encode("I SAW PARIS."),
    ]
    texts = vocab.token_texts()
    for spelling in spellings:
        text, hit = "", False
        for token in spelling:
            hit = hit or token in bans.banned(text)
            text += texts[token]
        assert ForbiddenStrings(["Paris"]).violation(text, 0, final=True) is not None
        assert hit, [texts[t] for t in spelling]
    paris = vocab.encode(" Paris")
    assert len(paris) == 1 and paris[0] in ban_candidates(["Paris"], vocab)


def test_module_docstring_example():
    result = doctest.testmod(token_bans, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
