"""The README and the documentation pages, read as the tests check them: their shell code
blocks, which of them are runnable, and the curl commands in them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
# Put on the line before a ```bash block, the block runs under tests/docs/test_examples.py.
RUNNABLE = "<!-- runnable -->"
SHELL = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>[^`]*)$")
# Where a curl command starts: at the start of a line or after `$(`, `|`, `;`, `&&`, `until`…
CURL = re.compile(r"(?:^|[\s(;|&])curl\s", re.MULTILINE)


def pages() -> list[Path]:
    """The README, then every Markdown page of the site, in path order."""
    return [README, *sorted(DOCS.rglob("*.md"))]


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, counted from 1
    lang: str
    text: str
    runnable: bool

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of ``page``; runnable when the line before says so."""
    found: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:])
            i += 1
        before = next((line.strip() for line in reversed(lines[:start]) if line.strip()), "")
        lang = opening["info"].strip().split(" ")[0] if opening["info"].strip() else ""
        text = "\n".join(body) + "\n"
        found.append(Block(page, start + 1, lang, text, before == RUNNABLE))
        i += 1
    return found


def markers(page: Path) -> int:
    return sum(line.strip() == RUNNABLE for line in page.read_text().splitlines())


def curls(text: str) -> list[str]:
    """Each curl command of a shell block, from `curl` to the next command's start (a line
    that does not continue it), with continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    starts = [m.end() - len("curl ") for m in CURL.finditer(joined)]
    commands = []
    for begin in starts:
        rest = joined[begin:]
        # A JSON body may span lines inside its quotes; the command ends at the first newline
        # outside single quotes.
        quoted, end = False, len(rest)
        for pos, char in enumerate(rest):
            if char == "'":
                quoted = not quoted
            elif char == "\n" and not quoted:
                end = pos
                break
        commands.append(rest[:end])
    return commands
