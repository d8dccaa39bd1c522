"""BatchBans follows vLLM's persistent batch (adds, removes, moves, swaps) and masks, per row,
exactly the tokens that would complete a forbidden string; free rows are never touched."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any

import pytest
import torch

from lethe.decoders.forbidden import ForbiddenStrings
from lethe.decoders.token_bans import ListVocabulary, PrefixMaskFactory
from lethe.decoders.vllm.extra_args import LetheData, to_extra_args
from lethe.decoders.vllm.state import BatchBans

# "Paris" can be spelled " Paris", " Par"+"is", " P"+"aris", " Pa"+"ri"+"s", "Par"+"is", ...
TEXTS = [
    "<eos>", " Paris", " Par", "is", " P", "aris", " Pa", "ri", "s", "Paris", "Par", "P",
    "PARIS", " paris", "isian", " Parisian", ".paris", " the", " saw", " I", "I", " ", ".", "x",
]  # fmt: skip
VOCAB = ListVocabulary(TEXTS)
PIECES = {" Paris", " Par", "is", " P", "aris", " Pa", "ri", "s", "Paris", "Par", "P", "PARIS"}
ALWAYS = {" Paris", " paris", " Parisian", ".paris"}  # banned after any text


def ids(*texts: str) -> list[int]:
    return [TEXTS.index(t) for t in texts]


def detokenize(token_ids: list[int]) -> str:
    return "".join(TEXTS[i] for i in token_ids)


class Direction(Enum):
    """Stands in for vLLM's ``MoveDirectionality``."""

    UNIDIRECTIONAL = auto()
    SWAP = auto()


SWAP, ONE_WAY = Direction.SWAP, Direction.UNIDIRECTIONAL


@dataclass(frozen=True)
class Params:
    """Stands in for vLLM's ``SamplingParams`` (only ``extra_args`` is read)."""

    extra_args: dict[str, Any] | None = None


@dataclass(frozen=True)
class Update:
    """Stands in for vLLM's ``BatchUpdate``."""

    batch_size: int
    removed: tuple[int, ...] = ()
    added: tuple[tuple[Any, ...], ...] = ()
    moved: tuple[tuple[int, int, Direction], ...] = ()


GUARDED = Params(to_extra_args(LetheData(("Paris",))))
# Each request's output so far; the guarded ones' bans tell them apart.
OUTPUTS = {
    "A": (GUARDED, [" saw", " Par"]),  # "is" would complete "Paris"
    "C": (GUARDED, [" saw", " P"]),  # "aris" would
    "E": (GUARDED, [" saw", " "]),  # a word starts: "Paris" would
    "G": (GUARDED, []),  # nothing yet: the start of the text is a boundary too
    "B": (Params(), [" saw", " Par"]),  # no Lethe data
    "D": (Params({"other": 1}), [" saw", " P"]),  # somebody else's extra args only
}
BANNED = {
    "A": ALWAYS | {"is", "isian"},
    "C": ALWAYS | {"aris"},
    "E": ALWAYS | {"Paris", "PARIS"},
    "G": ALWAYS | {"Paris", "PARIS"},
}


def add(index: int, name: str, *, with_prompt: bool = True) -> tuple[Any, ...]:
    params, output = OUTPUTS[name]
    if with_prompt:
        return (index, params, [7, 8], ids(*output))
    return (index, params, ids(*output))  # vLLM before the prompt ids were passed


