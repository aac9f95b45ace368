"""A retire run's configuration as every retire task sees it: the plan file plus the params.

As for a rollout (``run_config``), the run is pinned to the plan its validate saw: every
later task refuses a plan file that changed since (the report only warns).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from distributor_rollout.core.retire_params import RetireConfig, apply_retire_params
from distributor_rollout.run_config import load_pinned_plan, triggered_by


def load_retire_config(
    plan_path: str | Path,
    run_params: Mapping[str, Any] | None,
    *,
    pinned: bool = True,
    context: Mapping[str, Any] | None = None,
) -> RetireConfig:
    """Validate the plan and the run's params (``ValidationError``); inside a run, refuse
    a plan changed since validate (``PlanChangedError``; with ``pinned=False`` a warning)."""
    plan, context = load_pinned_plan(plan_path, pinned=pinned, context=context, run="retire run")
    return apply_retire_params(plan, run_params, triggered_by=triggered_by(context))
