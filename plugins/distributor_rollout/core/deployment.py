"""How one wave reaches its targets, one StackSets call at a time, and what it changed.

A wave's targets that already have a stack instance get ``UpdateStackSet`` restricted to
the wave's OUs and Regions (this version's template and parameters, by
``UsePreviousTemplate``/``UsePreviousValue`` once the stack set holds them, so the other
waves' instances keep their status: ``core.stack_set_update``); targets without one
get ``CreateStackInstances`` afterwards, since a create deploys whatever template the stack
set holds. Each call has a deterministic operation id, so the decision is a pure function
of what AWS reports (the stack set, its instances, this run's operations, anyone else's
running ones): a retried or resumed task recomputes it and adopts the operations it
already started instead of starting them again, and never mistakes an instance it created
for one it updated.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from distributor_rollout.core.changes import TargetChange, TemplateRef, WaveChanges
from distributor_rollout.core.operation_ids import operation_id
from distributor_rollout.core.operation_wait import judge
from distributor_rollout.core.org import Organization
from distributor_rollout.core.plan import OperationPreferences
from distributor_rollout.core.rollback_actions import target_scopes
from distributor_rollout.core.stack_set_update import keeping_held_template
from distributor_rollout.core.targets import Target
from distributor_rollout.core.verdict import ACTIVE_OPERATION_STATUSES, InstanceResult
from distributor_rollout.core.wave_result import WaveResult
from distributor_rollout.core.waves import ResolvedWave

CURRENT = "CURRENT"
CallKind = Literal["update", "create"]


@dataclass(frozen=True, slots=True)
class Instance:
    """One ``ListStackInstances`` summary: where the instance is and how current it is."""

    target: Target
    status: str
    last_operation_id: str | None = None

    @classmethod
    def from_api(cls, summary: Mapping[str, Any]) -> Instance:
        """From a botocore ``StackInstanceSummary``."""
        return cls(
            Target(summary["Account"], summary["Region"]),
            summary.get("Status", ""),
            summary.get("LastOperationId"),
        )


@dataclass(frozen=True, slots=True)
class OperationRecord:
    """One of this run's operations as StackSets reports it, with its per-target results."""

    operation_id: str
    status: str
    results: tuple[InstanceResult, ...] = ()

    @property
    def done(self) -> bool:
        """Whether the operation reached a final status."""
        return self.status not in ACTIVE_OPERATION_STATUSES


@dataclass(frozen=True, slots=True)
class Call:
    """One StackSets call a wave needs: its kind, id, the targets it is meant to reach and
    its request (short of ``StackSetName``, ``CallAs`` and ``OperationId``)."""

    kind: CallKind
    operation_id: str
    targets: tuple[Target, ...]
    request: Mapping[str, Any]

    @property
    def api_call(self) -> str:
        """The API operation that starts it."""
        return "UpdateStackSet" if self.kind == "update" else "CreateStackInstances"


@dataclass(frozen=True)
class WaveSnapshot:
    """Everything the decision reads, as AWS reported it just now."""

    run_id: str
    wave: ResolvedWave
    ou_of: Mapping[str, str]
    preferences: OperationPreferences
    template: TemplateRef
    previous: TemplateRef | None
    holds_release: bool
    instances: tuple[Instance, ...]
    operations: Mapping[str, OperationRecord] = field(default_factory=dict)
    foreign_active: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait for these operations to end, then decide again."""

    operation_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Start:
    """Start this call, then decide again."""

    call: Call


@dataclass(frozen=True, slots=True)
class Finished:
    """The wave's calls are all started (the last one may still run): its record."""

    wave: str
    operations: tuple[str, ...]
    changes: WaveChanges
    stopped_early: str = ""

    @property
    def nothing_to_do(self) -> bool:
        """True when every target already ran this version, so no call was needed."""
        return not self.operations

    def result(self, targets: Iterable[Target]) -> WaveResult:
        """The deploy task's result; ``targets`` are every account/Region of the wave."""
        return WaveResult(
            self.wave,
            self.changes,
            self.operations,
            self.nothing_to_do,
            tuple(str(target) for target in targets),
        )


Step = Wait | Start | Finished


def update_operation_id(run_id: str, wave: str) -> str:
    """The id of the wave's ``UpdateStackSet``."""
    return operation_id(run_id, wave, "update")


def create_operation_id(run_id: str, wave: str, index: int) -> str:
    """The id of the wave's ``index``-th ``CreateStackInstances`` (usually there is one)."""
    return operation_id(run_id, wave, "create", *([str(index + 1)] if index else []))


