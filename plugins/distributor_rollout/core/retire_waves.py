"""What retiring one wave does on StackSets, decided from what AWS reports.

A wave is retired in three steps, each a task of its TaskGroup:

1. **uninstall**: one ``UpdateStackSet`` restricted to the wave's OUs and the Regions
   where it still has instances, with the stack set's own template and every parameter
   kept (``UsePreviousTemplate``, ``UsePreviousValue``) but ``Action=Uninstall`` (given
   by value only while the stack set does not hold it yet: once an earlier wave set it,
   naming it again would mark every instance OUTDATED, ``core.stack_set_update``). The
   association then runs ``AWS-ConfigureAWSPackage`` with ``uninstall`` on the nodes.
2. **wait until the nodes report the package gone** (``core.uninstall``'s decision, with
   its offline-node rules): a node offline since before its target's stack instance was
   created never got the package (untouched); one offline since then may hold it, so its
   target keeps its instance (kept): the association keeps the uninstall for when the
   agent returns. Targets whose uninstall failed or could not be confirmed stop the wave.
3. **delete** the instances of the targets whose nodes report the package gone
   (``RetainStacks`` false), except a home-Region instance whose compliance-reader role
   the account still needs to read the targets retired after it (``held_for_role``):
   the last step, once nothing else of the account is left, deletes those.

Every call has a deterministic id (``core.retire_steps.retire_operation_id``), so a
retried or resumed task adopts what it started.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from distributor_rollout.core.deployment import Instance, rollback_preferences
from distributor_rollout.core.errors import ValidationError, wrong
from distributor_rollout.core.plan import OperationPreferences, Plan
from distributor_rollout.core.retire_steps import retire_operation_id, scope_digest
from distributor_rollout.core.rollback_actions import (
    UNINSTALL_PARAMETER,
    UNINSTALL_VALUE,
    target_scopes,
)
from distributor_rollout.core.targets import Target
from distributor_rollout.core.uninstall import UninstallCheck
from distributor_rollout.core.verdict import ACTIVE_OPERATION_STATUSES, InstanceResult
from distributor_rollout.core.waves import ResolvedWave

UNINSTALL_ACTION = "uninstall"
DELETE_ACTION = "delete"


@dataclass(frozen=True, slots=True)
class StackSetCall:
    """One StackSets call a retire step makes: the API, its deterministic id, the targets
    it is meant to reach and its request (short of ``StackSetName``, ``CallAs`` and
    ``OperationId``)."""

    api_call: str
    operation_id: str
    targets: tuple[Target, ...]
    request: Mapping[str, Any]


def wave_instances(wave: ResolvedWave, instances: Iterable[Instance]) -> tuple[Instance, ...]:
    """The stack instances among the wave's targets, in target order."""
    wanted = set(wave.targets)
    return tuple(sorted((i for i in instances if i.target in wanted), key=lambda i: i.target))


def uninstall_call(
    run_id: str,
    wave: ResolvedWave,
    instances: Sequence[Instance],
    *,
    parameters: Mapping[str, str],
    preferences: OperationPreferences,
    capabilities: Sequence[str] = (),
) -> StackSetCall:
    """The wave's uninstall: ``UpdateStackSet`` over its OUs and the Regions it still has
    instances in (in the wave's Region order), every target attempted (failures are read
    from the results). ``parameters`` are the stack set's (``DescribeStackSet``); a
    template without the ``Action`` parameter cannot uninstall through its association."""
    if UNINSTALL_PARAMETER not in parameters:
        raise ValidationError(
            "stack set template",
            [
                wrong(
                    "Parameters",
                    "has no Action parameter: the association cannot uninstall the package",
                    sorted(parameters),
                    "the template distributor_rollout ships (Action: Install | Uninstall)",
                )
            ],
        )
    present = {instance.target.region for instance in instances}
    regions = [region for region in wave.regions if region in present]
    held = parameters[UNINSTALL_PARAMETER] == UNINSTALL_VALUE
    request = {
        "DeploymentTargets": wave.deployment_targets(),
        "Regions": regions,
        "OperationPreferences": rollback_preferences(preferences, regions).to_aws(),
        "UsePreviousTemplate": True,
        "Parameters": [
            {"ParameterKey": key, "UsePreviousValue": True}
            if key != UNINSTALL_PARAMETER or held
            else {"ParameterKey": key, "ParameterValue": UNINSTALL_VALUE}
            for key in sorted(parameters)
        ],
        "Capabilities": list(capabilities),
    }
    return StackSetCall(
        "UpdateStackSet",
        retire_operation_id(run_id, wave.name, UNINSTALL_ACTION),
        tuple(instance.target for instance in instances),
        request,
    )


