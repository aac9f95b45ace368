"""What a manual run may change about its plan, and who may approve its waves.

Plan authors are trusted (plans are reviewed in git); people who may only trigger a DAG
are not. The plan's ``manual_runs`` section says which trigger params a run may use and
how far: by default a run may pick a version and its source, run a subset of the waves
that keeps the first one, and tighten the gates, but not loosen them, skip approvals or
turn rollback off. Its ``approvals`` section names who may answer the approval tasks and
whether the user who triggered a run may approve its own waves (by default not).

``policy_problems`` checks a run's params against the policy; a param equal to what the
plan already says is no change, so the form's defaults always pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from distributor_rollout.core.durations import format_duration
from distributor_rollout.core.errors import Problem, describe, wrong
from distributor_rollout.core.fields import RULE_ERROR

RollbackMode = Literal["previous_version", "uninstall", "none"]
WaveSelection = Literal["any", "keep_first", "none"]
GateOverrides = Literal["any", "tighten", "none"]

_SAFE_ROLLBACK_MODES: tuple[RollbackMode, ...] = ("previous_version", "uninstall")


def _approver_id(value: str) -> str:
    if not 1 <= len(value) <= APPROVER_ID_MAX or re.search(r"[\x00-\x1f\x7f]", value):
        message = (
            f"not an Airflow user id (got {describe(value)}; expected 1-{APPROVER_ID_MAX} "
            "characters without control characters)"
        )
        raise PydanticCustomError(RULE_ERROR, "{message}", {"message": message})
    return value


APPROVER_ID_MAX = 256
ApproverId = Annotated[str, AfterValidator(_approver_id)]
"""An Airflow user id, as the auth manager's ``get_id()`` gives it (the user name with the
simple and Keycloak auth managers, the numeric id with FAB)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ManualRunPolicy(_Model):
    """Which trigger params a manual run may use (``manual_runs`` in the plan)."""

    version: bool = Field(True, description="a run may pick the package version (true/false)")
    source: bool = Field(
        True,
        description="a run may pick the package source: a folder under the packages root or "
        "an S3 prefix in package.source_buckets (true/false)",
    )
    waves: WaveSelection = Field(
        "keep_first",
        description="'keep_first' (a subset that keeps the plan's first wave), 'any' or 'none'",
    )
    gates: GateOverrides = Field(
        "tighten",
        description="'tighten' (higher threshold, longer bake and timeout only), 'any' or 'none'",
    )
    skip_approvals: bool = Field(False, description="a run may skip approvals (true/false)")
    rollback_modes: list[RollbackMode] = Field(
        default_factory=lambda: list(_SAFE_ROLLBACK_MODES),
        description="the rollback modes a run may choose: 'previous_version', 'uninstall', "
        "'none' (the plan's own mode is always allowed)",
    )


class ApprovalPolicy(_Model):
    """Who may answer a wave's approval (``approvals`` in the plan)."""

    approvers: list[ApproverId] = Field(
        default_factory=list,
        description="Airflow user ids that may answer; empty: every user who may answer the "
        "DAG's approvals in Airflow",
    )
    allow_self_approval: bool = Field(
        False, description="the user who triggered a run may approve its waves (true/false)"
    )


@dataclass(frozen=True)
class GateFloor:
    """The strictest gate among the waves a run runs: what a tightening param must meet."""

    threshold_percent: float
    timeout_seconds: float
    bake_seconds: float


@dataclass(frozen=True)
class RequestedChanges:
    """What a run's params change, each ``None`` when the param keeps the plan's value."""

    version: str | None = None
    source: str | None = None
    waves: Sequence[str] | None = None
    gate_threshold_percent: float | None = None
    gate_timeout: int | None = None
    gate_bake: int | None = None
    skip_approvals: bool = False
    rollback_mode: str | None = None


def _not_allowed(param: str, got: object, rule: str) -> Problem:
    return wrong(param, "not allowed for a manual run of this plan", got, rule)


