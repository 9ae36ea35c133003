"""ReverseAction: one workflow per reversal of an event (a refund), ID ``<event>:reverse:<key
digest>``. Its one activity takes everything back in a single transaction keyed by the
reversal, so the run is as exactly-once as a grant; the run's details say what it took."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import Priority

with workflow.unsafe.imports_passed_through():
    from src.activities.reversals import ReversalActivities
    from src.domain.reversals import ReversalInput, ReversalResult
    from src.workflows.process_action import ACTIVITY_TIMEOUT, RETRY


@workflow.defn(name="ReverseAction")
class ReverseAction:
    @workflow.run
    async def run(self, reversal: ReversalInput) -> ReversalResult:
        result = await workflow.execute_activity_method(
            ReversalActivities.reverse_action,
            reversal,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            priority=Priority(fairness_key=reversal.org_id),
            summary=f"reverse {reversal.event_id}",
        )
        taken = [f"{amount} {currency}" for currency, amount in sorted(result.points.items())]
        taken += [f"{result.products} products"] if result.products else []
        taken += [f"{result.codes} codes revoked"] if result.codes else []
        scope = "in full" if result.full else "in part"
        workflow.set_current_details(
            f"**reversed {scope}**: " + (", ".join(taken) if taken else "nothing left to take")
        )
        return result