def delete_calls(
    run_id: str,
    wave: str,
    targets: Iterable[Target],
    ou_of: Mapping[str, str],
    preferences: OperationPreferences | None,
    *,
    action: str = DELETE_ACTION,
    by_content: bool = False,
) -> list[StackSetCall]:
    """``DeleteStackInstances`` (``RetainStacks`` false) reaching exactly ``targets``: one
    call per group of accounts sharing Regions (``target_scopes``).

    Numbered in order when ``targets`` is a decision recorded before the first call (the
    same on every retry); named by their targets (``by_content``) when decided from what
    is left, so a retry that finds some gone names the rest as before."""
    calls = []
    for number, (ous, accounts, regions) in enumerate(target_scopes(targets, ou_of), start=1):
        reached = tuple(Target(a, r) for a in accounts for r in regions)
        part = scope_digest(reached) if by_content else str(number)
        request = {
            "DeploymentTargets": {
                "OrganizationalUnitIds": list(ous),
                "Accounts": list(accounts),
                "AccountFilterType": "INTERSECTION",
            },
            "Regions": list(regions),
            "OperationPreferences": rollback_preferences(preferences, regions).to_aws(),
            "RetainStacks": False,
        }
        calls.append(
            StackSetCall(
                "DeleteStackInstances",
                retire_operation_id(run_id, wave, action, part),
                reached,
                request,
            )
        )
    return calls


