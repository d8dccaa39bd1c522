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
    }
    chat = schema["paths"]["/v1/chat/completions"]["post"]
    assert set(chat["responses"]) == {"200", "400", "401", "404", "413", "429", "500", "503"}
    assert "text/event-stream" in chat["responses"]["200"]["content"]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
