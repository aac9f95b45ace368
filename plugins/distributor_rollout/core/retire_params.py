"""The retire DAG's trigger params and what a run may do with them.

A retire run takes three params: ``dry_run``, ``delete_buckets`` (empty and delete the
package buckets and the artifacts bucket once the stack set is gone) and, only where the
plan's ``manual_runs.skip_approvals`` allows it, ``skip_approval``. Everything else is the
plan's. As for a rollout, every problem is reported at once, before any AWS call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from distributor_rollout.core.errors import ValidationError, wrong
from distributor_rollout.core.plan import Plan, WaveSpec
from distributor_rollout.core.plan_validation import model_problems
from distributor_rollout.core.run_policy import approver_problems

RETIRE_PARAMS_SUBJECT = "retire params"


class RetireParams(BaseModel):
    """The params of a retire run (an empty form field reads as its default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dry_run: bool = Field(False, description="true or false")
    delete_buckets: bool = Field(False, description="true or false")
    skip_approval: bool = Field(False, description="true or false")


RETIRE_PARAM_NAMES = tuple(RetireParams.model_fields)


@dataclass(frozen=True)
class RetireConfig:
    """What a retire run does: the plan, and the run's choices."""

    plan: Plan
    dry_run: bool
    delete_buckets: bool
    skip_approval: bool
    plan_digest: str

    @property
    def asks_approval(self) -> bool:
        """Whether a person approves before the first wave (not in a dry run)."""
        return not (self.dry_run or self.skip_approval)

    @property
    def waves(self) -> tuple[WaveSpec, ...]:
        """The plan's waves in the order a retire takes them: the last one first."""
        return tuple(reversed(self.plan.waves))

    def summary(self) -> dict[str, Any]:
        """The small dict the validate task returns (with the plan's digest)."""
        return {
            "waves": [wave.name for wave in self.waves],
            "dry_run": self.dry_run,
            "delete_buckets": self.delete_buckets,
            "skip_approval": self.skip_approval,
            "plan_digest": self.plan_digest,
        }


def apply_retire_params(
    plan: Plan, params: Mapping[str, Any] | None, *, triggered_by: str | None = None
) -> RetireConfig:
    """Validate a retire run's params against the plan; every problem at once.

    ``skip_approval`` needs the plan's ``manual_runs.skip_approvals``; a run that asks for
    an approval needs someone besides ``triggered_by`` who may give it.
    """
    raw = {key: (None if value == "" else value) for key, value in (params or {}).items()}
    raw = {key: value for key, value in raw.items() if value is not None}
    problems = model_problems(RetireParams, raw)
    if problems:
        raise ValidationError(RETIRE_PARAMS_SUBJECT, problems)
    run = RetireParams.model_validate(raw)
    if run.skip_approval and not plan.manual_runs.skip_approvals:
        problems.append(
            wrong(
                "skip_approval",
                "not allowed: the plan's manual_runs.skip_approvals is false",
                True,
                "false",
            )
        )
    config = RetireConfig(
        plan=plan,
        dry_run=run.dry_run,
        delete_buckets=run.delete_buckets,
        skip_approval=run.skip_approval,
        plan_digest=plan.digest(),
    )
    if config.asks_approval:
        problems.extend(approver_problems(plan.approvals, triggered_by))
    if problems:
        raise ValidationError(RETIRE_PARAMS_SUBJECT, problems)
    return config
