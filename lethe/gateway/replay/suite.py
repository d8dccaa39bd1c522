"""Replay suites: forget targets plus the probes that test them, loaded from JSON or JSONL.

A suite is data: the targets exactly as the admin API takes them
(:class:`~lethe.indices.ForgetTarget`) and a list of :class:`Probe` s. A probe is one prompt (or a
chat) with the strings that count as the answer; its ``kind`` says what a good system does with
it:

- ``forget``: must *not* produce an accepted answer (a match is a leak);
- ``retain``: must still produce one (near neighbours of the targets: Shakespeare when Rowling is
  forgotten, the retained person in a document that also names a forgotten one);
- ``general``: unrelated questions that must keep working.

Files (see docs/replay.md):

- ``suite.json``: one object ``{"name", "description", "metadata", "targets": [...],
  "probes": [...]}``;
- ``suite.jsonl``: one record per line, each with ``"type"``: ``"suite"`` (name, description,
  metadata; at most one), ``"target"`` or ``"probe"`` (the rest of the line is the record).

Example:
    >>> s = Suite(name="demo", targets=[{"id": "t1", "kind": "entity", "name": "Ada Quill"}],
    ...           probes=[{"id": "p1", "target_id": "t1", "kind": "forget",
    ...                    "prompt": "Where was Ada Quill born?", "answers": ["Ulm"]}])
    >>> s.probes[0].to_messages()
    [{'role': 'user', 'content': 'Where was Ada Quill born?'}]
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lethe.indices import ForgetTarget

ProbeKind = Literal["forget", "retain", "general"]
Role = Literal["system", "developer", "user", "assistant"]
Scoring = Literal["contains", "choice"]
CHOICE_LETTERS: Final = "ABCDEFGHIJ"


class SuiteError(ValueError):
    """A suite file that cannot be read; the message names the file and, if known, the line."""


class Message(BaseModel):
    """One chat message (text only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str


class Probe(BaseModel):
    """One prompt to replay and how to score it.

    ``prompt`` (one user message) or ``messages`` (a whole chat) — exactly one of them.
    ``answers``: accepted strings; any of them in the output (after folding, on word boundaries)
    is a hit. ``scoring="choice"`` makes it a multiple-choice probe: ``choices`` are the options
    (lettered A, B, ...) and ``answers`` holds the correct letter(s). ``attack`` names the
    adversarial generator that made it (``parent_id``: the probe it was made from).
    ``translations`` (language code → question) feed the cross-lingual attacks.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=256)
    target_id: str | None = None
    kind: ProbeKind
    prompt: str | None = None
    messages: tuple[Message, ...] | None = None
    answers: tuple[str, ...] = ()
    attack: str | None = None
    parent_id: str | None = None
    scoring: Scoring = "contains"
    choices: tuple[str, ...] = ()
    translations: dict[str, str] = Field(default_factory=dict)
    max_tokens: int | None = Field(default=None, ge=1)
    tags: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Probe:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of 'prompt' and 'messages'")
        if self.messages is not None and not any(m.role == "user" for m in self.messages):
            raise ValueError("'messages' needs at least one user message")
        if self.kind != "general" and not self.answers:
            raise ValueError(f"a {self.kind} probe needs at least one accepted answer")
        if self.scoring == "choice":
            letters = CHOICE_LETTERS[: len(self.choices)]
            if len(self.choices) < 2 or any(a not in letters for a in self.answers):
                raise ValueError("a choice probe needs 2+ choices and answers among their letters")
        return self

    def to_messages(self) -> list[dict[str, str]]:
        """The chat to send, as plain dicts for the ``openai`` client."""
        if self.messages is not None:
            return [{"role": m.role, "content": m.content} for m in self.messages]
        return [{"role": "user", "content": self.prompt or ""}]

    @property
    def question(self) -> str:
        """The text of the last user message: what attacks rewrite."""
        if self.prompt is not None:
            return self.prompt
        return next(m.content for m in reversed(self.messages or ()) if m.role == "user")

    def with_question(self, text: str, **changes: Any) -> Probe:
        """A copy whose last user message is ``text`` (other messages kept), plus ``changes``."""
        if self.messages is None:
            return self.model_copy(update={"prompt": text, **changes})
        msgs = list(self.messages)
        last = max(i for i, m in enumerate(msgs) if m.role == "user")
        msgs[last] = Message(role="user", content=text)
        return self.model_copy(update={"messages": tuple(msgs), **changes})


class Suite(BaseModel):
    """Targets and probes; ``metadata`` records provenance (verification counts, sources)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    targets: tuple[ForgetTarget, ...] = ()
    probes: tuple[Probe, ...] = ()

    @model_validator(mode="after")
    def _check_ids(self) -> Suite:
        target_ids = [t.id for t in self.targets]
        _no_duplicates("target", target_ids)
        _no_duplicates("probe", [p.id for p in self.probes])
        known = set(target_ids)
        for p in self.probes:
            if p.target_id is not None and p.target_id not in known:
                raise ValueError(f"probe {p.id!r} names unknown target {p.target_id!r}")
        return self

    def target(self, target_id: str | None) -> ForgetTarget | None:
        """The target with ``target_id`` (None for None or an unknown id)."""
        return next((t for t in self.targets if t.id == target_id), None)

    def fingerprint(self) -> str:
        """A short hash of the suite's content: a resumed run must replay the same suite."""
        raw = self.model_dump_json(exclude={"metadata"}).encode()
        return hashlib.sha256(raw).hexdigest()[:16]

    def counts(self) -> dict[str, int]:
        """Probes per kind, and targets."""
        out = {"targets": len(self.targets), "probes": len(self.probes)}
        for kind in ("forget", "retain", "general"):
            out[kind] = sum(p.kind == kind for p in self.probes)
        return out


def _no_duplicates(what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"duplicate {what} id {i!r}")
        seen.add(i)


def load_suite(path: str | Path) -> Suite:
    """Read a suite from ``.json`` or ``.jsonl``; :class:`SuiteError` names what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(f"cannot read suite {path}: {exc.strerror or exc}") from None
    if path.suffix == ".jsonl":
        return _suite_from_lines(path, text)
    try:
        return Suite.model_validate_json(text)
    except ValidationError as exc:
        raise SuiteError(f"{path}: {_first_error(exc)}") from None


def _suite_from_lines(path: Path, text: str) -> Suite:
    header: dict[str, Any] = {"name": path.stem}
    targets: list[Any] = []
    probes: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            kind = record.pop("type")
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError):
            raise SuiteError(f"{path}:{number}: not a JSON object with a 'type'") from None
        if kind == "suite":
            header.update(record)
        elif kind == "target":
            targets.append(record)
        elif kind == "probe":
            probes.append(record)
        else:
            raise SuiteError(f"{path}:{number}: unknown record type {kind!r}")
    try:
        return Suite.model_validate({**header, "targets": targets, "probes": probes})
    except ValidationError as exc:
        raise SuiteError(f"{path}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {message}{more}" if where else message + more


def save_suite(suite: Suite, path: str | Path) -> Path:
    """Write ``suite`` as ``.json`` (indented) or ``.jsonl`` (one record per line).

    Targets keep an explicit empty ``forbidden`` (dropping it would re-derive it on load).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = suite.model_dump(mode="json", include={"name", "description", "metadata"})
    targets = [t.model_dump(mode="json", exclude_none=True) for t in suite.targets]
    probes = [p.model_dump(mode="json", exclude_defaults=True) for p in suite.probes]
    if path.suffix != ".jsonl":
        document = {**header, "targets": targets, "probes": probes}
        path.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", "utf-8")
        return path
    lines = [json.dumps({"type": "suite", **header}, ensure_ascii=False)]
    lines += [json.dumps({"type": "target", **t}, ensure_ascii=False) for t in targets]
    lines += [json.dumps({"type": "probe", **p}, ensure_ascii=False) for p in probes]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path
