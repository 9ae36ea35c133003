"""Data flows one way (ARCHITECTURE.md): each layer imports only the layers it may call."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# Layer -> what its modules may import from src (itself always).
ALLOWED = {
    "domain": set(),
    "store": {"domain"},
    "services": {"domain", "store"},
    "activities": {"domain", "services", "store", "metrics"},
    "workflows": {"domain", "services", "store", "activities", "config", "metrics", "tracing"},
    "api": {"domain", "services", "store", "workflows", "config", "logs", "metrics", "tracing"},
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_imports_follow_the_layers() -> None:
    crossings = []
    for path in SRC.rglob("*.py"):
        where = path.relative_to(SRC)
        layer = where.parts[0]
        if layer not in ALLOWED or where.parts[:2] == ("store", "migrations"):
            continue  # entry points (worker.py, cli/, Alembic's env) and config: anything
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                target = _layer(name)
                if name.startswith("src.") and target not in ALLOWED[layer] | {layer}:
                    crossings.append(f"{path.relative_to(SRC)} imports {name}")
    assert crossings == []
