"""The registry: the durable source of truth for forget targets, and the contract of its backends.

Every change is one transaction that writes the targets, their chunk embeddings, one row per
target in the *change log*, and bumps the global ``version`` once. So:

- a version names a consistent state (never half of a bulk import);
- a follower (another process, a replica) asks "what changed since version v" with
  :meth:`Registry.changes_since` and gets the current state of each changed target, with
  embeddings, as of one version;
- start-up rebuilds every index from :meth:`Registry.dump` without re-embedding anything.

:class:`~lethe.indices.sqlite_registry.SqliteRegistry` is the embedded backend; a PostgreSQL one
implements the same :class:`Registry` protocol (its change feed notifies followers, which then call
``changes_since``).

Example:
    >>> import numpy as np
    >>> from lethe.indices.sqlite_registry import SqliteRegistry
    >>> reg = SqliteRegistry(":memory:")
    >>> t = ForgetTarget(id="t1", kind="entity", name="Ada Quill")
    >>> reg.apply([Put(t, TargetVectors("n", np.zeros((1, 4), np.float32)))]).version
    1
    >>> [(c.version, c.op, c.target_id) for c in reg.changes(0)]
    [(1, 'add', 't1')]
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple, Protocol, TypeVar

import numpy as np

from lethe.errors import Conflict, NotFound
from lethe.indices.lexical import Pattern
from lethe.indices.targets import ForgetTarget

logger = logging.getLogger(__name__)
R = TypeVar("R", bound=tuple)

ChangeOp = Literal["add", "patch", "delete"]


@dataclass(frozen=True, slots=True)
class TargetVectors:
    """A target's chunk embeddings: ``matrix`` row ``i`` is chunk ``i``; ``sources`` has one code
    per row (``n`` name, ``a`` alias, ``c`` content; see :mod:`lethe.indices.chunking`)."""

    sources: str
    matrix: np.ndarray


@dataclass(frozen=True, slots=True)
class StoredTarget:
    """A target as stored, with the registry version of its last change (its ETag)."""

    target: ForgetTarget
    version: int
    vectors: TargetVectors | None = None


class TargetRecord(NamedTuple):
    """A stored target as start-up reads it: what the indices need up front (its compiled lexical
    patterns, scope, expiry, vectors), and its JSON ``body`` to parse only when the target itself
    is wanted (parsing and validating 100k targets would take most of the start-up budget).
    A named tuple: one is built per stored target at start-up, 5x faster than a dataclass."""

    target_id: str
    version: int
    scope: str
    expires_at: datetime | None
    patterns: tuple[Pattern, ...]
    body: str
    vectors: TargetVectors | None

    def target(self) -> ForgetTarget:
        """Parse the full target."""
        return ForgetTarget.model_validate_json(self.body)


@dataclass(frozen=True, slots=True)
class Put:
    """Insert a target (``replace=False``; skipped when the id exists) or replace one (must exist).

    ``vectors=None`` on a replace keeps the stored embeddings (the chunks did not change).
    ``expected_version`` makes a replace fail with ``Conflict`` if the target changed since.
    """

    target: ForgetTarget
    vectors: TargetVectors | None
    replace: bool = False
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete a target (``NotFound`` if absent; ``Conflict`` on a version mismatch)."""

    target_id: str
    expected_version: int | None = None


Op = Put | Delete


@dataclass(frozen=True, slots=True)
class Applied:
    """What one transaction did. ``version == previous`` when nothing changed."""

    version: int
    previous: int
    written: tuple[StoredTarget, ...]
    deleted: tuple[str, ...]
    skipped: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """One row of the change log."""

    version: int
    op: ChangeOp
    target_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """The state, as of ``version``, of every target changed after some version: ``None`` means
    deleted. Applying it brings a follower exactly to ``version``."""

    version: int
    targets: Mapping[str, StoredTarget | None]


