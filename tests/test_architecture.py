"""Imports flow one way (DESIGN.md, "Layout"): this test enforces it.

registry imports no other app; tagging and webhooks import only registry;
snapshots imports those three; api may import them all; nothing imports api.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APPS = ("registry", "tagging", "webhooks", "snapshots", "api")
ALLOWED = {
    "registry": set(),
    "tagging": {"registry"},
    "webhooks": {"registry"},
    "snapshots": {"registry", "tagging", "webhooks"},
    "api": {"registry", "tagging", "webhooks", "snapshots"},
}


def imported_apps(source: str) -> set[str]:
    """The project apps a module imports (absolute imports only; relative stay inside)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in APPS)
    return found


def violations() -> list[str]:
    problems = []
    for app in APPS:
        for path in sorted((REPO / app).rglob("*.py")):
            bad = imported_apps(path.read_text()) - ALLOWED[app] - {app}
            problems.extend(f"{path.relative_to(REPO)} imports {name}" for name in sorted(bad))
    return problems


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from snapshots.models import Snapshot", {"snapshots"}),
        ("import api.v3.views", {"api"}),
        ("from .models import HubModel", set()),
        ("from django.db import models\nimport requests", set()),
        ("def f():\n    from webhooks import tasks", {"webhooks"}),
    ],
)
def test_the_checker_finds_app_imports(source, expected):
    assert imported_apps(source) == expected


def test_imports_flow_one_way():
    assert violations() == []
