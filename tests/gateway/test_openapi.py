"""The committed docs/openapi.json must match what the app generates."""

from __future__ import annotations

import json
from pathlib import Path

from lethe.gateway.openapi import openapi_json

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_schema_is_current() -> None:
    assert COMMITTED.read_text() == openapi_json(), (
        "docs/openapi.json is stale: run `python -m lethe.gateway.openapi > docs/openapi.json`"
    )


def test_schema_documents_the_openai_surface() -> None:
    schema = json.loads(openapi_json())
    assert set(schema["paths"]) == {
        "/healthz",
        "/readyz",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/models",
        "/v1/models/{model_id}",
        "/admin/targets",
        "/admin/targets:import",
        "/admin/targets/{target_id}",
        "/admin/scope",
        "/admin/registry",
        "/admin/audit",
        "/admin/assistants",
        "/admin/assistants:train",
    }
    chat = schema["paths"]["/v1/chat/completions"]["post"]
    assert set(chat["responses"]) == {"200", "400", "401", "404", "413", "429", "500", "503"}
    assert "text/event-stream" in chat["responses"]["200"]["content"]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_schema_documents_the_admin_api() -> None:
    schema = json.loads(openapi_json())
    paths = schema["paths"]
    create = paths["/admin/targets"]["post"]
    assert {"201", "401", "403", "409", "422"} <= set(create["responses"])
    assert create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )
    assert create["security"] == [{"AdminKey": []}]
    imported = paths["/admin/targets:import"]["post"]
    assert "application/x-ndjson" in imported["requestBody"]["content"]
    assert "422" not in paths["/v1/chat/completions"]["post"]["responses"]  # 400s there
    assert schema["components"]["securitySchemes"]["AdminKey"]["scheme"] == "bearer"
