"""Activity names shared by the workflow (which must not import I/O code) and the worker."""

PLAN_ACTION = "plan_action"
APPLY_EFFECT = "apply_effect"
