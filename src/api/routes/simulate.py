"""``POST /v1/simulate``: what an action would do, and why, without writing anything."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from src.api.body import parse
from src.api.deps import CampaignsRead, EngineDep
from src.api.schemas.common import errors, request_body
from src.api.schemas.simulate import SimulateBody, SimulationOut
from src.api.scopes import USER_DATA, visible
from src.api.state import state
from src.services.simulate import simulate

router = APIRouter(prefix="/v1/simulate", tags=["simulate"])


@router.post(
    "",
    response_model=SimulationOut,
    operation_id="simulateAction",
    responses=errors(400, 413, 422),
    openapi_extra=request_body(SimulateBody),
)
async def simulate_action(
    request: Request, principal: CampaignsRead, engine: EngineDep
) -> dict[str, Any]:
    """Each campaign's triggers and conditions with the values they resolved to, its limits'
    counters, and the effects it would grant. A key without ``users:read`` simulates without
    looking the user up (user conditions see nothing)."""
    body = await parse(request, SimulateBody, bounds=None)
    found = await simulate(
        engine,
        principal.org_id,
        body,
        body.campaignIds,
        principal.holds(USER_DATA),
        state(request).parsed_versions,
    )
    return visible(principal, "simulation", SimulationOut.of(found))
