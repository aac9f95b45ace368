"""The run's configuration as every operator sees it: the plan file plus the trigger params."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from distributor_rollout.core.params import RunConfig, apply_params
from distributor_rollout.core.plan_validation import load_plan


def load_run_config(plan_path: str | Path, run_params: Mapping[str, Any] | None) -> RunConfig:
    """Validate the plan and apply the run's params to it (raises ValidationError).

    Cheap and deterministic, so each task recomputes it instead of passing the whole
    configuration through XCom.
    """
    path = Path(plan_path)
    return apply_params(load_plan(path), run_params or {}, base_dir=path.parent)
