"""The `loyalty` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from src.cli.demo import outcome_lists
from src.config import Settings


def test_cli_migrate_and_orgs_create(settings: Settings) -> None:
    env = {**os.environ, "DATABASE_URL": settings.require_database_url()}
    cli = [sys.executable, "-c", "from src.cli.main import app; app()"]
    migrated = subprocess.run(
        [*cli, "migrate"], env=env, capture_output=True, text=True, check=True
    )
    assert "up to date" in migrated.stdout
    out = subprocess.run(
        [*cli, "orgs", "create", "--name", "Acme", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    created = json.loads(out.stdout)
    assert uuid.UUID(created["orgId"]) and created["apiKey"].startswith("key_")
    assert created["apiSecret"].startswith("lsk_")


def test_dev_prints_the_ui_lists_of_failed_and_skipped_actions() -> None:
    lists = outcome_lists("http://127.0.0.1:8233", "default")
    assert lists == {
        "failed": "http://127.0.0.1:8233/namespaces/default/workflows"
        "?query=LoyaltyOutcome%3D%22failed%22",
        "skipped": "http://127.0.0.1:8233/namespaces/default/workflows"
        "?query=LoyaltyOutcome%3D%22skipped%22",
    }