@pytest.mark.parametrize(
    ("updates", "layout"),
    [
        pytest.param([Update(2, added=(add(0, "A"), add(1, "B")))], ["A", "B"], id="add"),
        pytest.param(
            [Update(2, added=(add(0, "A", with_prompt=False), add(1, "C", with_prompt=False)))],
            ["A", "C"],
            id="add-3-tuples",
        ),
        pytest.param(
            [
                Update(3, added=(add(0, "A"), add(1, "B"), add(2, "C"))),
                Update(2, removed=(1,), moved=((2, 1, ONE_WAY),)),  # B finished; condensed
            ],
            ["A", "C"],
            id="remove-and-condense",
        ),
        pytest.param(
            [
                Update(3, added=(add(0, "A"), add(1, "B"), add(2, "C"))),
                Update(3, moved=((0, 2, SWAP),)),
            ],
            ["C", "B", "A"],
            id="swap-guarded-rows",
        ),
        pytest.param(
            [
                Update(2, added=(add(0, "A"), add(1, "B"))),
                Update(2, moved=((1, 0, SWAP),)),
            ],
            ["B", "A"],
            id="swap-with-a-free-row",
        ),
        pytest.param(
            [
                Update(3, added=(add(0, "A"), add(1, "B"), add(2, "C"))),
                Update(2, moved=((2, 0, ONE_WAY),)),  # C replaces A; row 2 left empty
            ],
            ["C", "B"],
            id="move-onto-a-guarded-row",
        ),
        pytest.param(
            [
                Update(2, added=(add(0, "A"), add(1, "C"))),
                Update(2, added=(add(0, "D"),)),  # A finished, D took its slot
            ],
            ["D", "C"],
            id="free-request-replaces-guarded",
        ),
        pytest.param(
            [
                Update(2, added=(add(0, "B"), add(1, "C"))),
                Update(2, added=(add(0, "E"),)),
            ],
            ["E", "C"],
            id="guarded-request-replaces-free",
        ),
        pytest.param(
            [
                Update(3, added=(add(0, "A"), add(1, "C"), add(2, "E"))),
                Update(3, removed=(0,), added=(add(0, "G"),), moved=((2, 1, SWAP),)),
            ],
            ["G", "E", "C"],
            id="remove-add-move-in-one-update",
        ),
        pytest.param(
            [
                Update(2, added=(add(0, "A"), add(1, "C"))),
                Update(1, removed=(1,)),
                Update(0, removed=(0,)),  # the last guarded row finishes
            ],
            [],
            id="all-finished",
        ),
        pytest.param(
            [Update(2, added=(add(0, "A"), add(1, "B"))), None],  # None: no change this step
            ["A", "B"],
            id="no-change",
        ),
    ],
)
def test_exactly_the_right_logits_are_minus_infinity_per_row(updates, layout):
    bans = BatchBans(VOCAB, detokenize)
    for update in updates:
        bans.update(update)
    logits = torch.arange(4 * len(TEXTS), dtype=torch.float32).reshape(4, len(TEXTS))
    before = logits.clone()
    out = bans.apply(logits)
    assert len(bans) == sum(name in BANNED for name in layout if name)
    for row in range(4):
        name = layout[row] if row < len(layout) else None
        expected = set(ids(*BANNED.get(name, set()))) if name else set()
        masked = {i for i, v in enumerate(out[row].tolist()) if v == float("-inf")}
        assert masked == expected, (row, name, {TEXTS[i] for i in masked})
        keep = [i for i in range(len(TEXTS)) if i not in expected]
        assert torch.equal(out[row, keep], before[row, keep])


def test_a_batch_without_guarded_rows_is_returned_untouched():
    bans = BatchBans(VOCAB, detokenize)
    bans.update(Update(2, added=(add(0, "B"), add(1, "D"))))
    logits = torch.randn(2, len(TEXTS))
    assert bans.apply(logits) is logits and len(bans) == 0


def test_the_output_list_is_read_live():
    """vLLM extends each request's output list in place; the bans follow without an update."""
    bans = BatchBans(VOCAB, detokenize)
    output = ids(" saw")
    bans.add(0, LetheData(("Paris",)), None, output)
    assert {TEXTS[i] for i in bans.banned(0)} == ALWAYS
    output += ids(" Pa")
    assert {TEXTS[i] for i in bans.banned(0)} == ALWAYS  # "ri" alone completes nothing
    output += ids("ri")
    assert {TEXTS[i] for i in bans.banned(0)} == ALWAYS | {"s"}


def test_only_a_tail_of_a_long_output_is_decoded():
    seen: list[int] = []

    def counting(token_ids: list[int]) -> str:
        seen.append(len(token_ids))
        return detokenize(token_ids)

    bans = BatchBans(VOCAB, counting)
    output = ids(*[" the"] * 5000, " Par")
    bans.add(0, LetheData(("Paris",)), None, output)
    assert {TEXTS[i] for i in bans.banned(0)} == ALWAYS | {"is", "isian"}
    assert max(seen) < 20  # the window is "paris" plus one character, plus the margin


def test_a_short_tail_grows_until_it_covers_the_window():
    """Tokens that decode to nothing (here ``<eos>``, skipped like a special token) do not
    shorten the text the bans see."""
    bans = BatchBans(VOCAB, lambda t: detokenize([i for i in t if i != 0]))
    output = ids("x", *["<eos>"] * 40, " Par")
    bans.add(0, LetheData(("Paris",)), None, output)
    assert {TEXTS[i] for i in bans.banned(0)} == ALWAYS | {"is", "isian"}
    output[:] = ids(*["<eos>"] * 40, "x", "Par")  # "xPar": inside a word, no match
    assert {TEXTS[i] for i in bans.banned(0)} == ALWAYS


@pytest.mark.parametrize(
    ("text", "banned"),
    [
        ("I saw Pari", {"s"}),
        ("I sawPari", set()),  # inside a word
        (" Pari", {"s"}),
        ("Pari", {"s"}),
        ("x" * 30 + " Pari", {"s"}),
        ("x" * 30 + "Pari", set()),
    ],
)
def test_a_string_spelled_one_character_per_token(text, banned):
    chars = ["<eos>", *sorted(set("I saw Parix")), "Paris", " Paris"]
    vocab = ListVocabulary(chars)
    bans = BatchBans(vocab, lambda t: "".join(chars[i] for i in t))
    bans.add(0, LetheData(("Paris",)), None, [chars.index(c) for c in text])
    assert {chars[i] for i in bans.banned(0)} == banned | {" Paris"}


