"""The run's configuration as every operator sees it: the plan file plus the trigger params.

A run is pinned to the plan it validated: ``validate`` returns the plan's digest, and every
later task of the run refuses a plan file that changed since (a run that waits a day for an
approval must not deploy its last wave with other settings than its first). The rollback
and the report only warn: undoing and reporting must still happen.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow.sdk import get_current_context

from distributor_rollout import settings
from distributor_rollout.core.errors import RolloutError
from distributor_rollout.core.params import RunConfig, apply_params
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.steps import VALIDATE

PLAN_DIGEST_KEY = "plan_digest"
log = logging.getLogger(__name__)


class PlanChangedError(RolloutError):
    """The plan file changed after this run validated it."""


def load_run_config(
    plan_path: str | Path,
    run_params: Mapping[str, Any] | None,
    *,
    pinned: bool = True,
    context: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Validate the plan and apply the run's params to it (raises ValidationError).

    Cheap and deterministic, so each task recomputes it instead of passing the whole
    configuration through XCom. Inside a DAG run, the plan must still be the one
    ``validate`` saw (``PlanChangedError``; with ``pinned=False``, a warning). ``context``
    is the task's (by default Airflow's current one): who triggered the run, what
    ``validate`` recorded.
    """
    plan, context = load_pinned_plan(plan_path, pinned=pinned, context=context)
    return apply_params(
        plan,
        run_params or {},
        packages_root=settings.packages_root(),
        triggered_by=triggered_by(context),
    )


def load_pinned_plan(
    plan_path: str | Path,
    *,
    pinned: bool = True,
    context: Mapping[str, Any] | None = None,
    run: str = "run",
) -> tuple[Plan, Mapping[str, Any] | None]:
    """The plan file, validated, and the task's context (``context`` or Airflow's current
    one). Inside a DAG run's later task, the plan must still be the one its ``validate``
    saw (``PlanChangedError``; with ``pinned=False``, a warning); ``run`` names the kind of
    run in the message (a rollout's and a retire's are pinned alike)."""
    path = Path(plan_path)
    plan = load_plan(path)
    context = context if context is not None else _task_context()
    validated = _validated_digest(context)
    if validated is not None and validated != plan.digest():
        message = (
            f"plan {path} changed after this {run} validated it (digest {validated[:12]} → "
            f"{plan.digest()[:12]}); restore it to finish this run, or start a new run"
        )
        if pinned:
            raise PlanChangedError(message)
        log.warning("%s: going on with the plan as it is now", message)
    return plan, context


def _task_context() -> Mapping[str, Any] | None:
    try:
        return get_current_context()
    except RuntimeError:
        return None  # not inside a running task (tests, the CLI)


def triggered_by(context: Mapping[str, Any] | None) -> str | None:
    """The user who triggered the run (None for scheduled runs and outside a DAG run)."""
    dag_run = context.get("dag_run") if context is not None else None
    user = getattr(dag_run, "triggering_user_name", None)
    return str(user) if user else None


def _validated_digest(context: Mapping[str, Any] | None) -> str | None:
    """The digest ``validate`` recorded for this run; None outside a DAG run's task."""
    if context is None:
        return None
    ti = context.get("ti")
    if ti is None or ti.task_id == VALIDATE:
        return None
    summary = ti.xcom_pull(task_ids=VALIDATE)
    digest = summary.get(PLAN_DIGEST_KEY) if isinstance(summary, Mapping) else None
    return str(digest) if digest else None
