"""Association compliance, as State Manager reports it for associations with SyncCompliance AUTO.

Every targeted node that has reported a result for the association's current version has
one item: Id the association id, Title its name, COMPLIANT for Success and NON_COMPLIANT for
Failed, Severity the association's ComplianceSeverity. A node that has not reported (Pending,
or an agent that never reports) has no item, and deleting the association removes its items.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from awssim.statemanager.errors import InvalidFilter
from awssim.statemanager.models import SUCCESS, TERMINAL, Association, NodeRecord
from awssim.statemanager.views import Clock

COMPLIANT = "COMPLIANT"
NON_COMPLIANT = "NON_COMPLIANT"
# Highest first: a resource's OverallSeverity is the highest severity among its items.
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNSPECIFIED")
_SEVERITY_KEYS = {severity: f"{severity.capitalize()}Count" for severity in SEVERITIES}
Row = dict[str, Any]


class ItemState(NamedTuple):
    """One association compliance item of a node, as a comparable value: what AWS Config's
    change detection (``awssim.configservice``) compares and what its items record."""

    association_id: str
    title: str
    status: str
    severity: str
    execution_id: str
    execution_time: float  # simulated seconds
    document: str
    document_version: str


def _state(association: Association, record: NodeRecord) -> ItemState | None:
    """The item a node's record gives it (None: no item: MANUAL sync, or no result yet)."""
    settings = association.settings
    if settings.sync_compliance == "MANUAL" or record.status not in TERMINAL:
        return None
    return ItemState(
        association.id,
        association.title,
        COMPLIANT if record.status == SUCCESS else NON_COMPLIANT,
        settings.compliance_severity or "UNSPECIFIED",
        record.output_id or record.execution_id or "",
        record.date,
        settings.document,
        record.document_version or "1",
    )


def node_state(associations: Iterable[Association], instance_id: str) -> tuple[ItemState, ...]:
    """Every association compliance item of one node, by association id (empty: none)."""
    found = []
    for association in associations:
        record = association.nodes.get(instance_id)
        state = None if record is None else _state(association, record)
        if state is not None:
            found.append(state)
    return tuple(sorted(found))


def item_row(instance_id: str, state: ItemState, clock: Clock) -> Row:
    """A compliance item as ListComplianceItems answers it."""
    return {
        "ComplianceType": "Association",
        "ResourceType": "ManagedInstance",
        "ResourceId": instance_id,
        "Id": state.association_id,
        "Title": state.title,
        "Status": state.status,
        "Severity": state.severity,
        "ExecutionSummary": {
            "ExecutionTime": clock(state.execution_time),
            "ExecutionId": state.execution_id,
            "ExecutionType": "Command",
        },
        "Details": {"DocumentName": state.document, "DocumentVersion": state.document_version},
    }


def items(associations: Iterable[Association], clock: Clock) -> list[Row]:
    """Every association compliance item of an account/Region, by resource."""
    found = []
    for association in associations:
        for instance_id, record in association.nodes.items():
            state = _state(association, record)
            if state is not None:
                found.append(item_row(instance_id, state, clock))
    return sorted(found, key=lambda item: (item["ResourceId"], item["Id"]))


def _severity_summary(severities: Iterable[str]) -> dict[str, int]:
    summary = dict.fromkeys(_SEVERITY_KEYS.values(), 0)
    for severity in severities:
        summary[_SEVERITY_KEYS[severity]] += 1
    return summary


def _highest(severities: Iterable[str]) -> str:
    present = set(severities)
    return next((severity for severity in SEVERITIES if severity in present), "UNSPECIFIED")


