"""Reading benchmark rows from local files, whatever the format they were saved in.

:func:`read_records` returns a list of dicts from:

- ``.json``: a list of objects, or an object with a ``data`` / ``rows`` / ``train`` / ``test``
  list, or JSON lines (TOFU's ``.json`` files are JSON lines);
- ``.jsonl``: JSON lines;  ``.csv``: rows with a header (values that look like JSON lists are
  parsed);
- ``.parquet`` / ``.arrow``: needs ``pyarrow``; a ``datasets.save_to_disk`` folder: needs
  ``datasets``. Without them the error says what to install.

:func:`find_split` finds a split's file in a folder by its name (``forget01``,
``forget_qa``...), under any of those extensions, also one folder down and with the hub's
``<split>-00000-of-00001.parquet`` naming.

Example:
    >>> rows = read_records(find_split(Path("TOFU"), "forget01"))          # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Final

EXTENSIONS: Final = (".json", ".jsonl", ".csv", ".parquet", ".arrow")
_LIST_KEYS: Final = ("data", "rows", "train", "test", "examples")


class LoaderError(ValueError):
    """A benchmark file that is missing or cannot be read; one line for the user."""


def find_split(folder: Path, split: str, required: bool = True) -> Path | None:
    """The file (or ``save_to_disk`` folder) holding ``split`` under ``folder``."""
    if folder.is_file():
        return folder
    candidates = []
    for base in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        candidates += [base / f"{split}{ext}" for ext in EXTENSIONS]
        candidates += sorted(base.glob(f"{split}-*.parquet"))
        candidates.append(base / split)
    for path in candidates:
        if path.is_file() or (path.is_dir() and (path / "dataset_info.json").exists()):
            return path
    if required:
        raise LoaderError(f"no '{split}' file (.json, .jsonl, .csv, .parquet) under {folder}")
    return None


def read_records(path: Path) -> list[dict[str, Any]]:
    """Rows of ``path`` as dicts (see the module docstring for the formats)."""
    if path.is_dir():
        return _read_saved_dataset(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".arrow"):
        return _read_arrow(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LoaderError(f"cannot read {path}: {exc.strerror or exc}") from None
    if suffix == ".csv":
        return [_parse_csv_row(row) for row in csv.DictReader(raw.splitlines())]
    if suffix == ".json":
        try:
            return _rows_of(json.loads(raw), path)
        except json.JSONDecodeError:
            pass  # JSON lines under a .json name
    return _json_lines(raw, path)


def _rows_of(document: Any, path: Path) -> list[dict[str, Any]]:
    if isinstance(document, dict):
        for key in _LIST_KEYS:
            if isinstance(document.get(key), list):
                document = document[key]
                break
        else:
            document = [document]
    if not isinstance(document, list) or not all(isinstance(r, dict) for r in document):
        raise LoaderError(f"{path}: expected a list of objects")
    return document


def _json_lines(raw: str, path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LoaderError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise LoaderError(f"{path}:{number}: expected an object")
        rows.append(row)
    return rows


def _parse_csv_row(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        text = (value or "").strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                out[key] = json.loads(text)
                continue
            except json.JSONDecodeError:
                pass
        out[key] = value
    return out


def _read_arrow(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.ipc
        import pyarrow.parquet
    except ImportError:
        raise LoaderError(f"reading {path.name} needs pyarrow: pip install pyarrow") from None
    if path.suffix.lower() == ".parquet":
        return pyarrow.parquet.read_table(path).to_pylist()
    with pyarrow.memory_map(str(path)) as source:
        try:
            return pyarrow.ipc.open_stream(source).read_all().to_pylist()
        except pyarrow.ArrowInvalid:
            return pyarrow.ipc.open_file(source).read_all().to_pylist()


def _read_saved_dataset(path: Path) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise LoaderError(
            f"{path} is a saved `datasets` folder; reading it needs: pip install datasets"
        ) from None
    return list(datasets.load_from_disk(str(path)))


def text_field(row: dict[str, Any], *names: str) -> str:
    """The first non-empty string among ``names`` in ``row`` ('' when none)."""
    for name in names:
        value = row.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def slug(text: str) -> str:
    """An id-safe slug: letters, digits, dashes (``"Stephen King"`` → ``stephen-king``)."""
    out = "".join(c.lower() if c.isascii() and c.isalnum() else "-" for c in text)
    return "-".join(part for part in out.split("-") if part) or "x"
