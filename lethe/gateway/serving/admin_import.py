"""Bulk import of forget targets from a streamed JSONL body (``POST /admin/targets:import``).

The body is never held whole: :func:`jsonl_lines` splits it into lines as the chunks arrive
(a line longer than one target may be is skipped as it streams, and reported), and
:class:`Importer` gathers ``batch_size`` lines at a time, then parses, validates and adds them
with :meth:`~lethe.indices.TargetStore.add_many` in a worker thread: each batch is one registry
transaction (atomic, one version bump), and the event loop stays free for chat traffic while it
embeds. While a batch is being added the body is not read, so TCP flow control slows the client
down instead of the server buffering.

Bad lines (invalid JSON, a target that fails validation, an id that exists already or repeats
in this import) are reported with their 1-based line number and do not stop the good ones.
Blank lines are skipped.

Example:
    >>> import asyncio
    >>> async def chunks():
    ...     yield b'{"kind": "topic", "na'
    ...     yield b'me": "Nerve agents"}\\n\\n{"kind"'
    >>> async def lines():
    ...     return [(n.number, n.raw, n.too_long) async for n in jsonl_lines(chunks(), 100)]
    >>> asyncio.run(lines())
    [(1, b'{"kind": "topic", "name": "Nerve agents"}', False), (3, b'{"kind"', False)]
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

import anyio.to_thread
from pydantic import ValidationError

from lethe.gateway.logs import kv
from lethe.gateway.protocol.admin import ImportLineError, ImportResult
from lethe.indices import ForgetTarget, TargetStore, field_errors, parse_target_json
from lethe.indices.targets import MAX_TARGET_JSON_BYTES

P = ParamSpec("P")
R = TypeVar("R")
logger = logging.getLogger(__name__)

MAX_REPORTED_ERRORS = 1000
MAX_MESSAGE_FIELDS = 3


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the body: its 1-based number and bytes (empty when ``too_long``)."""

    number: int
    raw: bytes
    too_long: bool = False


async def jsonl_lines(chunks: AsyncIterator[bytes], max_line_bytes: int) -> AsyncIterator[Line]:
    """The non-blank lines of a streamed body, numbered; at most one line is buffered."""
    buffer = bytearray()
    number = 1
    skipping = False  # inside a line already reported as too long
    async for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            if skipping:
                yield Line(number, b"", too_long=True)
            else:
                buffer += chunk[start:end]
                if len(buffer) > max_line_bytes:
                    yield Line(number, b"", too_long=True)
                elif raw := bytes(buffer).strip():
                    yield Line(number, raw)
            buffer.clear()
            skipping = False
            number += 1
            start = end + 1
        if not skipping:
            buffer += chunk[start:]
            if len(buffer) > max_line_bytes:
                buffer.clear()
                skipping = True
    if skipping or len(buffer) > max_line_bytes:
        yield Line(number, b"", too_long=True)
    elif raw := bytes(buffer).strip():
        yield Line(number, raw)


def describe_validation(exc: ValidationError) -> tuple[str, str | None]:
    """A one-line message naming the fields, and the first field path (``param``)."""
    errors = exc.errors(include_url=False)
    if errors and errors[0]["type"] == "json_invalid":
        detail = errors[0].get("ctx", {}).get("error", "malformed")
        return f"invalid JSON: {detail}", None
    fields = field_errors(exc)
    message = "; ".join(f"{path}: {msg}" for path, msg in fields[:MAX_MESSAGE_FIELDS])
    if len(fields) > MAX_MESSAGE_FIELDS:
        message += f" (and {len(fields) - MAX_MESSAGE_FIELDS} more)"
    param = fields[0][0] if fields else None
    return message, None if param == "body" else param


