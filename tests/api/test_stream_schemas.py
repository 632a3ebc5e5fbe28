"""docs/schemas holds exactly what api.streams generates: the documented contract is the code's."""

from __future__ import annotations

import json
from pathlib import Path

from api.streams import json_schemas

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def test_the_json_schema_files_are_current() -> None:
    for name, schema in json_schemas().items():
        path = DOCS / name
        assert path.exists(), f"{path} is missing: run `.venv/bin/python -m api.streams docs/schemas`"
        assert json.loads(path.read_text()) == schema, (
            f"{name} is stale: run `.venv/bin/python -m api.streams docs/schemas`"
        )
    assert sorted(p.name for p in DOCS.glob("*.json")) == sorted(json_schemas())