def policy_problems(
    policy: ManualRunPolicy,
    changes: RequestedChanges,
    *,
    plan_waves: Sequence[str],
    floor: GateFloor,
) -> Iterator[Problem]:
    """Every param that asks for more than the plan's ``manual_runs`` allows."""
    if changes.version is not None and not policy.version:
        yield _not_allowed("version", changes.version, "the plan's version (manual_runs.version)")
    if changes.source is not None and not policy.source:
        yield _not_allowed("source", changes.source, "the plan's source (manual_runs.source)")
    yield from _wave_problems(policy.waves, changes.waves, plan_waves)
    yield from _gate_problems(policy.gates, changes, floor)
    if changes.skip_approvals and not policy.skip_approvals:
        yield _not_allowed(
            "skip_approvals", True, "false: approvals are kept (manual_runs.skip_approvals)"
        )
    if changes.rollback_mode is not None and changes.rollback_mode not in policy.rollback_modes:
        allowed = ", ".join(repr(mode) for mode in policy.rollback_modes) or "none"
        yield _not_allowed(
            "rollback_mode",
            changes.rollback_mode,
            f"the plan's mode or one of {allowed} (manual_runs.rollback_modes)",
        )


def _wave_problems(
    rule: WaveSelection, requested: Sequence[str] | None, plan_waves: Sequence[str]
) -> Iterator[Problem]:
    if requested is None or list(requested) == list(plan_waves):
        return
    if rule == "none":
        yield _not_allowed("waves", list(requested), "every wave of the plan (manual_runs.waves)")
    elif rule == "keep_first" and plan_waves and plan_waves[0] not in requested:
        yield _not_allowed(
            "waves",
            list(requested),
            f"a subset that includes the first wave {plan_waves[0]!r} (manual_runs.waves)",
        )


def _gate_problems(
    rule: GateOverrides, changes: RequestedChanges, floor: GateFloor
) -> Iterator[Problem]:
    def percent(value: float) -> str:
        return f"{value:g}%"

    requested: tuple[tuple[str, float | None, float, Callable[[Any], str]], ...] = (
        (
            "gate_threshold_percent",
            changes.gate_threshold_percent,
            floor.threshold_percent,
            percent,
        ),
        ("gate_timeout", changes.gate_timeout, floor.timeout_seconds, format_duration),
        ("gate_bake", changes.gate_bake, floor.bake_seconds, format_duration),
    )
    for param, value, strictest, shown in requested:
        if value is None or rule == "any":
            continue
        if rule == "none":
            yield _not_allowed(param, shown(value), "the plan's gate (manual_runs.gates)")
        elif value < strictest:
            yield wrong(
                param,
                "looser than the plan's gate",
                shown(value),
                f"at least {shown(strictest)}, the strictest of the run's waves: a manual run "
                "may only tighten gates (manual_runs.gates)",
            )


def approvers_for(policy: ApprovalPolicy, triggered_by: str | None) -> tuple[str, ...]:
    """The user ids a wave's approval is assigned to (empty: anyone Airflow lets answer).

    The user who triggered the run is left out unless the plan allows self-approval.
    """
    if policy.allow_self_approval or triggered_by is None:
        return tuple(policy.approvers)
    return tuple(user for user in policy.approvers if user != triggered_by)


def approver_problems(policy: ApprovalPolicy, triggered_by: str | None) -> Iterator[Problem]:
    """A run whose only named approver is the user who triggered it could never go on."""
    if policy.approvers and not approvers_for(policy, triggered_by):
        yield wrong(
            "approvals.approvers",
            "no one but the user who triggered this run may approve its waves",
            list(policy.approvers),
            "another approver, a run triggered by someone else, or "
            "approvals.allow_self_approval: true",
        )


def refused_answer(
    policy: ApprovalPolicy, *, approved: bool, responder: str | None, triggered_by: str | None
) -> str | None:
    """Why an answer does not count, or None when it does.

    Rejections always count (stopping a rollout is always safe). An approval counts only
    from a named approver (when the plan names any) who is not the run's own trigger user
    (unless the plan allows self-approval). Airflow enforces the named approvers itself,
    except with ``[core] simple_auth_manager_all_admins``: checked here again.
    """
    if not approved:
        return None
    if policy.approvers and responder not in policy.approvers:
        return f"{responder!r} is not among the plan's approvers ({', '.join(policy.approvers)})"
    if not policy.allow_self_approval and triggered_by is not None and responder == triggered_by:
        return (
            f"{responder!r} triggered this run and may not approve its own waves "
            "(approvals.allow_self_approval is false)"
        )
    return None