def create_operation_ids(run_id: str, wave: ResolvedWave) -> frozenset[str]:
    """Every id the wave's creates could have (one create per account at most)."""
    most = len(wave.accounts) + 1
    return frozenset(create_operation_id(run_id, wave.name, index) for index in range(most))


def candidate_operation_ids(run_id: str, wave: ResolvedWave) -> frozenset[str]:
    """Every id this wave's calls could have: the ids to look for before deciding."""
    return frozenset({update_operation_id(run_id, wave.name), *create_operation_ids(run_id, wave)})


def account_ous(org: Organization, wave: ResolvedWave) -> dict[str, str]:
    """For each of the wave's accounts, the first of its OUs that reaches it (StackSets
    include child OUs' accounts, so this may be an ancestor of the account's own OU)."""
    ou_of: dict[str, str] = {}
    for ou_id in wave.ou_ids:
        for account in org.accounts_under(ou_id):
            ou_of.setdefault(account.id, ou_id)
    return {account: ou_of[account] for account in wave.accounts}


def holds_template(described: Mapping[str, Any], template_body: str, template: TemplateRef) -> bool:
    """Whether a ``DescribeStackSet`` answer already holds ``template``: the same template
    text, and every parameter ``template`` sets at its value (others are defaults)."""
    if described.get("TemplateBody") != template_body:
        return False
    values = {
        item["ParameterKey"]: item.get("ParameterValue")
        for item in described.get("Parameters") or []
    }
    return all(values.get(key) == value for key, value in template.parameters.items())


def deployment_gap(instances: Iterable[Instance], wanted: Iterable[Target]) -> str | None:
    """Why a stack set that holds the release has not yet deployed it to every ``wanted``
    target (None when it has): each needs an instance, and the instance ``CURRENT``."""
    status = {instance.target: instance.status for instance in instances}
    targets = sorted(set(wanted))
    missing = [target for target in targets if target not in status]
    stale = [target for target in targets if target in status and status[target] != "CURRENT"]
    if missing or stale:
        return (
            f"{len(missing)} targets have no instance, {len(stale)} are not CURRENT "
            f"(e.g. {(missing or stale)[0]})"
        )
    return None


def rollback_preferences(
    preferences: OperationPreferences | None, regions: Iterable[str]
) -> OperationPreferences:
    """Preferences for a rollback call: the wave's pace and Region order, but every target
    attempted (100% tolerance, soft mode), since one failed restore must not cancel the
    others; the failures are read from the results instead."""
    wanted = tuple(dict.fromkeys(regions))
    base = preferences or OperationPreferences(
        region_order=wanted,
        region_concurrency="SEQUENTIAL",
        concurrency_mode="SOFT_FAILURE_TOLERANCE",
        max_concurrent_percentage=25,
    )
    order = [region for region in base.region_order if region in wanted]
    return replace(
        base,
        region_order=tuple(dict.fromkeys([*order, *wanted])),
        concurrency_mode="SOFT_FAILURE_TOLERANCE",
        failure_tolerance_count=None,
        failure_tolerance_percentage=100,
    )


def next_step(facts: WaveSnapshot) -> Step:
    """What to do next for this wave.

    The calls run one after another (StackSets runs one operation at a time): each one
    this run has not started yet is started once nobody else's operation runs; one that
    another call follows is waited for, and if it failed the wave stops there. The last
    call is not waited for: the operation sensor does that.
    """
    calls = planned_calls(facts)
    for index, call in enumerate(calls):
        record = facts.operations.get(call.operation_id)
        if record is None:
            if facts.foreign_active:
                return Wait(facts.foreign_active, "another operation is running on the stack set")
            return Start(call)
        if index == len(calls) - 1:
            break
        if not record.done:
            return Wait((call.operation_id,), f"{call.api_call} must end before the next call")
        verdict = judge(record.status, record.results, call.request["OperationPreferences"])
        if verdict.outcome == "failed":
            return _finished(facts, calls[: index + 1], f"{call.api_call}: {verdict.summary}")
    return _finished(facts, calls, "")


