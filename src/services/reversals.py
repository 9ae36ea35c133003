"""Reversing an event's grants (a refund): the request, and its application exactly once.

The request is recorded under the event's row lock and its ReverseAction run started; the
run's one activity (``apply``) writes every compensating ledger row, balance, revoked code and
released limit in one transaction keyed by the reversal, so a retry, a crash or a second
request with the same key takes nothing back twice. Rules: ``src/domain/reversals.py``.
"""

from __future__ import annotations

import logging
import uuid
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from src.domain import errors
from src.domain.actions import ActionInput, EventStatus
from src.domain.campaigns import AllocateCodeConfig
from src.domain.errors import Conflict, DomainError, NotFound, present
from src.domain.reversals import (
    FULL,
    LEDGER_STEP,
    ReversalInput,
    ReversalResult,
    ReversalStatus,
    ReversalView,
    check_partial,
    refundable,
    reversal_id,
    share,
    take_back,
)
from src.domain.settings import ReversalRule
from src.store import campaigns, ledger, limits, reversals, users, webhooks
from src.store.reversals import EventState, Granted

log = logging.getLogger(__name__)
NOT_SETTLED = "not_settled"
USER_MISMATCH = "user_mismatch"
MAX_REFERENCE = 255  # longest event or order ID a refund action may name
MAX_PER_EVENT = 100  # partial reversals of one event (each is listed with the event)
MAX_AMOUNT = Decimal(10**15)  # the largest refund amount, as the API takes it
SETTLED = (EventStatus.processed, EventStatus.failed, EventStatus.skipped)


class Starts(Protocol):
    """Starting ReverseAction runs (``workflows.starter.TemporalRuns``)."""

    async def start_reversal(self, reversal: ReversalInput) -> None:
        """Start the reversal's run once; a run of it already going on or done is enough."""


async def request(
    engine: AsyncEngine,
    starts: Starts,
    org_id: str,
    event_id: str,
    amount: Decimal | None,
    reason: str | None,
    key: str | None,
    own_key: str | None = None,
    poster: str | None = None,
) -> ReversalView:
    """Record the reversal (or find the one ``key`` made) and start its run.

    Without ``key``, a reversal in full is keyed ``full`` (asking twice is one reversal) and a
    partial one is new each time, as a refund is: send an Idempotency-Key to retry safely.
    ``own_key`` is a key the engine makes (a refund action's), apart from clients' keys.
    With ``poster`` (an API key's lineage) only the events that key posted are found.
    """
    # A client's key never meets the ones made here (``full``, ``auto:…``, ``action:…``).
    key = own_key or (f"key:{key}" if key else (FULL if amount is None else f"auto:{uuid.uuid4()}"))
    rid = reversal_id(org_id, event_id, key)
    async with engine.begin() as conn:
        event = await reversals.lock_event(conn, org_id, event_id)
        if event is None or (poster is not None and event.key_lineage != poster):
            raise NotFound(f"event '{event_id}' not found")
        earlier = await reversals.of_event(conn, org_id, event_id)
        same = next((r for r in earlier if r.id == rid), None)
        start = same is None or same.status == ReversalStatus.queued
        if same is None:
            await _check(conn, event, event_id, amount, earlier)
            await reversals.create(conn, rid, org_id, event_id, key, amount, reason)
        elif same.amount != amount:
            raise Conflict(
                f"this Idempotency-Key was used for reversal '{rid}' with another amount"
            )
        elif same.status == ReversalStatus.failed and own_key is not None:
            # A replayed refund action tries its failed reversal again: a failed one wrote
            # nothing, so it is queued again under its own key (a client's key keeps its
            # outcome for ever; a new key makes a new request).
            await _check(conn, event, event_id, amount, [r for r in earlier if r.id != rid])
            await reversals.requeue(conn, rid)
            start = True
    reversal = ReversalInput(reversal_id=rid, org_id=org_id, event_id=event_id)
    if start:
        try:
            await starts.start_reversal(reversal)
        except Exception as exc:  # recorded: the reconciler starts it once Temporal answers
            log.warning("reversal %s not started yet: %s", rid, type(exc).__name__)
    async with engine.connect() as conn:
        return next(r for r in await reversals.of_event(conn, org_id, event_id) if r.id == rid)


