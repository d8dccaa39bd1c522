"""TOFU (Maini et al., 2024): 200 fictitious authors, 20 question/answer pairs each.

Local layout (as on the hub, ``locuslab/TOFU``): a folder with ``forget01``, ``forget05``,
``forget10`` and ``retain90``/``retain95``/``retain99`` (JSON lines, ``question``/``answer``),
and optionally ``real_authors`` and ``world_facts``. The forget split ``forgetNN`` pairs with
``retain{100-NN}``.

The suite: one ``entity`` target per author (rows come in blocks of ``per_author``, 20 in TOFU),
its name guessed as the most frequent capitalised multi-word name in the block (TOFU has no name
column), its Q/A pairs as ``content``; a forget probe per forget row; the first ``limit`` rows
of the retain split as retain probes, and of ``real_authors`` / ``world_facts`` as general. TOFU
answers are whole sentences, so the lexical leak rate is strict here: read ROUGE-L recall.

Example:
    >>> suite = load_tofu(Path("data/TOFU"), split="forget01")            # doctest: +SKIP
    >>> suite.counts()["forget"]                                          # doctest: +SKIP
    40
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from lethe.gateway.replay.loaders.records import LoaderError, find_split, read_records, text_field
from lethe.gateway.replay.suite import Probe, Suite
from lethe.indices import ForgetTarget

_NAME: Final = re.compile(r"\b[A-Z][\w'’-]+(?:\s+(?:[A-Z][\w'’-]+|al-\w+|bin|ibn|de|van|von))+")
_LEADING_STOP: Final = frozenset(
    re.findall(
        r"\w+",
        "What Who Where When Which Why How Is Are Was Were Did Does Do Can Could In On The Has "
        "Have Had Would Apart Besides Considering Given As Yes No",
    )
)


def guess_name(texts: Sequence[str]) -> str | None:
    """The most frequent capitalised name of 2+ words in ``texts`` (question words dropped).

    >>> guess_name(["What does Jaime Vasquez write?", "Is Jaime Vasquez married?", "In Paris?"])
    'Jaime Vasquez'
    """
    counts: Counter[str] = Counter()
    for text in texts:
        for match in _NAME.findall(text):
            words = match.split()
            while words and words[0] in _LEADING_STOP:
                words = words[1:]
            if len(words) >= 2:
                counts[" ".join(words).removesuffix("'s").removesuffix("’s")] += 1
    return counts.most_common(1)[0][0] if counts else None


def _qa(row: dict[str, Any], where: str) -> tuple[str, str]:
    question = text_field(row, "question", "query")
    answer = text_field(row, "answer")
    if not question or not answer:
        raise LoaderError(f"{where}: a row without question/answer")
    return question, answer


def _authors(rows: list[dict[str, Any]], per_author: int, where: str) -> list[ForgetTarget]:
    targets = []
    for start in range(0, len(rows), per_author):
        block = [_qa(r, where) for r in rows[start : start + per_author]]
        number = start // per_author + 1
        name = guess_name([q for q, _ in block] + [a for _, a in block]) or f"TOFU author {number}"
        targets.append(
            ForgetTarget(
                id=f"tofu-author-{number:03d}",
                kind="entity",
                name=name,
                content=[{"question": q, "answer": a} for q, a in block],
                reason="TOFU forget split",
            )
        )
    return targets


def load_tofu(
    path: Path,
    *,
    split: str = "forget01",
    per_author: int = 20,
    limit: int | None = 100,
) -> Suite:
    """A suite from a local TOFU folder (see the module docstring)."""
    if not re.fullmatch(r"forget\d\d", split):
        raise LoaderError(f"TOFU split must be forget01, forget05 or forget10, not {split!r}")
    forget_file = find_split(path, split)
    assert forget_file is not None
    forget_rows = read_records(forget_file)
    targets = _authors(forget_rows, per_author, str(forget_file))
    probes = [
        Probe(
            id=f"tofu-{split}-{i:04d}",
            target_id=targets[i // per_author].id,
            kind="forget",
            prompt=q,
            answers=(a,),
        )
        for i, (q, a) in enumerate(_qa(r, str(forget_file)) for r in forget_rows)
    ]
    retain_split = f"retain{100 - int(split[-2:]):02d}"
    retain_file = find_split(path, retain_split, required=False)
    if retain_file is not None:
        rows = read_records(retain_file)[:limit]
        probes += [
            Probe(id=f"tofu-{retain_split}-{i:04d}", kind="retain", prompt=q, answers=(a,))
            for i, (q, a) in enumerate(_qa(r, str(retain_file)) for r in rows)
        ]
    for general in ("real_authors", "world_facts"):
        general_file = find_split(path, general, required=False)
        if general_file is not None:
            rows = read_records(general_file)[:limit]
            probes += [
                Probe(id=f"tofu-{general}-{i:04d}", kind="general", prompt=q, answers=(a,))
                for i, (q, a) in enumerate(_qa(r, str(general_file)) for r in rows)
            ]
    return Suite(
        name=f"tofu-{split}",
        description=f"TOFU {split} with {retain_split} as retain set",
        metadata={"source": "TOFU", "split": split, "path": str(path)},
        targets=targets,
        probes=probes,
    )
