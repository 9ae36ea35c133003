"""The documentation holds together: the README stays short and links every page, every
setting is on the configuration page, every curl example uses BASE, SECRET and ORG, and the
changelog has every release."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from types import ModuleType

import pytest
import yaml

from src.cli.demo import curl_example
from src.config import Settings
from tests.docs.pages import DOCS, README, ROOT, RUNNABLE, SHELL, blocks, curls, markers, pages

# Paths a client reaches without credentials.
OPEN = ("/healthz", "/readyz", "/openapi.json", "/docs")
HISTORIES = ROOT / "tests" / "workflows" / "histories"


def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "configuration", DOCS / "hooks" / "configuration.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_setting_is_on_the_configuration_page() -> None:
    configuration = hook()
    table = configuration.table()
    for name, field in Settings.model_fields.items():
        row = next((r for r in table.splitlines() if r.startswith(f"| `{name.upper()}` |")), None)
        assert row is not None, f"{name.upper()} is not on the configuration page"
        assert field.description, f"{name} has no description to show there"
    page = (DOCS / "configuration.md").read_text()
    assert page.count(configuration.MARKER) == 1


def test_the_hook_refuses_a_page_without_its_marker() -> None:
    configuration = hook()

    class Page:
        class file:
            src_uri = "configuration.md"

    with pytest.raises(ValueError, match="settings"):
        configuration.on_page_markdown("# Configuration\n", page=Page)


def test_readme_is_short_and_links_every_page() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    linked = set(re.findall(r"\]\((docs/[^)#\s]+\.md)", text))
    site = {str(page.relative_to(ROOT)) for page in DOCS.rglob("*.md")}
    assert site - linked == set(), "README.md does not link these pages"
    assert linked - site == set(), "README.md links pages that do not exist"


def test_every_page_is_in_the_site_navigation() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def walk(items: list[object]) -> list[str]:
        found: list[str] = []
        for item in items:
            if isinstance(item, str):
                found.append(item)
            elif isinstance(item, dict):
                for value in item.values():
                    found += walk(value) if isinstance(value, list) else [str(value)]
        return found

    nav = set(walk(config["nav"]))
    site = {str(page.relative_to(DOCS)) for page in DOCS.rglob("*.md")}
    assert site == nav


def test_curl_examples_use_base_secret_and_org() -> None:
    printed = curl_example({"baseUrl": "http://127.0.0.1:8000", "apiSecret": "lsk_", "orgId": "o"})
    shown = [(f"`make dev`: {command}", command) for command in curls(printed)]
    for page in pages():
        for block in blocks(page):
            if block.lang in SHELL:
                shown += [(f"{block.where}: {command}", command) for command in curls(block.text)]
    assert len(shown) > 1
    wrong = []
    for where, command in shown:
        url = re.search(r'"\$BASE(/[^"?]*)', command)
        authorised = (
            '"Authorization: Bearer $SECRET"' in command and '"X-Monterosa-Org-ID: $ORG"' in command
        )
        if url is None or not (authorised or url[1].startswith(OPEN)):
            wrong.append(where[:160])
    assert wrong == []


def test_runnable_markers_stand_before_bash_blocks() -> None:
    for page in pages():
        runnable = [block for block in blocks(page) if block.runnable]
        assert all(block.lang == "bash" for block in runnable), page
        assert len(runnable) == markers(page), f"{page}: a {RUNNABLE} line before no block"


def test_the_quickstart_and_the_guide_flow_are_runnable() -> None:
    for page in (README, DOCS / "guide" / "integration-flow.md"):
        assert any(block.runnable and curls(block.text) for block in blocks(page)), page


def test_changelog_has_every_release() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[?([^\]\s]+)", changelog, re.MULTILINE)
    releases = sorted(
        (p.name for p in HISTORIES.iterdir()), key=lambda v: tuple(map(int, v.split(".")))
    )
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert headings[0] == "Unreleased"
    assert headings[1:] == list(
        reversed(sorted({*releases, version}, key=lambda v: tuple(map(int, v.split(".")))))
    )
