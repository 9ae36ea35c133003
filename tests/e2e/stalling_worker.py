"""`loyalty worker` that stops dead at a point a test then kills it: right after an action's
first effect commits, inside the workflow task running its local activities (``effect``), or
right after a backtest saves and heartbeats its first page (``backtest``).

Usage: python -m tests.e2e.stalling_worker FLAG_FILE [effect|backtest]   (settings from the
environment)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from src.activities.actions import Hooks
from src.config import get_settings
from src.store.db import make_engine
from src.worker import serve
from src.workflows.client import connect


async def main(flag: Path, where: str) -> None:
    settings = get_settings()
    engine = make_engine(settings.require_database_url(), 4)
    client = await connect(settings)

    async def stall(*_: Any) -> None:
        flag.write_text(where)
        await asyncio.Event().wait()  # until SIGKILL

    hooks = Hooks(after_backtest_page=stall) if where == "backtest" else Hooks(after_effect=stall)
    await serve(client, engine, settings, asyncio.Event(), hooks)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "effect"))
