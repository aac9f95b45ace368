"""The State Manager, instance information and compliance operations, as moto handlers.

``install`` adds these functions to moto's ``SimpleSystemManagerResponse`` under the
snake_case names moto dispatches SSM actions to. Each acts in the caller's account and
Region and answers in the operation's botocore output shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.ssm.responses import SimpleSystemManagerResponse

from awssim import runtime
from awssim.fleet import Node
from awssim.statemanager import compliance
from awssim.statemanager.errors import (
    AssociationExecutionDoesNotExist,
    InvalidAssociationVersion,
    ValidationException,
)
from awssim.statemanager.instances import describe_instances
from awssim.statemanager.manager import StateManager
from awssim.statemanager.models import Association, Execution
from awssim.statemanager.paging import page
from awssim.statemanager.settings import FIELDS
from awssim.statemanager.targets import targets_node
from awssim.statemanager.views import (
    Clock,
    description,
    execution_item,
    list_item,
    overview_status,
    target_item,
    version_item,
)

Response = SimpleSystemManagerResponse


def _body(response: Response) -> dict[str, Any]:
    try:
        data = json.loads(response.body or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _context(response: Response) -> tuple[StateManager, str, str, Clock]:
    sim = runtime.current()
    return sim.statemanager, response.current_account, response.region, sim.clock.at


def _timestamp(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except ValueError:
            msg = f"The filter value {value} is not a valid timestamp."
            raise ValidationException(msg) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _paged(
    member: str, rows: list[Any], call: str, body: dict[str, Any], **options: Any
) -> ActionResult:
    """One page of ``rows`` under ``member``, with NextToken when more follow."""
    chunk, token = page(rows, call, body.get("MaxResults"), body.get("NextToken"), **options)
    result: dict[str, Any] = {member: chunk}
    if token:
        result["NextToken"] = token
    return ActionResult(result)


# --- associations -----------------------------------------------------------------------
def create_association(self: Response) -> ActionResult:
    """CreateAssociation."""
    manager, account, region, clock = _context(self)
    association = manager.create(account, region, _body(self))
    return ActionResult(
        {"AssociationDescription": description(association, association.latest, clock)}
    )


def update_association(self: Response) -> ActionResult:
    """UpdateAssociation: members present in the request change; the rest is kept."""
    manager, account, region, clock = _context(self)
    body = _body(self)
    changes = {key: value for key, value in body.items() if key in FIELDS}
    association = manager.update(
        account, region, body.get("AssociationId", ""), changes, body.get("AssociationVersion")
    )
    return ActionResult(
        {"AssociationDescription": description(association, association.latest, clock)}
    )


def delete_association(self: Response) -> ActionResult:
    """DeleteAssociation (by id, or by document name and instance)."""
    manager, account, region, _clock = _context(self)
    body = _body(self)
    manager.delete(
        manager.find(
            account, region, body.get("AssociationId"), body.get("Name"), body.get("InstanceId")
        )
    )
    return ActionResult({})


def describe_association(self: Response) -> ActionResult:
    """DescribeAssociation, of the latest or a given association version."""
    manager, account, region, clock = _context(self)
    body = _body(self)
    association = manager.find(
        account, region, body.get("AssociationId"), body.get("Name"), body.get("InstanceId")
    )
    wanted = body.get("AssociationVersion")
    version = association.latest
    if wanted not in (None, "", "$LATEST"):
        found = association.version(int(wanted)) if str(wanted).isdigit() else None
        if found is None:
            msg = f"Association version {wanted} does not exist."
            raise InvalidAssociationVersion(msg)
        version = found
    return ActionResult({"AssociationDescription": description(association, version, clock)})


def _association_filter(
    key: str, value: str, here: dict[str, Node], clock: Clock
) -> Callable[[Association], bool]:
    """A test for one AssociationFilter; ``here`` are the nodes of the caller's account/Region."""
    if key == "InstanceId":
        node = here.get(value)

        def targets_instance(association: Association) -> bool:
            return association.settings.instance_id == value or (
                node is not None and targets_node(node, association.settings.targets)
            )

        return targets_instance
    if key in ("LastExecutedBefore", "LastExecutedAfter"):
        moment = _timestamp(value)
        before = key == "LastExecutedBefore"

        def executed(association: Association) -> bool:
            if association.last_execution is None:
                return False
            last = clock(association.last_execution)
            return last < moment if before else last > moment

        return executed
    getters: dict[str, Callable[[Association], str | None]] = {
        "Name": lambda a: a.settings.document,
        "AssociationId": lambda a: a.id,
        "AssociationName": lambda a: a.settings.association_name,
        "AssociationStatusName": lambda a: overview_status(a)[0],
        "ResourceGroupName": lambda _a: None,
        "CloudConnectorId": lambda _a: None,
    }
    if key not in getters:
        msg = f"The association filter key {key} is not valid."
        raise ValidationException(msg)
    return lambda association: getters[key](association) == value


def list_associations(self: Response) -> ActionResult:
    """ListAssociations, with AssociationFilterList (all filters must match) and paging."""
    manager, account, region, clock = _context(self)
    body = _body(self)
    here = {node.instance_id: node for node in runtime.current().fleet.nodes(account, region)}
    rows = manager.associations(account, region)
    for association_filter in body.get("AssociationFilterList") or []:
        key, value = str(association_filter.get("key")), str(association_filter.get("value"))
        test = _association_filter(key, value, here, clock)
        rows = [association for association in rows if test(association)]
    return _paged("Associations", [list_item(a, clock) for a in rows], "ListAssociations", body)


