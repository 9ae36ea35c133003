"""CPU time of process trees, read from /proc (Linux): what our processes, the Temporal server
and PostgreSQL spend on a stretch of work, each summed over the process, its live descendants
and the children they have already reaped (so a pool's short-lived backends count too)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stats() -> dict[int, tuple[int, float]]:
    """Every visible process: pid → (parent pid, CPU seconds of it and its reaped children)."""
    found: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # gone since the listing
            continue
        fields = raw[raw.rindex(")") + 2 :].split()  # the name may hold spaces and brackets
        utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
        found[int(entry.name)] = (int(fields[1]), (utime + stime + cutime + cstime) / TICK)
    return found


def members(roots: Iterable[int], stats: dict[int, tuple[int, float]] | None = None) -> set[int]:
    """The live processes of the trees rooted at ``roots``."""
    stats = _stats() if stats is None else stats
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        todo.extend(children.get(pid, []))
    return seen


def tree_seconds(roots: Iterable[int], stats: dict[int, tuple[int, float]]) -> float:
    return sum(stats[pid][1] for pid in members(roots, stats))


def children_named(parent: int, name: str) -> list[int]:
    """Direct children of ``parent`` whose command name starts with ``name``."""
    found = []
    for pid, (ppid, _) in _stats().items():
        if ppid != parent:
            continue
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip().startswith(name):
                found.append(pid)
    return found


def postmaster(data_directory: str) -> int:
    return int(Path(data_directory, "postmaster.pid").read_text().split()[0])


@dataclass
class Meter:
    """CPU seconds per named group of process trees over one ``with meter.measure():`` block,
    and the wall-clock seconds it took."""

    groups: dict[str, list[int]]
    seconds: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0

    def _now(self) -> dict[str, float]:
        stats = _stats()
        return {name: tree_seconds(pids, stats) for name, pids in self.groups.items()}

    @contextlib.contextmanager
    def measure(self) -> Iterator[Meter]:
        before, t0 = self._now(), time.perf_counter()
        yield self
        after = self._now()
        self.wall = time.perf_counter() - t0
        self.seconds = {name: after[name] - before[name] for name in self.groups}

    def ms_per(self, count: int) -> dict[str, float]:
        return {name: round(1000 * s / count, 2) for name, s in self.seconds.items()}

    def share_of_a_core(self) -> dict[str, float]:
        return {name: round(100 * s / self.wall, 2) for name, s in self.seconds.items()}