@dataclass(frozen=True, slots=True)
class TargetPage:
    """One page of a listing; pass ``next_cursor`` back to get the next page (``None``: last)."""

    items: tuple[StoredTarget, ...]
    next_cursor: str | None
    version: int


class StagedOps(Protocol):
    """A backend's open write transaction, as :func:`stage` and :func:`applied` use it."""

    version: int
    written: list[StoredTarget]
    deleted: list[str]
    skipped: list[str]
    changes: list[tuple[str, str]]

    def put(self, op: Put) -> None:
        """Stage an insert or replace."""
        ...

    def delete(self, op: Delete) -> None:
        """Stage a delete."""
        ...


def check_version(target_id: str, row: R | None, expected: int | None) -> R | None:
    """The stored ``row`` (its version first) of ``target_id``; ``Conflict`` when
    ``expected`` is given and the stored version differs."""
    if row is not None and expected is not None and row[0] != expected:
        raise Conflict(
            f"target {target_id} is at version {row[0]}, not {expected}", param="version"
        )
    return row


def admit_put(tx: StagedOps, op: Put, current: object | None) -> bool:
    """Whether ``op`` writes, given its target's stored row (``None``: absent). Adding an id
    that exists is skipped (recorded in ``tx.skipped``: bulk imports are idempotent), replacing
    one that does not is ``NotFound``, and a new target must come with its vectors."""
    target_id = op.target.id
    if not op.replace and current is not None:
        tx.skipped.append(target_id)
        return False
    if op.replace and current is None:
        raise NotFound(f"no target {target_id}", param="id")
    if op.vectors is None and current is None:
        raise ValueError(f"a new target needs its vectors: {target_id}")
    return True


def stage(tx: StagedOps, ops: Sequence[Op]) -> bool:
    """Stage ``ops`` in order on ``tx``; False when none of them changes anything."""
    for op in ops:
        if isinstance(op, Put):
            tx.put(op)
        else:
            tx.delete(op)
    return bool(tx.changes)


def applied(tx: StagedOps, previous: int) -> Applied:
    """What a committed ``tx`` did (logged as ``registry_changed``)."""
    logger.info(
        "event=registry_changed version=%d changes=%d skipped=%d",
        tx.version,
        len(tx.changes),
        len(tx.skipped),
    )
    return Applied(tx.version, previous, tuple(tx.written), tuple(tx.deleted), tuple(tx.skipped))


class RegistryDump(Protocol):
    """Every stored target with its vectors, as of ``version`` (a context manager)."""

    version: int

    def __iter__(self) -> Iterator[TargetRecord]: ...

    def __enter__(self) -> RegistryDump: ...

    def __exit__(self, *exc: object) -> None: ...


class Registry(Protocol):
    """A durable, versioned store of forget targets and their embeddings; thread-safe."""

    def bind(self, embedder: str, dim: int, chunker: str) -> None:
        """Record (or check) which embedder and chunker made the stored vectors.

        Raises ``ConfigurationError`` when targets exist and were embedded differently.
        """
        ...

    def version(self) -> int:
        """The version of the last committed change (0 when none)."""
        ...

    def apply(self, ops: Sequence[Op]) -> Applied:
        """Apply ``ops`` in one transaction, all or nothing."""
        ...

    def get(self, target_id: str, *, vectors: bool = False) -> StoredTarget | None:
        """One target, or ``None``."""
        ...

    def list(
        self,
        *,
        kind: str | None = None,
        scope: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
        active_at: datetime | None = None,
    ) -> TargetPage:
        """Targets in id order after ``cursor``; ``active_at`` leaves out those expired by then."""
        ...

    def changes(self, since: int, *, limit: int | None = None) -> list[Change]:
        """Change-log rows with ``version > since``, oldest first."""
        ...

    def changes_since(self, since: int) -> ChangeSet:
        """Current state of every target changed after ``since`` (see :class:`ChangeSet`)."""
        ...

    def dump(self) -> RegistryDump:
        """All targets with vectors, consistent at one version, streamed."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
