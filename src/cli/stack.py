"""Where a running `loyalty dev` can be reached, for the other `loyalty` commands.

`loyalty dev` writes ``DATA_DIR/stack.json`` (readable by its owner only) once its stack is
up and removes it when it stops: the database URL, the Temporal address and its process ID.
A command run without DATABASE_URL / TEMPORAL_ADDRESS uses it, and says so; PAYLOAD_KEYS
comes from ``DATA_DIR/payload-keys``, which `loyalty dev` keeps beside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from src.config import ConfigurationError, Settings

FILE = "stack.json"
KEYS = "payload-keys"


def publish(data: Path, settings: Settings) -> Path:
    """Write the stack's address book, atomically and 0600; returns its path."""
    path = data / FILE
    scratch = data / f".{FILE}.{os.getpid()}"
    fields = {
        "databaseUrl": settings.require_database_url(),
        "temporalAddress": settings.temporal_address,
        "temporalNamespace": settings.temporal_namespace,
        "pid": os.getpid(),
    }
    with os.fdopen(os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        json.dump(fields, out)
    scratch.replace(path)
    return path


def withdraw(data: Path) -> None:
    (data / FILE).unlink(missing_ok=True)


def alive(pid: int) -> bool:
    """Whether a process of this ID runs (another user's counts)."""
    if pid <= 0:  # 0 and negatives name process groups, not a process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def locate(settings: Settings) -> tuple[Settings, str | None]:
    """``settings``, completed from a running `loyalty dev` in DATA_DIR where the environment
    names no database; and what was used (None when nothing was)."""
    if settings.database_url:
        return settings, None
    data = Path(settings.data_dir)
    path = data / FILE
    try:
        found = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(
            f"DATABASE_URL is not set and no `loyalty dev` runs in {data}/: start `make dev`, "
            "or set DATABASE_URL (and TEMPORAL_ADDRESS, PAYLOAD_KEYS) for another deployment"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path} cannot be read ({type(exc).__name__})") from None
    if not alive(int(found.get("pid", 0))):
        raise ConfigurationError(
            f"{path} names a `loyalty dev` (pid {found.get('pid')}) that is not running: "
            "start `make dev` again, or set DATABASE_URL"
        )
    update = {"database_url": found["databaseUrl"]}
    if not settings.temporal_address and found.get("temporalAddress"):
        update["temporal_address"] = found["temporalAddress"]
        update["temporal_namespace"] = found.get("temporalNamespace", "default")
    keys = data / KEYS
    if not settings.payload_keys and keys.exists():
        update["payload_keys"] = keys.read_text().strip()
    return settings.model_copy(update=update), f"the `loyalty dev` stack in {data}/ ({path})"
