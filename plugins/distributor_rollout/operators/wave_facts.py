"""What AWS reports about one wave, read into ``core.deployment.WaveSnapshot``: the wave
against the live organization, then, before every decision, the stack set's operations,
instances and whether it holds the release (``core.release.holds_release``).

Reads only: the Deploy task decides from these facts (``core.deployment.next_step``) and
starts what the decision says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from distributor_rollout.core.deployment import (
    Instance,
    OperationRecord,
    WaveSnapshot,
    account_ous,
    candidate_operation_ids,
)
from distributor_rollout.core.operation_ids import rollback_among
from distributor_rollout.core.plan import Plan, wave_operation
from distributor_rollout.core.release import Release, holds_release
from distributor_rollout.core.verdict import ACTIVE_OPERATION_STATUSES, InstanceResult
from distributor_rollout.core.waves import ResolvedWave, organization_scope, resolve_waves
from distributor_rollout.hooks.errors import ConfigurationError
from distributor_rollout.hooks.organizations import OrganizationsHook
from distributor_rollout.hooks.stack_set import StackSetHook
from distributor_rollout.operators.task_log import TaskLog


def start_facts(
    plan: Plan,
    wave_name: str,
    release: Release,
    *,
    run_id: str,
    organizations: OrganizationsHook,
    log: TaskLog,
) -> WaveSnapshot:
    """The facts the wave's decisions start from: the wave resolved against the live
    organization (every plan problem fails here), before any stack set state is read."""
    org = organizations.snapshot(organization_scope(plan))
    resolution = resolve_waves(plan, org)
    for warning in resolution.warnings:
        log.warning("%s", warning)
    resolution.raise_for_problems("waves against the organization")
    wave: ResolvedWave = next(wave for wave in resolution.waves if wave.name == wave_name)
    log.info(
        "Wave %s: %d targets (%d accounts x %s)",
        wave.name,
        len(wave.targets),
        len(wave.accounts),
        ", ".join(wave.regions),
    )
    return WaveSnapshot(
        run_id=run_id,
        wave=wave,
        ou_of=account_ous(org, wave),
        preferences=wave_operation(plan, plan.wave(wave_name)),
        template=release.template,
        previous=release.previous,
        holds_release=False,
        instances=(),
    )


def read_facts(
    hook: StackSetHook,
    base: WaveSnapshot,
    release: Release,
    described: Mapping[str, Any],
    template_body: str | None,
    *,
    template_sha256: str | None = None,
) -> WaveSnapshot:
    """What AWS reports now, for ``core.deployment.next_step``. Whether the stack set
    holds the release's template is judged from its text, or from its sha256."""
    name, call_as = release.stack_set_name, release.call_as
    candidates = candidate_operation_ids(base.run_id, base.wave)
    ours: dict[str, OperationRecord] = {}
    foreign: list[str] = []
    summaries = hook.list_operations(name, call_as=call_as)
    undone = rollback_among(base.run_id, (summary["OperationId"] for summary in summaries))
    if undone is not None:
        # Adopting this run's earlier operations would report a deployment the
        # rollback has undone: a cleared, rolled-back run must not pass silently.
        raise ConfigurationError(
            f"run {base.run_id} was rolled back (operation {undone}); its "
            "waves cannot be deployed again: start a new run"
        )
    for summary in summaries:
        operation_id = summary["OperationId"]
        if operation_id in candidates:
            results = hook.list_operation_results(name, operation_id, call_as=call_as)
            ours[operation_id] = OperationRecord(
                operation_id,
                summary["Status"],
                tuple(InstanceResult.from_api(result) for result in results),
            )
        elif summary["Status"] in ACTIVE_OPERATION_STATUSES:
            foreign.append(operation_id)
    instances = tuple(
        Instance.from_api(summary) for summary in hook.list_stack_instances(name, call_as=call_as)
    )
    holds = holds_release(
        described, release.template, template_text=template_body, sha256=template_sha256
    )
    return replace(
        base,
        holds_release=holds,
        instances=instances,
        operations=ours,
        foreign_active=tuple(foreign),
    )