def resource_summaries(found: Iterable[Row]) -> list[Row]:
    """Per resource and compliance type: status, overall severity and item counts."""
    groups: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for item in found:
        groups[(item["ResourceId"], item["ResourceType"], item["ComplianceType"])].append(item)
    summaries = []
    for (resource_id, resource_type, compliance_type), group in sorted(groups.items()):
        compliant = [item["Severity"] for item in group if item["Status"] == COMPLIANT]
        failing = [item["Severity"] for item in group if item["Status"] == NON_COMPLIANT]
        latest = max(group, key=lambda item: item["ExecutionSummary"]["ExecutionTime"])
        summaries.append(
            {
                "ComplianceType": compliance_type,
                "ResourceType": resource_type,
                "ResourceId": resource_id,
                "Status": NON_COMPLIANT if failing else COMPLIANT,
                "OverallSeverity": _highest(failing or compliant),
                "ExecutionSummary": latest["ExecutionSummary"],
                "CompliantSummary": {
                    "CompliantCount": len(compliant),
                    "SeveritySummary": _severity_summary(compliant),
                },
                "NonCompliantSummary": {
                    "NonCompliantCount": len(failing),
                    "SeveritySummary": _severity_summary(failing),
                },
            }
        )
    return summaries


def compliance_summaries(resources: Iterable[Row]) -> list[Row]:
    """Per compliance type: how many resources are compliant and non-compliant, by severity."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for resource in resources:
        groups[resource["ComplianceType"]].append(resource)
    summaries = []
    for compliance_type, group in sorted(groups.items()):
        compliant = [r["OverallSeverity"] for r in group if r["Status"] == COMPLIANT]
        failing = [r["OverallSeverity"] for r in group if r["Status"] == NON_COMPLIANT]
        summaries.append(
            {
                "ComplianceType": compliance_type,
                "CompliantSummary": {
                    "CompliantCount": len(compliant),
                    "SeveritySummary": _severity_summary(compliant),
                },
                "NonCompliantSummary": {
                    "NonCompliantCount": len(failing),
                    "SeveritySummary": _severity_summary(failing),
                },
            }
        )
    return summaries


ITEM_FILTERS: dict[str, Callable[[Row], str]] = {
    "ComplianceType": lambda row: row["ComplianceType"],
    "Status": lambda row: row["Status"],
    "Severity": lambda row: row["Severity"],
    "Id": lambda row: row["Id"],
    "Title": lambda row: row["Title"],
    "ExecutionId": lambda row: row["ExecutionSummary"]["ExecutionId"],
    "ResourceId": lambda row: row["ResourceId"],
    "ResourceType": lambda row: row["ResourceType"],
}
RESOURCE_FILTERS: dict[str, Callable[[Row], str]] = {
    "ComplianceType": lambda row: row["ComplianceType"],
    "Status": lambda row: row["Status"],
    "OverallSeverity": lambda row: row["OverallSeverity"],
    "ResourceId": lambda row: row["ResourceId"],
    "ResourceType": lambda row: row["ResourceType"],
}
SUMMARY_FILTERS = {
    key: RESOURCE_FILTERS[key] for key in ("ComplianceType", "ResourceId", "ResourceType")
}


def _passes(actual: str, values: list[str], operator: str) -> bool:
    if operator == "EQUAL":
        return actual in values
    if operator == "NOT_EQUAL":
        return actual not in values
    if operator == "BEGIN_WITH":
        return any(actual.startswith(value) for value in values)
    if operator == "LESS_THAN":
        return all(actual < value for value in values)
    return all(actual > value for value in values)


def apply_filters(
    rows: list[Row], filters: list[dict[str, Any]] | None, keys: dict[str, Callable[[Row], str]]
) -> list[Row]:
    """Rows that pass every ComplianceStringFilter; raises InvalidFilter for unknown keys."""
    for compliance_filter in filters or []:
        key = compliance_filter.get("Key")
        values = [str(value) for value in compliance_filter.get("Values") or []]
        operator = compliance_filter.get("Type") or "EQUAL"
        if key not in keys or not values:
            msg = f"Filter key {key} is not supported, or the filter has no values."
            raise InvalidFilter(msg)
        rows = [row for row in rows if _passes(keys[key](row), values, operator)]
    return rows
