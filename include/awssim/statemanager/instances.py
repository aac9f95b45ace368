"""DescribeInstanceInformation: the managed nodes of an account/Region as SSM lists them.

A node whose agent does not report is listed with PingStatus ConnectionLost and a last ping
from before the simulation started. Association fields summarize the node's latest result
for each association that targets it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from awssim.fleet import Node
from awssim.statemanager.errors import InvalidFilterKey, InvalidInstanceInformationFilterValue
from awssim.statemanager.models import FAILED, IN_PROGRESS, PENDING, SUCCESS, Association
from awssim.statemanager.views import Clock

AGENT_VERSION = "3.3.1142.0"
_ROW_KEYS = {
    "InstanceIds": "InstanceId",
    "AgentVersion": "AgentVersion",
    "PingStatus": "PingStatus",
    "PlatformTypes": "PlatformType",
    "ResourceType": "ResourceType",
    "AssociationStatus": "AssociationStatus",
    "ActivationIds": "ActivationId",
    "IamRole": "IamRole",
    "SourceIds": "SourceId",
    "SourceTypes": "SourceType",
}
_ALLOWED_VALUES = {
    "PingStatus": ("Online", "ConnectionLost", "Inactive"),
    "PlatformTypes": ("Windows", "Linux", "MacOS"),
    "ResourceType": ("ManagedInstance", "EC2Instance"),
}


def _ip_address(node: Node) -> str:
    digest = hashlib.sha256(node.instance_id.encode()).digest()
    return f"10.{digest[0]}.{digest[1]}.{max(digest[2], 4)}"


def _association_fields(
    node: Node, associations: Iterable[Association], clock: Clock
) -> dict[str, Any]:
    records = [a.nodes[node.instance_id] for a in associations if node.instance_id in a.nodes]
    if not records:
        return {}
    counts = Counter(record.status for record in records)
    if counts[FAILED]:
        status = detailed = FAILED
    elif counts[PENDING] or counts[IN_PROGRESS]:
        status, detailed = PENDING, (IN_PROGRESS if counts[IN_PROGRESS] else PENDING)
    else:
        status = detailed = SUCCESS
    fields: dict[str, Any] = {
        "AssociationStatus": status,
        "AssociationOverview": {
            "DetailedStatus": detailed,
            "InstanceAssociationStatusAggregatedCount": dict(counts),
        },
    }
    ran = [record.date for record in records if record.status in (SUCCESS, FAILED)]
    succeeded = [record.date for record in records if record.status == SUCCESS]
    if ran:
        fields["LastAssociationExecutionDate"] = clock(max(ran))
    if succeeded:
        fields["LastSuccessfulAssociationExecutionDate"] = clock(max(succeeded))
    return fields


def instance_row(
    node: Node, associations: list[Association], clock: Clock, now: float
) -> dict[str, Any]:
    """One InstanceInformation entry."""
    ip_address = _ip_address(node)
    domain = "ec2.internal" if node.region == "us-east-1" else f"{node.region}.compute.internal"
    last_ping = clock(now) if node.managed else clock(0.0) - timedelta(hours=1)
    return {
        "InstanceId": node.instance_id,
        "PingStatus": node.ping_status,
        "LastPingDateTime": last_ping,
        "AgentVersion": AGENT_VERSION,
        "IsLatestVersion": True,
        "PlatformType": node.platform_type,
        "PlatformName": node.platform_name,
        "PlatformVersion": node.platform_version,
        "ResourceType": "EC2Instance",
        "IPAddress": ip_address,
        "ComputerName": f"ip-{ip_address.replace('.', '-')}.{domain}",
        "SourceId": node.instance_id,
        "SourceType": "AWS::EC2::Instance",
        **_association_fields(node, associations, clock),
    }


def _normalize(
    filter_list: list[dict[str, Any]] | None, filters: list[dict[str, Any]] | None
) -> list[tuple[str, list[str]]]:
    wanted = [(f.get("key"), f.get("valueSet")) for f in filter_list or []]
    for string_filter in filters or []:
        wanted.append((string_filter.get("Key"), string_filter.get("Values")))
    normalized = []
    for raw_key, values in wanted:
        key = str(raw_key or "")
        if key not in _ROW_KEYS and key != "tag-key" and not key.startswith("tag:"):
            msg = f"The filter key {key} is not valid."
            raise InvalidFilterKey(msg)
        allowed = _ALLOWED_VALUES.get(key)
        if not values or any(
            not str(value) or (allowed is not None and value not in allowed) for value in values
        ):
            msg = f"The filter {key} has an invalid value in {values}."
            raise InvalidInstanceInformationFilterValue(msg)
        normalized.append((key, [str(value) for value in values]))
    return normalized


def _passes(node: Node, row: dict[str, Any], key: str, values: list[str]) -> bool:
    if key == "tag-key":
        return any(value in node.tags for value in values)
    if key.startswith("tag:"):
        return node.tags.get(key[len("tag:") :]) in values
    return str(row.get(_ROW_KEYS[key], "")) in values


def describe_instances(
    nodes: list[Node],
    associations: list[Association],
    *,
    filter_list: list[dict[str, Any]] | None,
    filters: list[dict[str, Any]] | None,
    clock: Clock,
    now: float,
) -> list[dict[str, Any]]:
    """The InstanceInformation entries that pass every filter."""
    wanted = _normalize(filter_list, filters)
    rows = []
    for node in nodes:
        row = instance_row(node, associations, clock, now)
        if all(_passes(node, row, key, values) for key, values in wanted):
            rows.append(row)
    return rows
