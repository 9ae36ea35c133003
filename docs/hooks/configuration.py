"""MkDocs hook: the configuration page's table of settings, rendered from `src.config.Settings`.

Each field is one row: its environment variable, its type and bounds, its default and its
description, so the page says what the code reads and cannot drift from it.
"""

from __future__ import annotations

import json
import types
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic.fields import FieldInfo

from src.config import Settings

MARKER = "<!-- settings -->"
PAGE = "configuration.md"
TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}
BOUNDS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}


def variable(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
    return (alias or name).upper()


def kind(field: FieldInfo) -> str:
    annotation: Any = field.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) is Literal:
        return " or ".join(f"`{value}`" for value in get_args(annotation))
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        return f"JSON list of {TYPES[item]}s"
    said = TYPES[annotation]
    for bound in field.metadata:
        if isinstance(bound, annotated_types.BaseMetadata):
            for attr, sign in BOUNDS.items():
                if hasattr(bound, attr):
                    said += f", {sign} {value(getattr(bound, attr))}"
    return said


def value(found: Any) -> str:
    if found is None:
        return "unset"
    if isinstance(found, bool):
        return str(found).lower()
    if isinstance(found, float):
        return f"{found:g}"
    if isinstance(found, list):
        return json.dumps(found, separators=(",", ":"))
    return str(found)


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def table() -> str:
    """One row per setting, in the order `Settings` declares them."""
    rows = ["| variable | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = value(field.get_default(call_default_factory=True))
        rows.append(
            f"| `{variable(name, field)}` | {kind(field)} | `{cell(default)}` "
            f"| {cell(field.description or '')} |"
        )
    return "\n".join(rows) + "\n"


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"{PAGE} has lost its {MARKER} line, where the settings go")
    return markdown.replace(MARKER, table())
