"""The StackSets actions of moto's CloudFormationResponse, answered by awssim's engine.

``install()`` replaces moto's fourteen stack set handlers and adds the three of trusted access
with Organizations (``org_access``), which moto lacks; every other CloudFormation action
(stacks, change sets...) stays moto's. Handlers run under the simulator's lock, after the
events that came due, like every request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult, EmptyResult

from awssim import runtime
from awssim.stacksets import shapes, template_cache
from awssim.stacksets.engine import Caller, StackSetEngine
from awssim.stacksets.errors import StackInstanceNotFound, ValidationError

Handler = Callable[[CloudFormationResponse], ActionResult]
_installed = False


def _context(response: CloudFormationResponse) -> tuple[StackSetEngine, Caller]:
    engine = runtime.current().stacksets
    caller = engine.caller(response.current_account, response.region, response._get_param("CallAs"))
    return engine, caller


def _request(response: CloudFormationResponse) -> dict[str, Any]:
    return dict(response._get_params())


def _page(
    response: CloudFormationResponse,
    items: list[Any],
    shape: Callable[[Any], dict[str, Any]] = lambda item: item,
) -> tuple[list[Any], str | None]:
    """One page of ``items``, each shaped by ``shape`` (NextToken is the offset of the next
    page). Only the page's items are shaped: a list of thousands is read a page at a time."""
    token = response._get_param("NextToken")
    size = int(response._get_param("MaxResults") or 100)
    try:
        start = int(token) if token else 0
    except ValueError:
        raise ValidationError(message=f"Invalid NextToken: {token}") from None
    end = start + size
    return [shape(item) for item in items[start:end]], (str(end) if end < len(items) else None)


def create_stack_set(self: CloudFormationResponse) -> ActionResult:
    """CreateStackSet."""
    engine, caller = _context(self)
    created = engine.create_stack_set(caller, _request(self))
    return ActionResult({"StackSetId": created.stack_set_id})


def describe_stack_set(self: CloudFormationResponse) -> ActionResult:
    """DescribeStackSet."""
    engine, caller = _context(self)
    found = engine.find(caller, self._get_param("StackSetName"))
    return ActionResult({"StackSet": shapes.stack_set(found)})


def update_stack_set(self: CloudFormationResponse) -> ActionResult:
    """UpdateStackSet."""
    engine, caller = _context(self)
    op = engine.update_stack_set(caller, _request(self))
    return ActionResult({"OperationId": op.operation_id})


def delete_stack_set(self: CloudFormationResponse) -> ActionResult:
    """DeleteStackSet."""
    engine, caller = _context(self)
    engine.delete_stack_set(caller, self._get_param("StackSetName"))
    return EmptyResult()


def list_stack_sets(self: CloudFormationResponse) -> ActionResult:
    """ListStackSets."""
    engine, caller = _context(self)
    found = engine.stack_sets(caller, self._get_param("Status"))
    page, token = _page(self, [shapes.stack_set_summary(item) for item in found])
    return ActionResult({"Summaries": page, "NextToken": token})


def create_stack_instances(self: CloudFormationResponse) -> ActionResult:
    """CreateStackInstances."""
    engine, caller = _context(self)
    op = engine.create_stack_instances(caller, _request(self))
    return ActionResult({"OperationId": op.operation_id})


def update_stack_instances(self: CloudFormationResponse) -> ActionResult:
    """UpdateStackInstances."""
    engine, caller = _context(self)
    op = engine.update_stack_instances(caller, _request(self))
    return ActionResult({"OperationId": op.operation_id})


def delete_stack_instances(self: CloudFormationResponse) -> ActionResult:
    """DeleteStackInstances."""
    engine, caller = _context(self)
    op = engine.delete_stack_instances(caller, _request(self))
    return ActionResult({"OperationId": op.operation_id})


def describe_stack_instance(self: CloudFormationResponse) -> ActionResult:
    """DescribeStackInstance."""
    engine, caller = _context(self)
    owner = engine.find(caller, self._get_param("StackSetName"))
    account = str(self._get_param("StackInstanceAccount"))
    region = str(self._get_param("StackInstanceRegion"))
    instance = owner.instances.get((account, region))
    if instance is None:
        raise StackInstanceNotFound(owner.name, account, region)
    return ActionResult({"StackInstance": shapes.stack_instance(owner, instance)})


