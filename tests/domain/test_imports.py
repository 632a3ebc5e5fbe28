"""The domain imports only the standard library, itself, and the library's pure domain module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
ALLOWED = {"domain", "eventsourcing.domain", "__future__"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_domain_imports_no_framework_and_no_io() -> None:
    files = sorted(DOMAIN.glob("*.py"))
    assert files
    for path in files:
        for module in imported_modules(path):
            top = module.split(".")[0]
            allowed = module in ALLOWED or top == "domain" or top in sys.stdlib_module_names
            assert allowed, f"{path.name} imports {module}"
            assert top not in {"sqlite3", "socket", "http", "urllib"}, f"{path.name} does I/O via {module}"