def _declared_id(raw: bytes) -> str | None:
    """The ``id`` a rejected line meant to have, if it is readable (for error reports only)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    target_id = value.get("id") if isinstance(value, dict) else None
    return target_id if isinstance(target_id, str) else None


@dataclass(slots=True)
class ImportTally:
    """What an import has done so far."""

    imported: int = 0
    failed: int = 0
    errors: list[ImportLineError] = field(default_factory=list)
    version: int = 0

    def fail(self, error: ImportLineError) -> None:
        """Count a failed line; keep its report if there is room."""
        self.failed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(error)

    def result(self) -> ImportResult:
        """The wire answer."""
        return ImportResult(
            imported=self.imported,
            failed=self.failed,
            errors=sorted(self.errors, key=lambda e: e.line),
            errors_truncated=self.failed > len(self.errors),
            version=self.version,
        )


class Importer:
    """One import: batches lines and adds them to ``store`` off the event loop."""

    def __init__(self, store: TargetStore, batch_size: int) -> None:
        self._store = store
        self._batch_size = batch_size
        self._seen: dict[str, int] = {}  # id -> line, only touched by the worker thread
        self.tally = ImportTally(version=store.version)

    async def run(self, chunks: AsyncIterator[bytes]) -> ImportResult:
        """Read, parse and add every line of ``chunks``; returns the answer."""
        started = time.perf_counter()
        batch: list[Line] = []
        outcome = "aborted"  # the client went away, or the body passed its limit
        try:
            async for line in jsonl_lines(chunks, MAX_TARGET_JSON_BYTES):
                batch.append(line)
                if len(batch) >= self._batch_size:
                    await self._flush(batch)
                    batch = []
            if batch:
                await self._flush(batch)
            outcome = "done"
        finally:
            t = self.tally
            logger.info(
                kv(
                    "targets_imported",
                    outcome=outcome,
                    imported=t.imported,
                    failed=t.failed,
                    version=self._store.version,
                    duration_s=round(time.perf_counter() - started, 2),
                )
            )
        self.tally.version = self._store.version
        return self.tally.result()

    async def _flush(self, batch: list[Line]) -> None:
        await run_blocking(self._add_batch, batch)

    def _add_batch(self, batch: list[Line]) -> None:
        """Parse ``batch`` and add its valid targets in one transaction (worker thread)."""
        targets: list[ForgetTarget] = []
        lines: list[int] = []
        for line in batch:
            target = self._parse(line)
            if target is not None:
                targets.append(target)
                lines.append(line.number)
        if not targets:
            return
        result = self._store.add_many(targets, batch_size=len(targets))
        for error in result.errors:
            self.tally.fail(
                ImportLineError(
                    line=lines[error.index], id=error.target_id, error=error.message, param="id"
                )
            )
            self._seen.pop(error.target_id, None)
        self.tally.imported += len(result.added)
        self.tally.version = result.version

    def _parse(self, line: Line) -> ForgetTarget | None:
        if line.too_long:
            message = f"line is longer than {MAX_TARGET_JSON_BYTES} bytes"
            self.tally.fail(ImportLineError(line=line.number, error=message))
            return None
        try:
            target = parse_target_json(line.raw)
        except ValidationError as exc:
            message, param = describe_validation(exc)
            error = ImportLineError(
                line=line.number, id=_declared_id(line.raw), error=message, param=param
            )
            self.tally.fail(error)
            return None
        if target.expires_at is not None and target.expires_at <= datetime.now(UTC):
            message = "expires_at is in the past"
            self.tally.fail(
                ImportLineError(line=line.number, id=target.id, error=message, param="expires_at")
            )
            return None
        first = self._seen.setdefault(target.id, line.number)
        if first != line.number:
            message = f"target {target.id} appears twice in this import (first on line {first})"
            self.tally.fail(
                ImportLineError(line=line.number, id=target.id, error=message, param="id")
            )
            return None
        return target


async def run_blocking(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a blocking store call in a worker thread, so the event loop keeps serving."""
    return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))


__all__ = ["Importer", "Line", "describe_validation", "jsonl_lines", "run_blocking"]