@dataclass(frozen=True, slots=True)
class Start:
    """Start this call, then decide again."""

    call: StackSetCall


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait for these operations to end, then decide again."""

    operation_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Done:
    """Every call is started (with ``wait_last`` false, the last may still run)."""

    operation_ids: tuple[str, ...]


def next_call(
    calls: Sequence[StackSetCall],
    statuses: Mapping[str, str],
    foreign_active: Sequence[str] = (),
    *,
    wait_last: bool = False,
) -> Start | Wait | Done:
    """The next thing to do over ``calls`` run one after another (StackSets runs one
    operation at a time): ``statuses`` holds the status of each call already started
    (by id). A call not started yet waits for anyone else's operation; a started one
    that another call follows is waited for."""
    for index, call in enumerate(calls):
        status = statuses.get(call.operation_id)
        if status is None:
            if foreign_active:
                return Wait(tuple(foreign_active), "another operation is running on the stack set")
            return Start(call)
        last = index == len(calls) - 1
        if status in ACTIVE_OPERATION_STATUSES and (wait_last or not last):
            return Wait((call.operation_id,), f"{call.api_call} must end first")
    return Done(tuple(call.operation_id for call in calls))


def first_created(creates: Iterable[tuple[float, Iterable[InstanceResult]]]) -> dict[Target, float]:
    """When each target's stack instance was first created (epoch seconds), from the stack
    set's ``CREATE`` operations (their start, and their results): the earliest a node can
    have received the package there. A target no create reached is left out (unknown)."""
    created: dict[Target, float] = {}
    for started, results in creates:
        for result in results:
            if result.status == "SUCCEEDED":
                known = created.get(result.target)
                created[result.target] = started if known is None else min(known, started)
    return created


@dataclass(frozen=True, slots=True)
class RemovalCheck:
    """What a wave's wait for the package to be gone found.

    ``removed``: every node that can run the uninstall did (the instance may go).
    ``kept``: targets whose nodes went offline after their instance was created, by how
    many such nodes: they may hold the package, so the instance (and the association's
    uninstall) stays. ``untouched``: nodes per target offline since before their instance
    existed (never got the package). ``unconfirmed``: targets whose nodes failed the
    uninstall or did not report in time. ``not_reached``: targets the uninstall operation
    itself failed on, with StackSets' reason.
    """

    wave: str
    removed: tuple[Target, ...] = ()
    kept: Mapping[Target, int] = field(default_factory=dict)
    untouched: Mapping[Target, int] = field(default_factory=dict)
    unconfirmed: tuple[Target, ...] = ()
    not_reached: Mapping[Target, str] = field(default_factory=dict)

    @property
    def stopped(self) -> tuple[Target, ...]:
        """The targets that stop the wave: uninstall not reached or not confirmed."""
        return tuple(sorted({*self.unconfirmed, *self.not_reached}))

    def failure(self) -> str | None:
        """Why the wave stops here (None when it goes on)."""
        stopped = self.stopped
        if not stopped:
            return None
        shown = ", ".join(str(target) for target in stopped[:5])
        more = f" and {len(stopped) - 5} more" if len(stopped) > 5 else ""
        reasons = [f"{target}: {reason}" for target, reason in sorted(self.not_reached.items())]
        return (
            f"wave {self.wave}: the package is not confirmed gone on {len(stopped)} targets "
            f"({shown}{more}); their instances stay"
            + (f"; uninstall failed on {'; '.join(reasons[:3])}" if reasons else "")
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (XCom)."""
        return {
            "wave": self.wave,
            "removed": [str(target) for target in self.removed],
            "kept": {str(target): count for target, count in sorted(self.kept.items())},
            "untouched": {str(target): count for target, count in sorted(self.untouched.items())},
            "unconfirmed": [str(target) for target in self.unconfirmed],
            "not_reached": {str(t): reason for t, reason in sorted(self.not_reached.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RemovalCheck:
        """The inverse of ``to_dict``."""
        return cls(
            wave=str(data["wave"]),
            removed=tuple(Target.parse(text) for text in data.get("removed", ())),
            kept={Target.parse(k): int(v) for k, v in (data.get("kept") or {}).items()},
            untouched={Target.parse(k): int(v) for k, v in (data.get("untouched") or {}).items()},
            unconfirmed=tuple(Target.parse(text) for text in data.get("unconfirmed", ())),
            not_reached={
                Target.parse(k): str(v) for k, v in (data.get("not_reached") or {}).items()
            },
        )


NO_RESULT = "the uninstall operation lists no result for it"


def reached_targets(
    targets: Iterable[Target], results: Iterable[InstanceResult]
) -> tuple[frozenset[Target], dict[Target, str]]:
    """Of the targets an uninstall was meant for, those its operation reached, and the
    others with StackSets' reason (or ``NO_RESULT``)."""
    wanted = set(targets)
    reached: set[Target] = set()
    not_reached: dict[Target, str] = dict.fromkeys(wanted, NO_RESULT)
    for result in results:
        if result.target not in wanted:
            continue
        if result.status == "SUCCEEDED":
            reached.add(result.target)
            not_reached.pop(result.target, None)
        else:
            not_reached[result.target] = result.reason or result.status
    return frozenset(reached), not_reached


def removal_check(
    wave: str,
    reached: Iterable[Target],
    not_reached: Mapping[Target, str],
    check: UninstallCheck,
) -> RemovalCheck:
    """The wave's finding: the targets the uninstall operation reached and those it did
    not (they cannot be confirmed), and the wait on the nodes of those it reached."""
    reached = set(reached)
    kept = {t: n for t, n in check.kept.items() if t in reached and t not in check.unconfirmed}
    unconfirmed = {t for t in check.unconfirmed if t in reached}
    removed = reached - unconfirmed - set(kept)
    return RemovalCheck(
        wave=wave,
        removed=tuple(sorted(removed)),
        kept=kept,
        untouched={t: n for t, n in check.untouched.items() if t in reached},
        unconfirmed=tuple(sorted(unconfirmed)),
        not_reached=dict(not_reached),
    )


def held_for_role(
    plan: Plan, waves: Sequence[ResolvedWave], wave: str, removal: RemovalCheck
) -> frozenset[Target]:
    """The targets among ``removal.removed`` whose instance stays for now: the stack in
    the compliance reader's home Region creates the account's (global) reader role, which
    the retire still needs there to read the account's other Regions. That is while the
    account has a target in another Region in a wave retired after this one (earlier in
    the plan), or one of this wave that keeps its instance (kept or unconfirmed)."""
    reader = plan.stack_set.compliance_reader
    if not reader.create:
        return frozenset()
    home = plan.stack_set.compliance_home_region
    names = [resolved.name for resolved in waves]
    later = waves[: names.index(wave)] if wave in names else ()
    still_needed = {t.account_id for w in later for t in w.targets if t.region != home}
    still_needed |= {t.account_id for t in (*removal.kept, *removal.stopped) if t.region != home}
    return frozenset(
        t for t in removal.removed if t.region == home and t.account_id in still_needed
    )
