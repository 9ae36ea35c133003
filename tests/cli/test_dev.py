"""`loyalty dev` as a developer runs it: the other commands find its stack without any
variable set, and Ctrl-C, SIGTERM or SIGHUP to its process group leaves nothing running."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

from tests.support import free_port

# `loyalty dev` binds Temporal's fixed ports (7233, 8233): these run one at a time, on one
# pytest-xdist worker (`--dist loadgroup`), beside the other tests.
pytestmark = pytest.mark.xdist_group("loyalty-dev")

CLI = (sys.executable, "-c", "from src.cli.main import app; app()")
REPO = Path(__file__).parents[2]
TEMPORAL_PORT, TEMPORAL_UI_PORT = 7233, 8233  # what `loyalty dev` gives its dev server
# What a developer's shell does not set: the stack is found, not configured.
UNSET = ("DATABASE_URL", "TEMPORAL_ADDRESS", "PAYLOAD_KEYS", "REDIS_URL", "DATA_DIR")


def holders(path: Path) -> list[int]:
    """Processes with a file open, or their working directory, under ``path``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = [proc / "cwd", *(proc / "fd").iterdir()]
            if any(str(os.readlink(link)).startswith(str(path)) for link in links):
                found.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def dev_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    return env | {
        "PYTHONPATH": os.getcwd(),
        "API_PORT": str(free_port()),
        "CODEC_PORT": str(free_port()),
        "API_METRICS_PORT": "0",
        "WORKER_METRICS_PORT": "0",
        "TEMPORAL_SDK_METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }


def published(tmp_path: Path) -> int | None:
    """The pid of the `loyalty dev` whose stack ``stack.json`` names, if there is one."""
    try:
        return int(json.loads((tmp_path / ".loyalty" / "stack.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def start_dev(
    tmp_path: Path, env: dict[str, str], log: IO[str], command: tuple[str, ...] = (*CLI, "dev")
) -> subprocess.Popen[bytes]:
    """``command`` (`loyalty dev`, or `make dev` which runs it) in a session of its own, once
    its stack is up."""
    dev = subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while (found := published(tmp_path)) is None or dev.pid not in (found, parent_of(found)):
        assert dev.poll() is None, (tmp_path / "dev.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "loyalty dev did not come up"
        time.sleep(0.5)
    return dev


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def nothing_left(tmp_path: Path, env: dict[str, str]) -> None:
    """No process holds the data directory, and the stack's ports (the API's, the codec's,
    Temporal's frontend and UI) are free."""
    data = tmp_path / ".loyalty"
    ports = [int(env["API_PORT"]), int(env["CODEC_PORT"]), TEMPORAL_PORT, TEMPORAL_UI_PORT]
    deadline = time.monotonic() + 30
    while (holders(data) or any(map(listening, ports))) and time.monotonic() < deadline:
        time.sleep(0.5)  # children finish their exit
    assert holders(data) == [], (tmp_path / "dev.log").read_text()[-3000:]
    assert [port for port in ports if listening(port)] == []
    assert not (data / "stack.json").exists()
    assert not (data / "pgdata" / "postmaster.pid").exists()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=str)
def test_commands_use_the_running_dev_stack_and_a_signal_stops_it_all(
    tmp_path: Path, stop: signal.Signals
) -> None:
    env = dev_env()
    status = [*CLI, "status", "--json"]
    nothing = subprocess.run(status, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert nothing.returncode == 2 and "Traceback" not in nothing.stderr
    assert nothing.stderr.count("\n") == 1 and "make dev" in nothing.stderr

    log = (tmp_path / "dev.log").open("w")
    dev = start_dev(tmp_path, env, log)
    try:
        assert (tmp_path / ".loyalty" / "stack.json").stat().st_mode & 0o077 == 0
        found = subprocess.run(status, env=env, cwd=tmp_path, capture_output=True, text=True)
        assert found.returncode == 0, found.stderr
        assert "using the `loyalty dev` stack" in found.stderr
        assert json.loads(found.stdout)["backlog"] >= 0
        made = subprocess.run(
            [*CLI, "orgs", "create", "--name", "Found", "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert made.returncode == 0 and json.loads(made.stdout)["apiSecret"].startswith("lsk_")
    finally:
        os.killpg(dev.pid, stop)
        dev.wait(120)
        log.close()
    nothing_left(tmp_path, env)
    gone = subprocess.run(status, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert gone.returncode == 2 and "Traceback" not in gone.stderr


def test_dev_starts_cleanly_after_a_sigkill_left_its_postgresql_behind(tmp_path: Path) -> None:
    env = dev_env()
    with (tmp_path / "dev.log").open("w") as log:
        killed = start_dev(tmp_path, env, log)
        os.kill(killed.pid, signal.SIGKILL)  # the command alone: its PostgreSQL stays
        killed.wait(30)
        stale = [*CLI, "status"]
        said = subprocess.run(stale, env=env, cwd=tmp_path, capture_output=True, text=True)
        assert said.returncode == 2 and "not running" in said.stderr
        again = start_dev(tmp_path, env, log)
        try:
            found = subprocess.run(stale, env=env, cwd=tmp_path, capture_output=True, text=True)
            assert found.returncode == 0, found.stderr
        finally:
            os.killpg(again.pid, signal.SIGTERM)
            again.wait(120)
            with contextlib.suppress(ProcessLookupError):  # what the SIGKILL orphaned
                os.killpg(killed.pid, signal.SIGKILL)
    nothing_left(tmp_path, env)


def test_sigterm_to_make_alone_stops_it_all(tmp_path: Path) -> None:
    """A service manager signals `make dev`'s own process, not its group: make hands SIGTERM
    to `loyalty dev`, which stops everything. (SIGINT and SIGHUP to make alone are waited
    out by make, which takes them for a terminal's, sent to the whole group.)"""
    env = dev_env() | {"DATA_DIR": str(tmp_path / ".loyalty")}
    make = ("make", "--no-print-directory", "-C", str(REPO), "dev")
    with (tmp_path / "dev.log").open("w") as log:
        dev = start_dev(tmp_path, env, log, make)
        os.kill(dev.pid, signal.SIGTERM)
        dev.wait(120)
    nothing_left(tmp_path, env)