async def _pool_of(conn: AsyncConnection, org_id: str, row: Granted) -> str | None:
    """The pool a code grant drew from, as its campaign version's effect names it."""
    if row.campaign_id is None or row.campaign_version is None or row.effect_index is None:
        return None
    (version,) = await campaigns.versions_for(
        conn, org_id, [(row.campaign_id, row.campaign_version)]
    )
    effects = version.definition.effects
    config = effects[row.effect_index].parsed() if row.effect_index < len(effects) else None
    return config.pool_id if isinstance(config, AllocateCodeConfig) else None


async def _check(
    conn: AsyncConnection,
    event: EventState,
    event_id: str,
    amount: Decimal | None,
    earlier: list[ReversalView],
) -> None:
    # Failed reversals took nothing and do not count; a reversal in full is always taken.
    live = [r for r in earlier if r.status != ReversalStatus.failed]
    if amount is not None and len(live) >= MAX_PER_EVENT:
        raise Conflict(
            f"event '{event_id}' has {MAX_PER_EVENT} partial reversals; reverse the rest in full",
            code="too_many_reversals",
        )
    if event.status not in SETTLED:
        raise Conflict(
            f"event '{event_id}' is still being processed; reverse it once settled",
            code=NOT_SETTLED,
        )
    if any(r.amount is None for r in live):
        raise Conflict(f"event '{event_id}' is reversed in full already", code="reversed_in_full")
    if amount is not None:
        original = refundable(event.data)
        check_partial(amount, original, await reversals.refunded(conn, event_id, False))


async def apply(engine: AsyncEngine, reversal: ReversalInput) -> ReversalResult:
    """Take back what the reversal covers, in one transaction; a reversal applied before
    returns what it took then."""
    async with engine.begin() as conn:
        # Users before events, as grants and merges take them.
        user_id = await reversals.resolved_user(conn, reversal.org_id, reversal.event_id)
        if user_id is not None:
            await users.hold(conn, reversal.org_id, user_id)
        event = await reversals.lock_event(conn, reversal.org_id, reversal.event_id)
        found = await reversals.lock(conn, reversal.reversal_id)
        if event is None or found is None:
            raise NotFound(f"reversal '{reversal.reversal_id}' not found")
        if found.status != ReversalStatus.queued:
            done = present(found.result, f"reversal {reversal.reversal_id}'s result")
            return ReversalResult.model_validate(done)
        if event.status not in SETTLED:  # a run of it is going on: take back once it settles
            raise OriginalUnsettled(reversal.event_id)
        completed = await reversals.refunded(conn, reversal.event_id, True)
        part = share(found.amount, refundable(event.data), completed)
        points: dict[str, Decimal] = {}
        product_ids: list[str] = []
        revoked_codes: list[str] = []
        entries = 0
        granted = await reversals.grants(conn, reversal.org_id, reversal.event_id)
        rows = {grant.ledger_id: row for grant, row in granted}
        for grant, quantity in take_back([g for g, _ in granted], part):
            row = rows[grant.ledger_id]
            balance = None
            if grant.type == "points":
                balance = await ledger.add_points(
                    conn, reversal.org_id, row.user_id, row.held, -quantity
                )
                points[row.held] = points.get(row.held, Decimal(0)) + quantity
            elif grant.type == "product":
                product_ids += [row.held] * int(quantity)
            else:
                pool = await _pool_of(conn, reversal.org_id, row)
                await reversals.revoke_code(conn, reversal.org_id, pool, row.held, row.user_id)
                revoked_codes.append(row.held)
            values = reversals.entry(
                reversal.org_id, reversal.event_id, reversal.reversal_id, row, quantity, balance
            )
            # A queued reversal's ledger key is new: the entry is inserted.
            present(await ledger.insert_entry(conn, values), "a queued reversal's ledger entry")
            entries += 1
        if part is None:
            await limits.release_reversed(conn, reversal.event_id)
        result = ReversalResult(
            reversal_id=reversal.reversal_id,
            entries=entries,
            points=points,
            products=len(product_ids),
            codes=len(revoked_codes),
            full=part is None,
            product_ids=product_ids,
            revoked_codes=revoked_codes,
        )
        await reversals.finish(
            conn, reversal.reversal_id, ReversalStatus.completed, result.model_dump(mode="json")
        )
        taken = result.model_dump(
            mode="json", exclude={"reversal_id", "product_ids", "revoked_codes"}
        )
        announced = {
            "eventId": reversal.event_id,
            "reversalId": reversal.reversal_id,
            **taken,
            "productIds": result.product_ids,
            "revokedCodes": result.revoked_codes,  # the org's own receiver, as reward.granted
        }
        await webhooks.notify(conn, reversal.org_id, "reward.reversed", announced)
        return result


