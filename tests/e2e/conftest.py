"""End to end: the API, the worker and the relay."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _processing(worker: None) -> None:
    """The session's worker, relay and reconciler run for every test here."""
