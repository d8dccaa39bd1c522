"""Test doubles for the replay: an engine that answers by rule, and an in-memory admin API.

``AnswerEngine`` looks at the last user message and answers with the first rule whose keyword
it contains (case-insensitive), else with Lethe's default refusal; at temperature > 0 it can give
other texts per choice (``sampled``), so leak@k sees a mix. ``FakeAdmin`` implements the admin
contract the replay programs against (import, create, delete, patch, scope, registry) in memory,
and records every call.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence

from fastapi import APIRouter, FastAPI, Header, HTTPException, Request

from lethe.decoders import GenerationOutput, ProcessorFactory, Turn
from lethe.indices import ForgetTarget
from lethe.indices.normalize import fold_key
from tests.gateway.fakes import FakeEngine, Reply

REFUSAL = "I'm not familiar with that."


class AnswerEngine(FakeEngine):
    """A fake engine whose answer depends on the question (see the module docstring)."""

    def __init__(
        self,
        rules: Sequence[tuple[str, str]],
        sampled: Sequence[tuple[str, Sequence[str]]] = (),
        model_id: str = "lethe-fake",
        delay_s: float = 0.0,
    ) -> None:
        super().__init__(model_id=model_id, max_model_len=100_000)
        self.rules = list(rules)
        self.sampled = {k.lower(): tuple(v) for k, v in sampled}
        self.delay_s = delay_s

    def _answer(self, turn: Turn) -> Reply:
        question = next(m.content for m in reversed(turn.messages) if m.role == "user").lower()
        if turn.params.temperature > 0:
            for keyword, texts in self.sampled.items():
                if keyword in question:
                    return Reply(choices=tuple((t,) for t in texts), delay_s=self.delay_s)
        for keyword, text in self.rules:
            if keyword.lower() in question:
                return Reply(choices=((text,),), delay_s=self.delay_s)
        return Reply(choices=((REFUSAL,),), delay_s=self.delay_s)

    def generate(
        self, turn: Turn, processors: Sequence[ProcessorFactory] = ()
    ) -> AsyncIterator[GenerationOutput]:
        self.turns.append(turn)
        return self._outputs(turn, self._answer(turn))


class FakeAdmin:
    """An in-memory admin API (``router``) with key ``key``; ``calls`` lists ``METHOD path``."""

    def __init__(self, key: str = "admin-key", bulk: bool = True) -> None:
        self.key = key
        self.targets: dict[str, ForgetTarget] = {}
        self.version = 0
        self.calls: list[str] = []
        self.router = APIRouter()
        r = self.router
        if bulk:
            r.add_api_route("/admin/targets:import", self._import, methods=["POST"])
        r.add_api_route("/admin/targets", self._create, methods=["POST"], status_code=201)
        r.add_api_route("/admin/targets/{target_id}", self._delete, methods=["DELETE"])
        r.add_api_route("/admin/targets/{target_id}", self._patch, methods=["PATCH"])
        r.add_api_route("/admin/scope", self._scope, methods=["GET"])
        r.add_api_route("/admin/registry", self._registry, methods=["GET"])

    def mount(self, app: FastAPI) -> None:
        """Serve this fake in front of the app's own admin API (its routes match first)."""
        app.router.routes[:0] = self.router.routes

    def _auth(self, authorization: str | None) -> None:
        if authorization != f"Bearer {self.key}":
            raise HTTPException(401, "bad admin key")

    async def _import(self, request: Request, authorization: str | None = Header(None)) -> dict:
        self._auth(authorization)
        self.calls.append("POST import")
        errors, imported = [], 0
        for line, raw in enumerate((await request.body()).decode().splitlines(), start=1):
            target = ForgetTarget.model_validate_json(raw)
            if target.id in self.targets:
                errors.append({"line": line, "error": f"target {target.id} already exists"})
                continue
            self.targets[target.id] = target
            imported += 1
        self.version += 1
        return {
            "imported": imported,
            "failed": len(errors),
            "errors": errors,
            "version": self.version,
        }

    async def _create(self, request: Request, authorization: str | None = Header(None)) -> dict:
        self._auth(authorization)
        target = ForgetTarget.model_validate(json.loads(await request.body()))
        self.calls.append(f"POST {target.id}")
        if target.id in self.targets:
            raise HTTPException(409, "exists")
        self.targets[target.id] = target
        self.version += 1
        return {"id": target.id, "version": self.version}

    def _delete(self, target_id: str, authorization: str | None = Header(None)) -> dict:
        self._auth(authorization)
        self.calls.append(f"DELETE {target_id}")
        if self.targets.pop(target_id, None) is None:
            raise HTTPException(404, "no such target")
        self.version += 1
        return {"version": self.version}

    async def _patch(
        self, target_id: str, request: Request, authorization: str | None = Header(None)
    ) -> dict:
        self._auth(authorization)
        self.calls.append(f"PATCH {target_id} {(await request.body()).decode()}")
        return {"id": target_id, "version": self.version}

    def _scope(self, text: str, authorization: str | None = Header(None)) -> dict:
        """Lexical: a name in the text; semantic: a made-up score, 0.9 when the name's first
        word appears, else 0.1 (enough to draw a calibration curve)."""
        self._auth(authorization)
        hits = []
        folded = fold_key(text)
        for t in self.targets.values():
            lexical = [t.name] if fold_key(t.name) in folded else []
            first = fold_key(t.name.split()[0])
            hits.append(
                {"target_id": t.id, "lexical": lexical, "semantic": 0.9 if first in folded else 0.1}
            )
        return {"version": self.version, "hits": hits}

    def _registry(self, authorization: str | None = Header(None)) -> dict:
        self._auth(authorization)
        return {"version": self.version, "targets": len(self.targets)}