def planned_calls(facts: WaveSnapshot) -> list[Call]:
    """The wave's calls, in order: the update (when one is needed or was made), then one
    create per group of new targets sharing the same Regions."""
    wave = facts.wave
    wave_targets = set(wave.targets)
    created = _created_by_run(facts) & wave_targets
    existing = {
        instance.target: instance
        for instance in facts.instances
        if instance.target in wave_targets and instance.target not in created
    }
    new = [target for target in wave.targets if target not in existing]
    update_id = update_operation_id(facts.run_id, wave.name)
    outdated = any(instance.status != CURRENT for instance in existing.values())
    needs_update = (
        update_id in facts.operations
        or (bool(existing) and (outdated or not facts.holds_release))
        # A create deploys the stack set's current template: set this version's first.
        or (bool(new) and not facts.holds_release)
    )
    calls: list[Call] = []
    if needs_update:
        request: dict[str, Any] = {
            "DeploymentTargets": wave.deployment_targets(),
            "Regions": list(wave.regions),
            "OperationPreferences": facts.preferences.to_aws(),
            "TemplateURL": facts.template.template_url,
            "Parameters": [
                {"ParameterKey": key, "ParameterValue": value}
                for key, value in facts.template.parameters.items()
            ],
        }
        if facts.holds_release:
            # Named by value, the release would mark the earlier waves' instances OUTDATED
            # again (core.stack_set_update). A retry after this run's own first update set
            # the release computes this form for that update too: its id exists, so it is
            # adopted, never sent again.
            request = keeping_held_template(request)
        calls.append(Call("update", update_id, tuple(sorted(existing)), request))
    for index, (ous, accounts, regions) in enumerate(target_scopes(new, facts.ou_of)):
        preferences = replace(
            facts.preferences,
            region_order=tuple(r for r in facts.preferences.region_order if r in regions),
        )
        request = {
            "DeploymentTargets": {
                "OrganizationalUnitIds": list(ous),
                "Accounts": list(accounts),
                "AccountFilterType": "INTERSECTION",
            },
            "Regions": list(preferences.region_order),
            "OperationPreferences": preferences.to_aws(),
        }
        targets = tuple(Target(a, r) for a in accounts for r in preferences.region_order)
        calls.append(
            Call("create", create_operation_id(facts.run_id, wave.name, index), targets, request)
        )
    return calls


def _reached(facts: WaveSnapshot, operations: Collection[str]) -> set[Target]:
    """Targets these operations of this run reached, by their results and by the
    instances that name one as their last operation (AWS may list either first). One pass
    over the results and the instances: a wave's create ids are as many as its accounts,
    so reading the instances once per id would cost accounts × instances."""
    reached = {
        result.target
        for operation_id, record in facts.operations.items()
        if operation_id in operations
        for result in record.results
    }
    reached |= {i.target for i in facts.instances if i.last_operation_id in operations}
    return reached


def _created_by_run(facts: WaveSnapshot) -> set[Target]:
    """Targets this run's creates reached."""
    return _reached(facts, create_operation_ids(facts.run_id, facts.wave))


def _finished(facts: WaveSnapshot, calls: list[Call], stopped_early: str) -> Finished:
    wave_targets = set(facts.wave.targets)
    kinds: dict[Target, TargetChange] = {}
    for call in calls:
        # Fall back on the intended targets while AWS lists nothing for a fresh operation.
        reached = _reached(facts, {call.operation_id}) or set(call.targets)
        for target in sorted(reached & wave_targets):
            if call.kind == "create":
                kinds[target] = TargetChange(target, facts.ou_of[target.account_id], "created")
            else:
                kinds.setdefault(
                    target,
                    TargetChange(target, facts.ou_of[target.account_id], "updated", facts.previous),
                )
    changes = WaveChanges(facts.wave.name, tuple(kinds[target] for target in sorted(kinds)))
    return Finished(
        facts.wave.name, tuple(call.operation_id for call in calls), changes, stopped_early
    )


def recovered_changes(
    wave: str,
    operations: Iterable[tuple[str, Iterable[Mapping[str, Any]]]],
    previous: TemplateRef | None,
) -> WaveChanges:
    """A wave's change record rebuilt from its operations, for a deploy task that failed
    after starting one (it returned no record).

    ``operations`` are (``Action``, results) of this run's operations for the wave, found
    by their deterministic ids. A target a ``CREATE`` reached was created; one an
    ``UPDATE`` reached was updated from ``previous``. Results AWS never acted on (PENDING,
    CANCELLED) changed nothing.
    """
    kinds: dict[Target, TargetChange] = {}
    for action, results in operations:
        for result in results:
            if result.get("Status") in {"PENDING", "CANCELLED"}:
                continue
            target = Target(str(result["Account"]), str(result["Region"]))
            ou_id = str(result.get("OrganizationalUnitId") or "")
            if action == "CREATE":
                kinds[target] = TargetChange(target, ou_id, "created")
            elif action == "UPDATE":
                kinds.setdefault(target, TargetChange(target, ou_id, "updated", previous))
    return WaveChanges(wave, tuple(kinds[target] for target in sorted(kinds)))
