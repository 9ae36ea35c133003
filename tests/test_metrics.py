"""Metric labels stay bounded however many orgs send."""

from __future__ import annotations

import pytest

from src import metrics


def test_org_labels_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_named", set())
    monkeypatch.setattr(metrics, "MAX_ORGS", 2)
    assert [metrics.org_label(o) for o in ("a", "b", "c", "a")] == ["a", "b", "other", "a"]
