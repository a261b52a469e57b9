"""The OpenAPI 3.1 description of the API (`openapi.json`, beside this file), served at
/api/v1/openapi.json.

The paths are hand-maintained; the components of the answers' shapes (project, version,
preview, job, share, diff, plan, pages, error) are generated from `checkpoints.shapes` by
`components_write()` (`make openapi`), and `tests/api/test_api_openapi.py` checks the served
document holds exactly those. That test validates real responses of every endpoint
against the document, and `tests/api/test_api_schemathesis.py` runs schemathesis over it.
Only the largest `wait_seconds` is filled in from the settings when it is served.
"""

from __future__ import annotations

import json
from copy import deepcopy
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings

from checkpoints.shapes import openapi_components

DOCUMENT = Path(__file__).with_name("openapi.json")


@cache
def _document() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text(encoding="utf-8"))


def openapi_document() -> dict[str, Any]:
    """The description, with this server's bound on `wait_seconds`."""
    wait_max = float(settings.CHECKPOINTS_API_WAIT_SECONDS)
    document = deepcopy(_document())
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter["name"] == "wait_seconds":
                    parameter["schema"]["maximum"] = wait_max
    return document


def components_write() -> None:
    """Write the shapes' generated components into `openapi.json` (the paths are kept)."""
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    document["components"]["schemas"].update(openapi_components())
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    DOCUMENT.write_text(text, encoding="utf-8")
    _document.cache_clear()
