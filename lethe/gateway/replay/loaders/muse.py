"""MUSE knowmem (Shi et al., 2024): question/answer probes about a forget corpus.

Local layout: a folder holding ``forget_qa`` and ``retain_qa`` (``question``/``answer``) — the
MUSE repository's ``data/<corpus>/knowmem/`` or a download of the hub's ``knowmem`` config; it
may also be the corpus folder with a ``knowmem/`` inside.

The suite: one ``document`` target for the forget corpus (``name``: "Harry Potter" for the books
corpus by default), whose ``content`` is the forget Q/A pairs (so its ``forbidden`` strings are
the short answers); forget probes from ``forget_qa``; retain probes from ``retain_qa``.

Example:
    >>> load_muse(Path("MUSE/data/books"), corpus="books").counts()     # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from lethe.gateway.replay.loaders.records import LoaderError, find_split, read_records, text_field
from lethe.gateway.replay.suite import Probe, Suite
from lethe.indices import ForgetTarget

DEFAULT_NAMES: Final = {"books": "Harry Potter", "news": "MUSE-News forget corpus"}


def _pairs(path: Path, limit: int | None) -> list[tuple[str, str]]:
    pairs = []
    for row in read_records(path)[:limit]:
        q, a = text_field(row, "question"), text_field(row, "answer")
        if not q or not a:
            raise LoaderError(f"{path}: a row without question/answer")
        pairs.append((q, a))
    return pairs


def load_muse(
    path: Path,
    *,
    corpus: str = "books",
    name: str | None = None,
    limit: int | None = None,
) -> Suite:
    """A suite from a local MUSE knowmem folder (see the module docstring)."""
    folder = path / "knowmem" if (path / "knowmem").is_dir() else path
    forget_file = find_split(folder, "forget_qa")
    assert forget_file is not None
    forget = _pairs(forget_file, limit)
    target = ForgetTarget(
        id=f"muse-{corpus}",
        kind="document",
        name=name or DEFAULT_NAMES.get(corpus, f"MUSE {corpus} corpus"),
        content=[{"question": q, "answer": a} for q, a in forget],
        reason="MUSE forget corpus",
    )
    probes = [
        Probe(
            id=f"muse-{corpus}-forget-{i:04d}",
            target_id=target.id,
            kind="forget",
            prompt=q,
            answers=(a,),
        )
        for i, (q, a) in enumerate(forget)
    ]
    retain_file = find_split(folder, "retain_qa", required=False)
    if retain_file is not None:
        probes += [
            Probe(id=f"muse-{corpus}-retain-{i:04d}", kind="retain", prompt=q, answers=(a,))
            for i, (q, a) in enumerate(_pairs(retain_file, limit))
        ]
    return Suite(
        name=f"muse-{corpus}-knowmem",
        description=f"MUSE {corpus} knowmem: forget_qa vs retain_qa",
        metadata={"source": "MUSE", "corpus": corpus, "path": str(path)},
        targets=[target],
        probes=probes,
    )