def list_association_versions(self: Response) -> ActionResult:
    """ListAssociationVersions, oldest first."""
    manager, account, region, clock = _context(self)
    body = _body(self)
    association = manager.get(account, region, body.get("AssociationId"))
    return _paged(
        "AssociationVersions",
        [version_item(association, v, clock) for v in association.versions],
        "ListAssociationVersions",
        body,
    )


def _execution_passes(execution: Execution, clock: Clock, execution_filter: dict[str, Any]) -> bool:
    key, value = execution_filter.get("Key"), str(execution_filter.get("Value"))
    operator = execution_filter.get("Type") or "EQUAL"
    if key == "CreatedTime":
        created, moment = clock(execution.created), _timestamp(value)
        return {
            "EQUAL": created == moment,
            "LESS_THAN": created < moment,
            "GREATER_THAN": created > moment,
        }.get(operator, False)
    if operator != "EQUAL" or key not in ("ExecutionId", "Status"):
        msg = f"The filter {key} supports only EQUAL."
        raise ValidationException(msg)
    return (execution.id if key == "ExecutionId" else execution.status) == value


def describe_association_executions(self: Response) -> ActionResult:
    """DescribeAssociationExecutions, newest first, with filters and paging."""
    manager, account, region, clock = _context(self)
    body = _body(self)
    association = manager.get(account, region, body.get("AssociationId"))
    rows = list(reversed(association.executions))
    for execution_filter in body.get("Filters") or []:
        rows = [e for e in rows if _execution_passes(e, clock, execution_filter)]
    return _paged(
        "AssociationExecutions",
        [execution_item(association, e, clock) for e in rows],
        "DescribeAssociationExecutions",
        body,
    )


def describe_association_execution_targets(self: Response) -> ActionResult:
    """DescribeAssociationExecutionTargets, with Status/ResourceId/ResourceType filters."""
    manager, account, region, clock = _context(self)
    body = _body(self)
    association = manager.get(account, region, body.get("AssociationId"))
    execution = next((e for e in association.executions if e.id == body.get("ExecutionId")), None)
    if execution is None:
        msg = f"Execution {body.get('ExecutionId')} of association {association.id} does not exist."
        raise AssociationExecutionDoesNotExist(msg)
    rows = [target_item(association, execution, run, clock) for run in execution.targets.values()]
    for target_filter in body.get("Filters") or []:
        key, value = target_filter.get("Key"), str(target_filter.get("Value"))
        if key not in ("Status", "ResourceId", "ResourceType"):
            msg = f"The filter key {key} is not valid."
            raise ValidationException(msg)
        rows = [row for row in rows if row[key] == value]
    return _paged("AssociationExecutionTargets", rows, "DescribeAssociationExecutionTargets", body)


def start_associations_once(self: Response) -> ActionResult:
    """StartAssociationsOnce."""
    manager, account, region, _clock = _context(self)
    manager.start_once(account, region, list(_body(self).get("AssociationIds") or []))
    return ActionResult({})


# --- instances and compliance -----------------------------------------------------------
def describe_instance_information(self: Response) -> ActionResult:
    """DescribeInstanceInformation, with both filter styles and paging."""
    manager, account, region, clock = _context(self)
    body = _body(self)
    sim = runtime.current()
    rows = describe_instances(
        sim.fleet.nodes(account, region),
        manager.associations(account, region),
        filter_list=body.get("InstanceInformationFilterList"),
        filters=body.get("Filters"),
        clock=clock,
        now=sim.now(),
    )
    return _paged(
        "InstanceInformationList",
        rows,
        "DescribeInstanceInformation",
        body,
        bounds=(5, 50),
        default=10,
    )


def _items(response: Response) -> list[dict[str, Any]]:
    manager, account, region, clock = _context(response)
    return compliance.items(manager.associations(account, region), clock)


def list_compliance_items(self: Response) -> ActionResult:
    """ListComplianceItems (association compliance of the caller's managed nodes)."""
    body = _body(self)
    rows = _items(self)
    if body.get("ResourceIds"):
        rows = [row for row in rows if row["ResourceId"] in body["ResourceIds"]]
    if body.get("ResourceTypes"):
        rows = [row for row in rows if row["ResourceType"] in body["ResourceTypes"]]
    rows = compliance.apply_filters(rows, body.get("Filters"), compliance.ITEM_FILTERS)
    return _paged("ComplianceItems", rows, "ListComplianceItems", body, default=10)


def list_resource_compliance_summaries(self: Response) -> ActionResult:
    """ListResourceComplianceSummaries."""
    body = _body(self)
    rows = compliance.resource_summaries(_items(self))
    rows = compliance.apply_filters(rows, body.get("Filters"), compliance.RESOURCE_FILTERS)
    return _paged(
        "ResourceComplianceSummaryItems", rows, "ListResourceComplianceSummaries", body, default=10
    )


def list_compliance_summaries(self: Response) -> ActionResult:
    """ListComplianceSummaries."""
    body = _body(self)
    resources = compliance.resource_summaries(_items(self))
    resources = compliance.apply_filters(resources, body.get("Filters"), compliance.SUMMARY_FILTERS)
    rows = compliance.compliance_summaries(resources)
    return _paged("ComplianceSummaryItems", rows, "ListComplianceSummaries", body, default=10)


HANDLERS: dict[str, Callable[[Response], ActionResult]] = {
    handler.__name__: handler
    for handler in (
        create_association,
        update_association,
        delete_association,
        describe_association,
        list_associations,
        list_association_versions,
        describe_association_executions,
        describe_association_execution_targets,
        start_associations_once,
        describe_instance_information,
        list_compliance_items,
        list_resource_compliance_summaries,
        list_compliance_summaries,
    )
}


def install_handlers() -> None:
    """Add the handlers to moto's SSM responses (idempotent)."""
    for name, handler in HANDLERS.items():
        setattr(SimpleSystemManagerResponse, name, handler)