class OriginalUnsettled(Exception):
    """A refund action names an event still being processed: the refund waits for it."""

    def __init__(self, event_id: str) -> None:
        super().__init__(event_id)
        self.event_id = event_id


async def request_for_action(
    engine: AsyncEngine, starts: Starts, action: ActionInput, rule: ReversalRule, user: str | None
) -> str | None:
    """A refund action the org maps (``reversalActions``) asks to reverse the action it names,
    keyed by its own event ID, so each retry or replay is the same request. Returns why it
    cannot (the refund event is then skipped with that reason), or None. Raises
    ``OriginalUnsettled`` while that action is being processed.

    Only an action of the refund's own (resolved) ``user`` is reversed: an order ID that
    names another user's purchase takes nothing from them."""
    source = action.data if rule.match.startswith("data.") else action.metadata
    value = source.get(rule.match.split(".", 1)[1])
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_REFERENCE:
        return f"{errors.REVERSAL_REFUSED}:no_{rule.match.split('.', 1)[1]}"
    async with engine.connect() as conn:
        found = await reversals.originals(conn, action.org_id, rule.reverses, rule.match, value)
    if len(found) != 1:
        return f"{errors.REVERSAL_REFUSED}:" + ("not_found" if not found else "ambiguous")
    (original,) = found
    if original.status not in SETTLED:
        raise OriginalUnsettled(original.id)
    if user is None or original.resolved_user_id != user:
        return f"{errors.REVERSAL_REFUSED}:{USER_MISMATCH}"
    amount = None
    if rule.amount is not None:
        amount = refundable(action.data)
        if amount is not None:  # as the API takes amounts: never more precise than the ledger
            amount = amount.quantize(LEDGER_STEP, rounding=ROUND_DOWN)
        if amount is None or not 0 < amount <= MAX_AMOUNT:
            return f"{errors.REVERSAL_REFUSED}:no_amount"
    try:
        made = await request(
            engine,
            starts,
            action.org_id,
            original.id,
            amount,
            f"action {action.event_id}",
            None,
            own_key=f"action:{action.event_id}",
        )
    except Conflict as exc:
        if exc.code == NOT_SETTLED:
            raise OriginalUnsettled(original.id) from exc
        return f"{errors.REVERSAL_REFUSED}:{exc.code}"
    except DomainError as exc:
        return f"{errors.REVERSAL_REFUSED}:{exc.code}"
    return f"{errors.REVERSAL_REFUSED}:failed" if made.status == ReversalStatus.failed else None


async def give_up(engine: AsyncEngine, reversal: ReversalInput, error: str) -> None:
    """Applying keeps failing for a reason other than an outage: the reversal ends failed
    (nothing of it was written), and the event may be reversed again with a new request."""
    async with engine.begin() as conn:
        found = await reversals.lock(conn, reversal.reversal_id)
        if found is not None and found.status == ReversalStatus.queued:
            await reversals.finish(
                conn, reversal.reversal_id, ReversalStatus.failed, {"error": error}
            )
