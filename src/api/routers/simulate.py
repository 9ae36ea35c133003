"""Simulation: what an action would do, with every condition explained, and no writes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from src.api.auth import Principal, require
from src.api.body import number, parse
from src.api.scopes import USER_DATA, visible
from src.domain.actions import ActionRequest, judged_at
from src.domain.effects import points_of
from src.domain.limits import Counter, counters
from src.domain.planning import explain, plan
from src.store import campaigns, limits, users

router = APIRouter(prefix="/v1/simulate", tags=["simulate"])


class SimulateRequest(ActionRequest):
    campaignIds: list[str] | None = Field(default=None, max_length=100)


def _limit_rows(
    scopes: list[Counter], user_id: str, used: dict[str, tuple[int, Decimal]], points: Decimal
) -> list[dict[str, Any]]:
    rows = []
    for counter in scopes:
        count, spent = used.get(counter.scope(user_id), (0, Decimal(0)))
        blocks = (counter.max_count is not None and count >= counter.max_count) or (
            counter.max_points is not None and spent + points > counter.max_points
        )
        rows.append(
            {
                "limit": counter.reason,
                "scope": counter.scope(user_id),
                "count": count,
                "maxCount": counter.max_count,
                "points": number(spent),
                "pointsBudget": number(counter.max_points),
                "wouldBlock": blocks,
            }
        )
    return rows


@router.post("")
async def simulate(
    request: Request, principal: Principal = Depends(require("campaigns:read"))
) -> dict[str, Any]:
    """The action body of the ingestion endpoint, plus optional ``campaignIds`` (drafts too).

    A key that may not read users simulates without them: the action's user is not looked up
    (whether it exists, its facts and its per-user counters would tell who is a user), and
    user conditions see nothing.
    """
    body = await parse(request, SimulateRequest, bounds=None)
    now = datetime.now(UTC)
    occurred = body.timestamp or now
    org_id = principal.org_id
    async with request.app.state.engine.connect() as conn:
        source = body.metadata.get("source")
        found = await users.resolve(
            conn, org_id, body.userId, source if isinstance(source, str) else None
        )
        if body.campaignIds is not None:
            chosen = await campaigns.current_versions(conn, org_id, body.campaignIds)
        else:
            chosen = await campaigns.in_force(conn, org_id, body.action)
        zone = found.settings.zone
        # Judged as processing would judge it, accepted now (see ``ActionInput.judged_at``).
        moment = judged_at(occurred, now, found.settings.maxEventAge)
        known = found.user if principal.holds(USER_DATA) else None
        # Unknown to a key that may not look: the firing is judged as if the user existed.
        exists = known is not None or found.settings.unknownUsers == "enroll"
        exists = exists or not principal.holds(USER_DATA)
        user = known or {"id": body.userId, "email": None, "phone": None}
        context = {"data": body.data, "metadata": body.metadata, "user": user}
        results = []
        for version in chosen:
            _, effects = plan("evt_simulated", body.action, moment, context, [version])
            points = points_of(effects)
            rules = version.definition.limits
            scopes = [
                c
                for c in (counters(rules, now, zone) if rules else [])
                if known is not None or c.kind == "total"
            ]
            named = [c.scope(user["id"]) for c in scopes]
            used = await limits.usage(conn, org_id, version.campaign_id, named) if named else {}
            limit_rows = _limit_rows(scopes, user["id"], used, points)
            detail = explain(version.definition, body.action, moment, context)
            results.append(
                {
                    "campaignId": version.campaign_id,
                    "version": version.version,
                    "name": version.definition.name,
                    **detail,
                    "limits": limit_rows,
                    "wouldFire": detail["matched"]
                    and exists
                    and not any(r["wouldBlock"] for r in limit_rows),
                    "effects": [
                        e.model_dump(mode="json", exclude={"key", "reserved"}) for e in effects
                    ]
                    if detail["matched"]
                    else [],
                }
            )
    return visible(
        principal,
        "simulation",
        {
            "user": {
                "userId": body.userId,
                "resolvedUserId": known["id"] if known else None,
                "unknownUsers": found.settings.unknownUsers,
            },
            "campaigns": results,
            "wouldFire": [r["campaignId"] for r in results if r["wouldFire"]],
        },
    )
