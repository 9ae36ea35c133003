"""`loyalty dev` as a developer runs it: the other commands find its stack without any
variable set, and Ctrl-C, SIGTERM or SIGHUP to its process group leaves nothing running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import free_port

CLI = [sys.executable, "-c", "from src.cli.main import app; app()"]
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


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=str)
def test_commands_use_the_running_dev_stack_and_a_signal_stops_it_all(
    tmp_path: Path, stop: signal.Signals
) -> None:
    data = tmp_path / ".loyalty"
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env |= {
        "PYTHONPATH": os.getcwd(),
        "API_PORT": str(free_port()),
        "CODEC_PORT": str(free_port()),
        "API_METRICS_PORT": "0",
        "WORKER_METRICS_PORT": "0",
        "TEMPORAL_SDK_METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }
    status = [*CLI, "status", "--json"]
    nothing = subprocess.run(status, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert nothing.returncode == 2 and "Traceback" not in nothing.stderr
    assert nothing.stderr.count("\n") == 1 and "make dev" in nothing.stderr

    log = (tmp_path / "dev.log").open("w")
    dev = subprocess.Popen(
        [*CLI, "dev"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not (data / "stack.json").exists():
            assert dev.poll() is None, (tmp_path / "dev.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "loyalty dev did not come up"
            time.sleep(0.5)
        assert (data / "stack.json").stat().st_mode & 0o077 == 0  # its owner's only
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
    deadline = time.monotonic() + 30
    while holders(data) and time.monotonic() < deadline:  # children finish their exit
        time.sleep(0.5)
    assert holders(data) == [], (tmp_path / "dev.log").read_text()[-3000:]
    assert not (data / "stack.json").exists()
    assert not (data / "pgdata" / "postmaster.pid").exists()
    gone = subprocess.run(status, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert gone.returncode == 2 and "Traceback" not in gone.stderr
