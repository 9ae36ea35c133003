"""Accepting actions: each admitted one is committed as a queued event (the outbox) before the
reply; the relay starts its workflow. An idempotency key maps a retry to its first event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.actions import MAX_FUTURE, ActionRequest, too_far_ahead
from src.domain.errors import Conflict, DomainError, Invalid, NotFound
from src.domain.events import EventView
from src.domain.triggers import TriggerDefinition, data_errors
from src.store import events, reversals, triggers
from src.store.cache import TTLCache

IDEMPOTENCY_CONFLICT = "idempotency_conflict"


@dataclass(frozen=True)
class Outcome:
    """One action's fate: its event, or why it was refused."""

    event_id: str | None = None
    error: DomainError | None = None


def conflict(key: str | None, event_id: str | None) -> Conflict:
    """Names the first event only when given it: to a key that may read events."""
    named = f" (event {event_id})" if event_id else ""
    return Conflict(
        f"Idempotency-Key '{key}' was already used with a different body{named}; "
        "use a new key for a new action",
        {"eventId": event_id} if event_id else None,
        IDEMPOTENCY_CONFLICT,
    )


class Ingest:
    """Admission rules need the org's declared triggers on every action: they are cached per
    process (``triggers`` invalidation notices drop an entry the moment it changes)."""

    def __init__(
        self, engine: AsyncEngine, known: TTLCache[tuple[str, str], TriggerDefinition | None]
    ) -> None:
        self.engine = engine
        # Acceptance is one statement: no BEGIN/COMMIT round trips.
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.known = known

    async def admit(self, org_id: str, action: ActionRequest, now: datetime) -> None:
        """Invalid for a timestamp too far ahead of the server's clock, or ``data``
        contradicting the action's declared trigger."""
        if too_far_ahead(action.timestamp, now):
            message = f"more than {MAX_FUTURE.seconds // 60} minutes ahead of the server's clock"
            raise Invalid.field("timestamp", message)
        found, trigger = self.known.get((org_id, action.action))
        if not found:
            generation = self.known.generation
            async with self.engine.connect() as conn:
                declared = await triggers.definitions(conn, org_id, [action.action])
            trigger = declared.get(action.action)
            self.known.put((org_id, action.action), trigger, generation)
        if trigger is not None:
            problems = data_errors(trigger, action.data)
            if problems:
                raise Invalid.fields(problems)

    async def accept(
        self,
        org_id: str,
        items: Sequence[tuple[ActionRequest, str | None]],
        now: datetime,
        trace_parent: str | None = None,
        reveal_events: bool = True,
        key_lineage: str | None = None,
    ) -> list[Outcome]:
        """Commit the admitted actions, each with its idempotency key, in one statement; a key
        reused with a different body is a Conflict, naming the first event if
        ``reveal_events`` (the key may read events). ``trace_parent`` (the request's trace) is
        kept with them for the workflows to continue, ``key_lineage`` (the posting key's) to
        say who may reverse them."""
        async with self.autocommit.connect() as conn:
            accepted = await events.accept_many(conn, org_id, items, now, trace_parent, key_lineage)
        return [
            Outcome(error=conflict(key, a.event_id if reveal_events else None))
            if a.conflict
            else Outcome(a.event_id)
            for (_, key), a in zip(items, accepted, strict=True)
        ]

    def forget_trigger(self, org_id: str, key: str) -> None:
        """A trigger changed: this process reads it afresh (others drop theirs on notice)."""
        self.known.forget(org_id, key)

    async def describe(self, org_id: str, event_id: str) -> EventView:
        async with self.engine.connect() as conn:
            found = await events.describe(conn, org_id, event_id)
            if found is None:
                raise NotFound(f"event '{event_id}' not found")
            taken_back = await reversals.of_event(conn, org_id, event_id)
        return replace(found, reversals=taken_back)
