"""A retire run's configuration as every retire task sees it: the plan file plus the params.

As for a rollout (``run_config``), the run is pinned to the plan its validate saw: every
later task refuses a plan file that changed since (the report only warns).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow.sdk import get_current_context

from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.retire_params import RetireConfig, apply_retire_params
from distributor_rollout.core.steps import VALIDATE
from distributor_rollout.run_config import PLAN_DIGEST_KEY, PlanChangedError, triggered_by

log = logging.getLogger(__name__)


def load_retire_config(
    plan_path: str | Path,
    run_params: Mapping[str, Any] | None,
    *,
    pinned: bool = True,
    context: Mapping[str, Any] | None = None,
) -> RetireConfig:
    """Validate the plan and the run's params (``ValidationError``); inside a run, refuse
    a plan changed since validate (``PlanChangedError``; with ``pinned=False`` a warning)."""
    path = Path(plan_path)
    plan = load_plan(path)
    context = context if context is not None else _task_context()
    validated = _validated_digest(context)
    if validated is not None and validated != plan.digest():
        message = (
            f"plan {path} changed after this retire run validated it (digest {validated[:12]} "
            f"→ {plan.digest()[:12]}); restore it to finish this run, or start a new run"
        )
        if pinned:
            raise PlanChangedError(message)
        log.warning("%s: going on with the plan as it is now", message)
    return apply_retire_params(plan, run_params, triggered_by=triggered_by(context))


def _task_context() -> Mapping[str, Any] | None:
    try:
        return get_current_context()
    except RuntimeError:
        return None  # not inside a running task (tests)


def _validated_digest(context: Mapping[str, Any] | None) -> str | None:
    """The digest this run's validate recorded; None outside a run's later task."""
    ti = context.get("ti") if context is not None else None
    if ti is None or ti.task_id == VALIDATE:
        return None
    summary = ti.xcom_pull(task_ids=VALIDATE)
    digest = summary.get(PLAN_DIGEST_KEY) if isinstance(summary, Mapping) else None
    return str(digest) if digest else None
