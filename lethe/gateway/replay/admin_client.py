"""The replay's view of Lethe's admin API, behind one class so it can follow the real endpoints.

Only what the replay and the calibration need: load a suite's targets, remove them again, ask
which targets a text would hit (``GET /admin/scope``), and read the registry version. All calls
carry ``Authorization: Bearer <admin key>``.

Loading prefers the bulk ``POST /admin/targets:import`` (JSONL body) and falls back to one
``POST /admin/targets`` per target when the server has no bulk route. A target whose id already
exists is reported as *pre-existing*: the replay uses it but does not delete it afterwards (it is
not ours). Every other failure is an :class:`AdminError` with a one-line message.

Example:
    >>> with AdminClient("http://127.0.0.1:8000", "admin-key") as admin:   # doctest: +SKIP
    ...     loaded = admin.load_targets(suite.targets)
    ...     admin.remove_targets(loaded.created)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from lethe.gateway.logs import kv
from lethe.indices import ForgetTarget

logger = logging.getLogger(__name__)

_EXISTS_HINTS: Final = ("exist", "duplicate", "conflict", "already")


class AdminError(Exception):
    """The admin API refused or could not be reached; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class LoadedTargets:
    """Ids the replay created (to remove at the end) and ids that were there before it."""

    created: tuple[str, ...]
    preexisting: tuple[str, ...] = ()
    version: int | None = None


@dataclass(frozen=True, slots=True)
class ScopeHit:
    """One target a text would hit: whether lexically, and its semantic score (cosine)."""

    target_id: str
    lexical: bool
    semantic: float | None


@dataclass(frozen=True, slots=True)
class ScopeAnswer:
    """``GET /admin/scope``: the registry version and the hits."""

    version: int | None
    hits: tuple[ScopeHit, ...] = field(default_factory=tuple)


class AdminClient:
    """A Lethe admin API at ``base_url`` (the server root, not ``/v1``).

    Import answers' ``errors[].line`` are taken as 1-based line numbers of the JSONL body.
    ``transport`` replaces the network (tests use ``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str,
        admin_key: str | None,
        timeout_s: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        headers = {"Authorization": f"Bearer {admin_key}"} if admin_key else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport
        )

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise AdminError(f"admin API at {self.base_url} unreachable: {exc}") from None

    def registry(self) -> dict[str, Any]:
        """``GET /admin/registry``: version and counts."""
        return _json(self._request("GET", "/admin/registry"), "GET /admin/registry")

    def load_targets(self, targets: Sequence[ForgetTarget]) -> LoadedTargets:
        """Create ``targets``; bulk import when the server has it, else one by one."""
        if not targets:
            return LoadedTargets(())
        body = "\n".join(_target_json(t) for t in targets) + "\n"
        response = self._request(
            "POST",
            "/admin/targets:import",
            content=body.encode(),
            headers={"Content-Type": "application/x-ndjson"},
        )
        if response.status_code in (404, 405):
            return self._load_one_by_one(targets)
        answer = _json(response, "POST /admin/targets:import")
        created, preexisting = _split_import(targets, answer)
        logger.info(kv("replay_targets_loaded", created=len(created), preexisting=len(preexisting)))
        return LoadedTargets(tuple(created), tuple(preexisting), answer.get("version"))

    def _load_one_by_one(self, targets: Sequence[ForgetTarget]) -> LoadedTargets:
        created: list[str] = []
        preexisting: list[str] = []
        version = None
        for t in targets:
            response = self._request(
                "POST",
                "/admin/targets",
                content=_target_json(t).encode(),
                headers={"Content-Type": "application/json"},
            )
            if response.status_code == 409:
                preexisting.append(t.id)
                continue
            answer = _json(response, "POST /admin/targets")
            created.append(str(answer.get("id", t.id)))
            version = answer.get("version", version)
        return LoadedTargets(tuple(created), tuple(preexisting), version)

    def remove_targets(self, target_ids: Iterable[str]) -> int:
        """Delete each target (a missing one is fine); returns how many were deleted."""
        removed = 0
        for target_id in target_ids:
            response = self._request("DELETE", f"/admin/targets/{target_id}")
            if response.status_code == 404:
                continue
            _json(response, f"DELETE /admin/targets/{target_id}")
            removed += 1
        logger.info(kv("replay_targets_removed", removed=removed))
        return removed

    def patch_target(self, target_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PATCH /admin/targets/{id}`` with a partial target (e.g. new thresholds)."""
        response = self._request("PATCH", f"/admin/targets/{target_id}", json=body)
        return _json(response, f"PATCH /admin/targets/{target_id}")

    def scope(self, text: str) -> ScopeAnswer:
        """``GET /admin/scope?text=``: the targets ``text`` would hit, with their scores."""
        answer = _json(self._request("GET", "/admin/scope", params={"text": text}), "scope")
        hits = []
        for h in answer.get("hits", []):
            lexical = h.get("lexical")
            semantic = h.get("semantic", h.get("semantic_score"))
            hits.append(
                ScopeHit(
                    target_id=str(h["target_id"]),
                    lexical=bool(lexical),
                    semantic=None if semantic is None else float(semantic),
                )
            )
        return ScopeAnswer(answer.get("version"), tuple(hits))


def _target_json(target: ForgetTarget) -> str:
    return json.dumps(target.model_dump(mode="json", exclude_none=True), ensure_ascii=False)


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code in (401, 403):
        raise AdminError(f"{what}: the admin key was refused ({response.status_code})")
    if response.status_code >= 400:
        raise AdminError(f"{what}: HTTP {response.status_code}: {_message(response)}")
    try:
        body = response.json()
    except ValueError:
        raise AdminError(f"{what}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise AdminError(f"{what}: expected a JSON object")
    return body


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error))[:200]
    return str(body.get("detail", body) if isinstance(body, dict) else body)[:200]


def _split_import(
    targets: Sequence[ForgetTarget], answer: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """Created and pre-existing ids from an import answer; other failures raise."""
    failed_lines: dict[int, str] = {}
    for err in answer.get("errors", []):
        failed_lines[int(err.get("line", 0))] = str(err.get("error", ""))
    created, preexisting = [], []
    for line, target in enumerate(targets, start=1):
        error = failed_lines.get(line)
        if error is None:
            created.append(target.id)
        elif any(h in error.lower() for h in _EXISTS_HINTS):
            preexisting.append(target.id)
        else:
            raise AdminError(f"target {target.id!r} was refused: {error}")
    return created, preexisting
