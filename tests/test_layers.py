"""Data flows one way (ARCHITECTURE.md): each layer imports only the layers it may call."""

from __future__ import annotations

import ast
from collections.abc import Iterator
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


# Tables, and SQLAlchemy's rows and queries, stay in the store: the layers above it get domain
# objects or the store's frozen dataclasses, whose fields say what a caller may rely on.
STORE_INSIDES = ("src.store.tables", "sqlalchemy.engine.Row", "sqlalchemy.Row")
SEALED_OFF = {"services", "api", "workflows", "activities"}


def _imports() -> Iterator[tuple[Path, str, str]]:
    """(file, its layer, each module or name it imports) for every module in a layer."""
    for path in SRC.rglob("*.py"):
        where = path.relative_to(SRC)
        layer = where.parts[0]
        if layer not in ALLOWED or where.parts[:2] == ("store", "migrations"):
            continue  # entry points (worker.py, cli/, Alembic's env) and config: anything
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                yield path, layer, node.module
                for alias in node.names:
                    yield path, layer, f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, layer, alias.name


def test_imports_follow_the_layers() -> None:
    crossings = [
        f"{path.relative_to(SRC)} imports {name}"
        for path, layer, name in _imports()
        if name.startswith("src.") and _layer(name) not in ALLOWED[layer] | {layer}
    ]
    assert crossings == []


def test_only_the_store_knows_tables_and_rows() -> None:
    leaks = [
        f"{path.relative_to(SRC)} imports {name}"
        for path, layer, name in _imports()
        if layer in SEALED_OFF and name.startswith(STORE_INSIDES)
    ]
    assert leaks == []
