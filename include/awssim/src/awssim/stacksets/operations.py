"""Building operations from requests: their id, preferences and account/Region targets.

Create acts on every resolved target (creating the instances it lacks); UpdateStackSet,
UpdateStackInstances and DeleteStackInstances act on existing instances only. Accounts named
one by one must have an instance where the request says so (StackInstanceNotFoundException);
accounts reached through an OU are simply skipped where they have none.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from awssim.stacksets import targets as targeting
from awssim.stacksets.errors import (
    OperationIdAlreadyExists,
    OperationInProgress,
    StackInstanceNotFound,
    ValidationError,
)
from awssim.stacksets.model import INOPERABLE, Operation, StackSet, Target
from awssim.stacksets.preferences import Preferences
from awssim.stacksets.templates import resolve_overrides

if TYPE_CHECKING:
    from awssim.organization import OrgView
    from awssim.simulator import Simulator


def new_operation_id(stack_set: StackSet, request: dict[str, Any]) -> str:
    """The request's OperationId, which must be new to the stack set (whatever the request)."""
    operation_id = str(request.get("OperationId") or uuid.uuid4())
    if stack_set.operation(operation_id) is not None:
        raise OperationIdAlreadyExists(operation_id)
    return operation_id


def build(
    sim: Simulator,
    stack_set: StackSet,
    request: dict[str, Any],
    *,
    operation_id: str,
    action: str,
    targets: list[Target],
) -> Operation:
    """An operation ready to submit; one at a time unless ManagedExecution queues it."""
    preferences = Preferences.parse(request.get("OperationPreferences"))
    # With ManagedExecution, AWS queues every incoming operation while any is running or
    # queued, conflicting or not, and starts them in request order (API_ManagedExecution).
    if stack_set.active_operations() and not stack_set.managed_execution:
        raise OperationInProgress(stack_set.arn)
    return Operation(
        operation_id=operation_id,
        action=action,
        created=sim.now(),
        preferences=preferences,
        targets=targets,
        deployment_targets=request.get("DeploymentTargets"),
    )


def create_targets(org: OrgView, stack_set: StackSet, request: dict[str, Any]) -> list[Target]:
    """CreateStackInstances: every resolved account in every Region."""
    regions = targeting.check_regions(request.get("Regions"))
    resolved = targeting.resolve(
        org,
        stack_set.permission_model,
        request.get("Accounts"),
        request.get("DeploymentTargets"),
        creating=True,
    )
    given = request.get("ParameterOverrides")
    overrides = resolve_overrides(stack_set.change.template, given, {}) if given else None
    return [
        Target(account, region, ou, overrides=None if overrides is None else dict(overrides))
        for region in regions
        for account, ou in resolved.accounts
    ]


def override_targets(org: OrgView, stack_set: StackSet, request: dict[str, Any]) -> list[Target]:
    """UpdateStackInstances: existing instances, each with its new overrides."""
    given = request.get("ParameterOverrides")
    found = _existing(org, stack_set, request, skip_inoperable=False)
    for target in found:
        if given is not None:
            previous = stack_set.instances[target.key].overrides
            target.overrides = resolve_overrides(stack_set.change.template, given, previous)
    return found


def update_targets(org: OrgView, stack_set: StackSet, request: dict[str, Any]) -> list[Target]:
    """UpdateStackSet: the named instances, or all of them (INOPERABLE ones never)."""
    named = request.get("Accounts") or request.get("DeploymentTargets")
    if not named and not request.get("Regions"):
        return [
            Target(instance.account, instance.region, instance.ou_id)
            for instance in stack_set.instances.values()
            if instance.status != INOPERABLE
        ]
    if not named or not request.get("Regions"):
        raise ValidationError(
            message="Specify Regions together with Accounts or DeploymentTargets, or neither"
        )
    return _existing(org, stack_set, request, skip_inoperable=True)


def delete_targets(org: OrgView, stack_set: StackSet, request: dict[str, Any]) -> list[Target]:
    """DeleteStackInstances: the instances among the targets; the others need no work."""
    regions = targeting.check_regions(request.get("Regions"))
    resolved = _resolve(org, stack_set, request)
    chosen: dict[tuple[str, str], Target] = {}
    for region in regions:
        for account, ou in resolved.accounts:
            instance = stack_set.instances.get((account, region))
            if instance is not None:
                chosen[(account, region)] = Target(account, region, ou or instance.ou_id)
    # Instances deployed through a targeted OU whose account has since moved out of it.
    for instance in stack_set.instances.values():
        moved = instance.ou_id in resolved.ous and instance.account not in org.accounts_under(
            instance.ou_id
        )
        if moved and instance.region in regions and instance.key not in chosen:
            chosen[instance.key] = Target(instance.account, instance.region, instance.ou_id)
    return list(chosen.values())


def _existing(
    org: OrgView, stack_set: StackSet, request: dict[str, Any], *, skip_inoperable: bool
) -> list[Target]:
    regions = targeting.check_regions(request.get("Regions"))
    resolved = _resolve(org, stack_set, request)
    found: list[Target] = []
    for region in regions:
        for account, ou in resolved.accounts:
            instance = stack_set.instances.get((account, region))
            if instance is None:
                if resolved.by_ou:
                    continue
                raise StackInstanceNotFound(stack_set.name, account, region)
            if skip_inoperable and instance.status == INOPERABLE:
                continue
            found.append(Target(account, region, ou or instance.ou_id))
    return found


def _resolve(org: OrgView, stack_set: StackSet, request: dict[str, Any]) -> targeting.Resolved:
    return targeting.resolve(
        org,
        stack_set.permission_model,
        request.get("Accounts"),
        request.get("DeploymentTargets"),
        creating=False,
    )
