"""Associations and executions in the shapes of SSM's API (botocore's output shapes).

Timestamps are datetimes; moto's serializer writes them as the JSON protocol expects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from awssim.statemanager.models import (
    CANCELLED,
    FAILED,
    IN_PROGRESS,
    PENDING,
    SKIPPED,
    SUCCESS,
    Association,
    Execution,
    Settings,
    TargetRun,
    Version,
)

Clock = Callable[[float], datetime]
# The order AWS's ResourceCountByStatus strings list statuses in awssim.
_COUNT_ORDER = (SUCCESS, FAILED, IN_PROGRESS, PENDING, SKIPPED, CANCELLED)


def overview_status(association: Association) -> tuple[str, str, dict[str, int]]:
    """(Status, DetailedStatus, counts by status) over the targets' latest results.

    Failed when any target failed; Success when every target succeeded (after a run);
    otherwise (nodes not run yet, running, or skipped by a run stopped at MaxErrors)
    Pending, detailed as AWS does: Creating until a node of the current version has
    started, then InProgress while nodes run.
    """
    counts = Counter(record.status for record in association.nodes.values())
    ran = any(execution.done for execution in association.executions)
    if counts[FAILED]:
        return FAILED, FAILED, _nonzero(counts)
    if not (counts[PENDING] or counts[IN_PROGRESS] or counts[SKIPPED] or not ran):
        return SUCCESS, SUCCESS, _nonzero(counts)
    if counts[IN_PROGRESS]:
        detailed = IN_PROGRESS
    elif counts[SUCCESS]:
        detailed = PENDING
    else:
        detailed = "Creating"
    return PENDING, detailed, _nonzero(counts)


def _nonzero(counts: Counter[str]) -> dict[str, int]:
    return {status: count for status, count in counts.items() if count}


def overview(association: Association) -> dict[str, Any]:
    """The AssociationOverview structure."""
    status, detailed, counts = overview_status(association)
    return {
        "Status": status,
        "DetailedStatus": detailed,
        "AssociationStatusAggregatedCount": counts,
    }


def _settings_fields(settings: Settings) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "Name": settings.document,
        "DocumentVersion": settings.document_version,
        "Parameters": settings.parameters,
        "Targets": settings.targets,
        "ApplyOnlyAtCronInterval": settings.apply_only_at_cron_interval,
    }
    optional = {
        "InstanceId": settings.instance_id,
        "ScheduleExpression": settings.schedule,
        "AssociationName": settings.association_name,
        "OutputLocation": settings.output_location,
        "MaxConcurrency": settings.max_concurrency,
        "MaxErrors": settings.max_errors,
        "ComplianceSeverity": settings.compliance_severity,
        "SyncCompliance": settings.sync_compliance,
        "CalendarNames": settings.calendar_names,
        "ScheduleOffset": settings.schedule_offset,
        "Duration": settings.duration,
    }
    fields.update({key: value for key, value in optional.items() if value is not None})
    return fields


def description(association: Association, version: Version, clock: Clock) -> dict[str, Any]:
    """AssociationDescription of one version (with the association's current overview)."""
    fields = {
        **_settings_fields(version.settings),
        "AssociationId": association.id,
        "AssociationVersion": str(version.number),
        "Date": clock(association.created),
        "LastUpdateAssociationDate": clock(association.updated),
        "Overview": overview(association),
    }
    if association.last_execution is not None:
        fields["LastExecutionDate"] = clock(association.last_execution)
    if association.last_success is not None:
        fields["LastSuccessfulExecutionDate"] = clock(association.last_success)
    return fields


def list_item(association: Association, clock: Clock) -> dict[str, Any]:
    """An entry of ListAssociations."""
    settings = association.settings
    item: dict[str, Any] = {
        "Name": settings.document,
        "AssociationId": association.id,
        "AssociationVersion": str(association.latest.number),
        "DocumentVersion": settings.document_version,
        "Targets": settings.targets,
        "Overview": overview(association),
    }
    optional = {
        "InstanceId": settings.instance_id,
        "ScheduleExpression": settings.schedule,
        "AssociationName": settings.association_name,
        "ScheduleOffset": settings.schedule_offset,
        "Duration": settings.duration,
    }
    item.update({key: value for key, value in optional.items() if value is not None})
    if association.last_execution is not None:
        item["LastExecutionDate"] = clock(association.last_execution)
    return item


def version_item(association: Association, version: Version, clock: Clock) -> dict[str, Any]:
    """An entry of ListAssociationVersions."""
    fields = _settings_fields(version.settings)
    fields.pop("InstanceId", None)
    return {
        **fields,
        "AssociationId": association.id,
        "AssociationVersion": str(version.number),
        "CreatedDate": clock(version.created),
    }


def resource_counts(execution: Execution) -> str:
    """ResourceCountByStatus as AWS writes it, e.g. ``{Success=3, Failed=1}``."""
    counts = Counter(run.status for run in execution.targets.values())
    parts = [f"{status}={counts[status]}" for status in _COUNT_ORDER if counts[status]]
    return "{" + ", ".join(parts) + "}"


def execution_item(association: Association, execution: Execution, clock: Clock) -> dict[str, Any]:
    """An entry of DescribeAssociationExecutions."""
    item = {
        "AssociationId": association.id,
        "AssociationVersion": str(execution.version),
        "ExecutionId": execution.id,
        "Status": execution.status,
        "DetailedStatus": execution.status,
        "CreatedTime": clock(execution.created),
        "ResourceCountByStatus": resource_counts(execution),
    }
    dates = [run.date for run in execution.targets.values() if run.date is not None]
    if execution.finished is not None or dates:
        item["LastExecutionDate"] = clock(max([*dates, execution.finished or 0.0]))
    return item


def target_item(
    association: Association, execution: Execution, run: TargetRun, clock: Clock
) -> dict[str, Any]:
    """An entry of DescribeAssociationExecutionTargets."""
    item: dict[str, Any] = {
        "AssociationId": association.id,
        "AssociationVersion": str(execution.version),
        "ExecutionId": execution.id,
        "ResourceId": run.instance_id,
        "ResourceType": "ManagedInstance",
        "Status": run.status,
        "DetailedStatus": run.status,
    }
    if run.date is not None:
        item["LastExecutionDate"] = clock(run.date)
    if run.output_id is not None:
        item["OutputSource"] = {"OutputSourceId": run.output_id, "OutputSourceType": "RunCommand"}
    return item
