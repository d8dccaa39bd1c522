import random

import pytest

from lethe.decoders.detokenizer import IncrementalDetokenizer
from tests.tiny_model import tiny_tokenizer

TEXTS = [
    "Hello world! How are you today?",
    "Café, naïve, résumé, Müller, São Paulo",
    "日本語 中文 русский Ελληνικά",
    "emoji 🙂👍 between words 🙂",
    "  leading spaces and\nnew\tlines  ",
    "mixed 日本 and 🙂 and é at the end é",
]


@pytest.mark.parametrize("text", TEXTS)
def test_incremental_text_equals_full_decode_and_never_breaks_utf8(text):
    tok = tiny_tokenizer().backend_tokenizer
    ids = tok.encode(text).ids
    prompt = tok.encode("The quick brown fox").ids
    detok = IncrementalDetokenizer(tok, prompt)
    pieces = [detok.add(i) for i in ids]
    assert all("\ufffd" not in p for p in pieces)
    assert "".join(pieces) == tok.decode(ids)
    assert "".join(pieces) == text


def test_leading_space_of_first_token_is_kept():
    tok = tiny_tokenizer().backend_tokenizer
    ids = tok.encode(" world").ids
    detok = IncrementalDetokenizer(tok, tok.encode("Hello").ids)
    assert "".join(detok.add(i) for i in ids) == " world"


def test_random_byte_sequences_never_emit_partial_characters():
    tok = tiny_tokenizer().backend_tokenizer
    rng = random.Random(7)
    vocab = tok.get_vocab_size()
    for _ in range(50):
        ids = [rng.randrange(3, vocab) for _ in range(30)]
        detok = IncrementalDetokenizer(tok, [])
        pieces = [detok.add(i) for i in ids]
        joined = "".join(pieces)
        full = tok.decode(ids)
        # Everything emitted is a prefix of the full text; the rest is a trailing partial char.
        assert full.startswith(joined)
        assert all(p == "" or not p.endswith("\ufffd") for p in pieces)