def list_stack_instances(self: CloudFormationResponse) -> ActionResult:
    """ListStackInstances, with its account, Region and status filters."""
    engine, caller = _context(self)
    owner = engine.find(caller, self._get_param("StackSetName"))
    account = self._get_param("StackInstanceAccount")
    region = self._get_param("StackInstanceRegion")
    filters = {f.get("Name"): f.get("Values") for f in self._get_param("Filters") or []}
    found = [
        instance
        for instance in owner.instances.values()
        if account in {None, instance.account}
        and region in {None, instance.region}
        and filters.get("DETAILED_STATUS") in {None, instance.detailed_status}
        and filters.get("LAST_OPERATION_ID") in {None, instance.last_operation_id}
        and filters.get("DRIFT_STATUS") in {None, "NOT_CHECKED"}
    ]
    page, token = _page(self, found, lambda item: shapes.stack_instance_summary(owner, item))
    return ActionResult({"Summaries": page, "NextToken": token})


def describe_stack_set_operation(self: CloudFormationResponse) -> ActionResult:
    """DescribeStackSetOperation."""
    engine, caller = _context(self)
    name = self._get_param("StackSetName")
    op = engine.operation(caller, name, self._get_param("OperationId"))
    owner = engine.find(caller, name)
    at = runtime.current().clock.at
    return ActionResult({"StackSetOperation": shapes.operation(owner, op, at)})


def list_stack_set_operations(self: CloudFormationResponse) -> ActionResult:
    """ListStackSetOperations, newest first."""
    engine, caller = _context(self)
    owner = engine.find(caller, self._get_param("StackSetName"))
    at = runtime.current().clock.at
    newest_first = list(reversed(owner.operations))
    page, token = _page(self, newest_first, lambda op: shapes.operation_summary(op, at))
    return ActionResult({"Summaries": page, "NextToken": token})


def list_stack_set_operation_results(self: CloudFormationResponse) -> ActionResult:
    """ListStackSetOperationResults, one per account/Region, with the status filter."""
    engine, caller = _context(self)
    op = engine.operation(caller, self._get_param("StackSetName"), self._get_param("OperationId"))
    wanted = {f.get("Values") for f in self._get_param("Filters") or []}
    found = [target for target in op.targets if not wanted or target.status in wanted]
    page, token = _page(self, found, shapes.operation_result)
    return ActionResult({"Summaries": page, "NextToken": token})


def stop_stack_set_operation(self: CloudFormationResponse) -> ActionResult:
    """StopStackSetOperation."""
    engine, caller = _context(self)
    engine.stop_operation(caller, self._get_param("StackSetName"), self._get_param("OperationId"))
    return EmptyResult()


def describe_organizations_access(self: CloudFormationResponse) -> ActionResult:
    """DescribeOrganizationsAccess: ENABLED or DISABLED, for the caller's CallAs."""
    engine, caller = _context(self)
    return ActionResult({"Status": engine.organizations_access.describe(caller)})


def activate_organizations_access(self: CloudFormationResponse) -> ActionResult:
    """ActivateOrganizationsAccess (the management account only)."""
    runtime.current().stacksets.organizations_access.activate(self.current_account)
    return EmptyResult()


def deactivate_organizations_access(self: CloudFormationResponse) -> ActionResult:
    """DeactivateOrganizationsAccess (the management account only)."""
    runtime.current().stacksets.organizations_access.deactivate(self.current_account)
    return EmptyResult()


HANDLERS: dict[str, Handler] = {
    "create_stack_set": create_stack_set,
    "describe_stack_set": describe_stack_set,
    "update_stack_set": update_stack_set,
    "delete_stack_set": delete_stack_set,
    "list_stack_sets": list_stack_sets,
    "create_stack_instances": create_stack_instances,
    "update_stack_instances": update_stack_instances,
    "delete_stack_instances": delete_stack_instances,
    "describe_stack_instance": describe_stack_instance,
    "list_stack_instances": list_stack_instances,
    "describe_stack_set_operation": describe_stack_set_operation,
    "list_stack_set_operations": list_stack_set_operations,
    "list_stack_set_operation_results": list_stack_set_operation_results,
    "stop_stack_set_operation": stop_stack_set_operation,
    "describe_organizations_access": describe_organizations_access,
    "activate_organizations_access": activate_organizations_access,
    "deactivate_organizations_access": deactivate_organizations_access,
}


def install() -> None:
    """Replace moto's stack set handlers with awssim's (idempotent)."""
    global _installed  # noqa: PLW0603 - one set of patches per process
    if _installed:
        return
    for name, handler in HANDLERS.items():
        setattr(CloudFormationResponse, name, handler)
    template_cache.install()
    _installed = True