def test_placeholders_and_partial_characters_are_left_out():
    bans = BatchBans(VOCAB, lambda t: detokenize(t) + ("\ufffd" if t and t[-1] == 23 else ""))
    output = [*ids(" saw", " Par"), -1]  # an async-scheduling placeholder
    bans.add(0, LetheData(("Paris",)), None, output)
    assert {TEXTS[i] for i in bans.banned(0)} == ALWAYS | {"is", "isian"}
    output[-1:] = ids(" Par", "x")  # "x" decodes with a partial character after it here
    assert {TEXTS[i] for i in bans.banned(0)} == ALWAYS


def test_malformed_lethe_data_is_refused():
    bans = BatchBans(VOCAB, detokenize)
    bad = Params({"lethe": {"v": 99, "forbidden": ["Paris"]}})
    with pytest.raises(ValueError, match="schema version"):
        bans.update(Update(1, added=((0, bad, None, []),)))


# -- property: a persistent batch in motion never lets "Paris" through ------------------------


@dataclass
class Request:
    """One request of the simulated batch: its own random logits, and its output so far."""

    name: int
    guarded: bool
    length: int
    output: list[int] = field(default_factory=list)

    def logits(self, step: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.name * 1000 + step)
        favoured = torch.tensor([t in PIECES for t in TEXTS], dtype=torch.float32)
        logits = torch.randn(len(TEXTS), generator=gen) + 1.5 * favoured
        logits[0] = float("-inf")  # never stop early
        return logits


class PersistentBatch:
    """vLLM's persistent batch as the logits processor sees it: finished requests leave (a new
    request takes the lowest free slot, else the slot is removed), the batch is condensed with
    one-way moves from the top, and rows are sometimes swapped."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.rows: list[Request | None] = []
        self.names = 0

    def new_request(self) -> Request:
        self.names += 1
        return Request(self.names, self.rng.random() < 0.6, self.rng.randint(3, 24))

    def step_update(self) -> Update | None:
        removed = [i for i, r in enumerate(self.rows) if r and len(r.output) >= r.length]
        for i in removed:
            self.rows[i] = None
        added = []
        for _ in range(self.rng.randint(0, 3)):
            request = self.new_request()
            slot = removed.pop(0) if removed else len(self.rows)
            if slot == len(self.rows):
                self.rows.append(None)
            self.rows[slot] = request
            params = GUARDED if request.guarded else Params()
            added.append((slot, params, [1, 2, 3], request.output))
        moved = []
        while None in self.rows:
            hole = self.rows.index(None)
            while self.rows and self.rows[-1] is None:
                self.rows.pop()
            if hole < len(self.rows):
                moved.append((len(self.rows) - 1, hole, ONE_WAY))
                self.rows[hole] = self.rows.pop()
        if len(self.rows) > 1 and self.rng.random() < 0.5:
            a, b = self.rng.sample(range(len(self.rows)), 2)
            self.rows[a], self.rows[b] = self.rows[b], self.rows[a]
            moved.append((a, b, SWAP))
        if not (removed or added or moved):
            return None
        return Update(len(self.rows), tuple(removed), tuple(added), tuple(moved))


@dataclass
class View:
    """A :class:`~lethe.decoders.SequenceView` of one solo sequence."""

    output_ids: list[int]
    prompt_ids: tuple[int, ...] = ()

    @property
    def text(self) -> str:
        return detokenize(self.output_ids)


def solo(request: Request) -> list[int]:
    """The same request decoded alone with the ``hf`` engine's per-sequence prefix mask."""
    mask = PrefixMaskFactory(("Paris",), VOCAB)() if request.guarded else None
    output: list[int] = []
    for _ in range(request.length):
        logits = request.logits(len(output))
        if mask is not None:
            logits = mask(View(output), logits)
        output.append(int(torch.argmax(logits)))
    return output


@pytest.mark.parametrize("seed", range(12))
def test_no_guarded_request_emits_paris_while_the_batch_moves(seed):
    rng = random.Random(seed)
    batch = PersistentBatch(rng)
    bans = BatchBans(VOCAB, detokenize)
    finished: list[Request] = []
    for _ in range(60):
        bans.update(batch.step_update())
        live = [r for r in batch.rows if r is not None]
        if not live:
            continue
        logits = torch.stack([r.logits(len(r.output)) for r in live])
        picks = torch.argmax(bans.apply(logits), dim=-1).tolist()
        for request, token in zip(live, picks, strict=True):
            request.output.append(token)
            if len(request.output) == request.length:
                finished.append(request)
    forbidden = ForbiddenStrings(["Paris"])
    for request in finished:
        text = detokenize(request.output)
        leaked = forbidden.violation(text, 0, final=True) is not None
        assert not (leaked and request.guarded), (request, text)
        assert request.output == solo(request)  # the batch changes nothing per request
    assert len(finished) > 20 and any(r.guarded for r in finished)


def test_unguarded_requests_do_emit_paris():
    """The property above has teeth: the same logits spell "Paris" without the bans."""
    requests = [Request(n, False, 24) for n in range(1, 60)]
    forbidden = ForbiddenStrings(["Paris"])
    leaked = [r for r in requests if forbidden.violation(detokenize(solo(r)), 0, final=True)]
    assert len(leaked) > 10
