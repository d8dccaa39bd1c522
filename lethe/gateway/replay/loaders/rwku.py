"""RWKU (Jin et al., 2024): real-world people as targets, with forget and neighbour probes.

Two local layouts are read:

- the hub's configs as files in one folder: ``forget_target`` (``target``, optional ``intro``),
  ``forget_level1`` / ``forget_level2`` / ``forget_level3`` and ``neighbor_level1`` /
  ``neighbor_level2`` (rows: ``subject``, ``query``, ``answer``, ``level``, ``type``);
- the repository's processed folders ``<n>_<Name>/`` holding ``intro.json``,
  ``forget_level1.json``... one per target.

The suite: one ``entity`` target per subject (its intro passage as ``content`` when present);
level 1 (fill in the blank) and level 2 (question answering) as direct forget probes, prompted as
RWKU's evaluation does; level 3 as forget probes carrying their attack (RWKU's type mapped to
Lethe's attack names, e.g. ``synonym manipulation`` → ``synonym_alias``); neighbour probes as
retain probes of the same target. ``targets`` restricts to some subjects; ``limit`` caps probes
per target and file.

Example:
    >>> load_rwku(Path("RWKU"), targets=["Stephen King"]).counts()          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from lethe.gateway.replay.loaders.records import (
    LoaderError,
    find_split,
    read_records,
    slug,
    text_field,
)
from lethe.gateway.replay.suite import Probe, Suite
from lethe.indices import ForgetTarget

PROBE_FILES: Final = (
    "forget_level1",
    "forget_level2",
    "forget_level3",
    "neighbor_level1",
    "neighbor_level2",
)
CLOZE: Final = "Please complete the blank in the following question.\nQuestion: {q}\nAnswer:"
QUESTION: Final = "Please briefly answer the following question.\nQuestion: {q}"
ATTACK_KEYWORDS: Final = (
    ("prefix", "prefix_injection"),
    ("affirmative", "affirmative_suffix"),
    ("role", "role_play"),
    ("multiple", "multiple_choice"),
    ("reverse", "reverse_query"),
    ("synonym", "synonym_alias"),
    ("background", "background_hint"),
    ("context", "few_shot"),
    ("lingual", "cross_lingual"),
)


def attack_name(rwku_type: str) -> str:
    """Lethe's attack name for an RWKU level-3 ``type`` (a slug of it when unknown).

    >>> attack_name("synonym manipulation"), attack_name("incontext learning")
    ('synonym_alias', 'few_shot')
    """
    lowered = rwku_type.lower()
    for keyword, name in ATTACK_KEYWORDS:
        if keyword in lowered:
            return name
    return slug(rwku_type).replace("-", "_") or "unknown"


def _rows_by_file(path: Path) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """``(target rows, {file: probe rows})`` from either layout."""
    per_target = sorted(p for p in path.iterdir() if p.is_dir() and (p / "intro.json").exists())
    if not per_target:
        target_file = find_split(path, "forget_target")
        assert target_file is not None
        files = {name: find_split(path, name, required=False) for name in PROBE_FILES}
        return read_records(target_file), {
            name: read_records(f) if f is not None else [] for name, f in files.items()
        }
    targets: list[dict[str, Any]] = []
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in PROBE_FILES}
    for folder in per_target:
        targets += read_records(folder / "intro.json")
        for name in PROBE_FILES:
            file = find_split(folder, name, required=False)
            rows[name] += read_records(file) if file is not None else []
    return targets, rows


def _target(row: dict[str, Any]) -> ForgetTarget:
    name = text_field(row, "target", "subject", "name")
    if not name:
        raise LoaderError("an RWKU forget_target row without 'target'")
    intro = text_field(row, "intro", "passage", "text")
    return ForgetTarget(
        id=f"rwku-{slug(name)}",
        kind="entity",
        name=name,
        content=[intro] if intro else [],
        forbidden=[],
        reason="RWKU forget target",
    )


def _probe(row: dict[str, Any], file: str, index: int, target_id: str) -> Probe:
    query, answer = text_field(row, "query", "question"), text_field(row, "answer")
    if not query or not answer:
        raise LoaderError(f"RWKU {file}: row {index} needs query and answer")
    level = str(row.get("level", file[-1]))
    attack = attack_name(text_field(row, "type")) if file == "forget_level3" else None
    if level == "1":
        prompt = CLOZE.format(q=query)
    elif attack in ("affirmative_suffix", "few_shot"):
        prompt = f"Please briefly answer the following question.\n{query}"
    else:
        prompt = QUESTION.format(q=query)
    return Probe(
        id=f"{target_id}-{file}-{index:04d}",
        target_id=target_id,
        kind="retain" if file.startswith("neighbor") else "forget",
        prompt=prompt,
        answers=(answer,),
        attack=attack,
        tags=(f"level{level}",),
    )


def load_rwku(
    path: Path, *, targets: Sequence[str] | None = None, limit: int | None = None
) -> Suite:
    """A suite from a local RWKU folder (see the module docstring)."""
    target_rows, rows = _rows_by_file(path)
    wanted = {t.lower() for t in targets} if targets else None
    chosen = [
        t for t in (_target(r) for r in target_rows) if wanted is None or t.name.lower() in wanted
    ]
    if not chosen:
        which = f" matching {list(targets)}" if targets else ""
        raise LoaderError(f"no RWKU target{which} in {path}")
    ids = {t.name: t.id for t in chosen}
    probes: list[Probe] = []
    for file, file_rows in rows.items():
        probes += _probes_of(file, file_rows, ids, limit)
    return Suite(
        name="rwku",
        description="RWKU: real-world targets, forget levels 1-3, neighbour probes as retain",
        metadata={"source": "RWKU", "targets": len(chosen), "path": str(path)},
        targets=chosen,
        probes=probes,
    )


def _probes_of(
    file: str, rows: Iterable[dict[str, Any]], ids: dict[str, str], limit: int | None
) -> list[Probe]:
    out: list[Probe] = []
    count: dict[str, int] = {}
    for row in rows:
        target_id = ids.get(text_field(row, "subject", "target"))
        if target_id is None:
            continue
        index = count.get(target_id, 0)
        if limit is None or index < limit:
            out.append(_probe(row, file, index, target_id))
        count[target_id] = index + 1
    return out
