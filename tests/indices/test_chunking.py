from __future__ import annotations

import pytest

from lethe.indices.chunking import (
    CHUNK_OVERLAP,
    CHUNK_WORDS,
    MAX_EMBEDDED_ALIASES,
    PACK_WORDS,
    chunk_text,
    pack,
    sample_text,
    target_chunks,
)
from lethe.indices.targets import QAPair


@pytest.mark.parametrize(
    ("text", "max_words", "overlap", "chunks"),
    [
        ("", 3, 1, []),
        ("   ", 3, 1, []),
        ("  one two  ", 3, 1, ["one two"]),
        ("a b c d e", 3, 1, ["a b c", "c d e"]),
        ("a b c d e f", 3, 1, ["a b c", "c d e", "e f"]),
        ("a b c d", 2, 0, ["a b", "c d"]),
        ("东京是日本的首都", 3, 1, ["东京是", "是日本", "本的首", "首都"]),
        ("Tokyo 东京 tower", 2, 0, ["Tokyo 东", "京 tower"]),
    ],
)
def test_chunk_text(text, max_words, overlap, chunks):
    assert chunk_text(text, max_words=max_words, overlap=overlap) == chunks


def test_long_passage_chunks_overlap_and_cover_everything():
    words = [f"w{i}" for i in range(1000)]
    chunks = chunk_text(" ".join(words))
    assert all(len(c.split()) <= CHUNK_WORDS for c in chunks)
    assert chunks[0].split()[-CHUNK_OVERLAP:] == chunks[1].split()[:CHUNK_OVERLAP]
    assert chunks[-1].split()[-1] == "w999"


@pytest.mark.parametrize(
    ("texts", "max_words", "packed"),
    [
        ([], 3, []),
        (["a", "b", "c", "d"], 2, ["a|b", "c|d"]),
        (["a b", "c d e"], 3, ["a b", "c d e"]),
        (["a", "b c d e", "f"], 3, ["a", "b c d e", "f"]),  # a long text stands alone
        (["  ", "a"], 3, ["a"]),
    ],
)
def test_pack(texts, max_words, packed):
    assert pack(texts, max_words=max_words, sep="|") == packed


def test_target_chunks_pack_name_aliases_and_short_content():
    aliases = [f"alias{i}" for i in range(MAX_EMBEDDED_ALIASES + 5)]
    long_passage = " ".join(f"w{i}" for i in range(PACK_WORDS + 10))
    content = [
        "A passage.",
        QAPair(question="Where?", answer="Ulm"),
        long_passage,
        {"question": "Job?", "answer": "Chemist"},
    ]
    chunks = target_chunks("Ada Quill", aliases, content)
    assert [c.no for c in chunks] == list(range(len(chunks)))
    assert [c.source for c in chunks] == ["name", "content", "content", "content"]
    assert chunks[0].text.startswith("Ada Quill; alias0; alias1")
    assert "alias31" in chunks[0].text and "alias32" not in chunks[0].text
    assert chunks[1].text == "A passage.\nWhere? Ulm"
    assert chunks[2].text == long_passage and chunks[3].text == "Job? Chemist"


def test_many_long_aliases_spill_into_alias_chunks():
    aliases = [f"{i} " + "word " * 10 for i in range(10)]
    sources = [c.source for c in target_chunks("Ada Quill", aliases, [])]
    assert sources[0] == "name" and set(sources[1:]) == {"alias"} and len(sources) > 1


def test_sample_text():
    assert sample_text("p") == "p"
    assert sample_text(QAPair(question="Q?", answer="A.")) == "Q? A."
    assert sample_text({"question": "Q?", "answer": "A."}) == "Q? A."
