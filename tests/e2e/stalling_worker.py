"""`loyalty worker` that stops dead right after its first effect commits, inside the workflow
task running the action's local activities; the test that starts it kills it there.

Usage: python -m tests.e2e.stalling_worker FLAG_FILE   (settings from the environment)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from src.activities.actions import Hooks
from src.config import get_settings
from src.domain.effects import EffectRequest, EffectResult
from src.store.db import make_engine
from src.worker import serve
from src.workflows.client import connect


async def main(flag: Path) -> None:
    settings = get_settings()
    engine = make_engine(settings.require_database_url(), 4)
    client = await connect(settings)

    async def stall(request: EffectRequest, result: EffectResult) -> None:
        flag.write_text(request.event_id)
        await asyncio.Event().wait()  # until SIGKILL

    await serve(client, engine, settings, asyncio.Event(), Hooks(after_effect=stall))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
