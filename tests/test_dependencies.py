"""Everything ``src`` imports is installed by the package's own dependencies (not only by the
``dev`` extra the tests run with), so a production install can run every module."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _name(requirement: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _installed_by(package: str, extra: str | None = None) -> set[str]:
    """``package`` and what it requires, transitively, with its own ``extra`` if named (the
    requirements' own extras left out)."""
    seen: set[str] = set()
    todo = [package]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            needs = requires(name) or []
        except Exception:  # a requirement for another platform is not installed here
            continue
        own = extra if name == package else None
        todo += [
            _name(r)
            for r in needs
            if "extra ==" not in r or (own is not None and f'extra == "{own}"' in r)
        ]
    return seen


def test_src_imports_only_what_the_package_installs() -> None:
    """The ``embedded`` extra (PostgreSQL and Temporal binaries for ``loyalty dev``) only
    serves the command line's development stack."""
    core = _installed_by("loyalty-engine")
    development = _installed_by("loyalty-engine", "embedded")
    providers = packages_distributions()
    missing = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top == "src" or top in sys.stdlib_module_names:
                    continue
                dists = {_name(d) for d in providers.get(top, [])}
                allowed = development if path.parts[len(SRC.parts)] == "cli" else core
                if not dists & allowed:
                    missing.add(f"{path.relative_to(SRC)}: {top}")
    assert missing == set()
