"""`loyalty status`: the backlog, its age and recent outcomes, as text or JSON."""

from __future__ import annotations

from typing import Any

from src.store.status import Status


def as_dict(status: Status) -> dict[str, Any]:
    backlog = status.backlog
    return {
        "orgId": status.org_id,
        "backlog": backlog.total,
        "unstarted": backlog.unstarted,
        "inFlight": backlog.in_flight,
        "oldestUnstartedSeconds": backlog.oldest_unstarted_seconds,
        "windows": {
            name: {"byStatus": w.by_status, "failures": w.failures}
            for name, w in status.windows.items()
        },
        **({"busiestOrgs": status.busiest_orgs} if status.org_id is None else {}),
    }


def render(status: Status) -> str:
    backlog = status.backlog
    oldest = backlog.oldest_unstarted_seconds
    lines = [
        f"{'org ' + status.org_id if status.org_id else 'all orgs'}",
        f"  backlog {backlog.total}: {backlog.unstarted} waiting to start, "
        f"{backlog.in_flight} in Temporal",
        f"  oldest waiting: {f'{oldest:.1f} s' if oldest is not None else '-'}",
    ]
    for name, window in status.windows.items():
        counts = ", ".join(f"{k} {v}" for k, v in sorted(window.by_status.items())) or "none"
        lines.append(f"  accepted in the last {name}: {counts}")
        if window.failures:
            reasons = ", ".join(f"{k} {v}" for k, v in window.failures.items())
            lines.append(f"    failed by reason: {reasons}")
    if status.busiest_orgs:
        lines.append("  largest backlogs:")
        lines += [f"    {org}: {n}" for org, n in status.busiest_orgs.items()]
    return "\n".join(lines)


def too_old(status: Status, max_age: float) -> bool:
    """The probe's verdict: the oldest action waiting to start has waited too long."""
    return (status.backlog.oldest_unstarted_seconds or 0.0) > max_age
