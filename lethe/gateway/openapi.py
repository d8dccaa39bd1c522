"""The OpenAPI document of the gateway, as committed in ``docs/openapi.json``.

Regenerate it after changing a route or a protocol model:

    $ python -m lethe.gateway.openapi > docs/openapi.json

A test fails while the committed file is stale.
"""

from __future__ import annotations

import json
import sys

from lethe.gateway.app import create_app
from lethe.gateway.settings import Settings


def openapi_json() -> str:
    """The OpenAPI document as stable, indented JSON (no engine is built or loaded)."""
    schema = create_app(Settings()).openapi()
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(openapi_json())
