"""DescribeInstanceInformation: the managed nodes of an account/Region as SSM lists them.

PingStatus and LastPingDateTime are read as of the call: an agent that is offline now is
ConnectionLost with its last ping when it went offline (an hour before the simulation for
one that never reports); an online agent pinged just now. Association fields summarize the
node's latest result for each association that targets it.

Filters are checked as SSM checks them: ``InstanceInformationFilterList`` (legacy) and
``Filters`` may not be used together, and a tag filter (``tag:<key>``, ``tag-key``) may not
be combined with any other filter ("Tag filters can't be combined with other filter types";
ValidationException "Cannot mix tag or inventory filter with any other filter."). Values of
one filter are alternatives; separate filters must all pass.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

from awssim.fleet import Node
from awssim.statemanager.errors import (
    InvalidFilterKey,
    InvalidInstanceInformationFilterValue,
    ValidationException,
)
from awssim.statemanager.models import (
    FAILED,
    IN_PROGRESS,
    PENDING,
    SKIPPED,
    SUCCESS,
    Association,
)
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
# InstanceInformationFilterKey: the legacy list's keys (no Source*, no tags).
_LEGACY_KEYS = frozenset(_ROW_KEYS) - {"SourceIds", "SourceTypes"}
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
    elif counts[PENDING] or counts[IN_PROGRESS] or counts[SKIPPED]:
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
    return {
        "InstanceId": node.instance_id,
        "PingStatus": node.ping_status(now),
        "LastPingDateTime": clock(node.last_ping(now)),
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


def _is_tag(key: str) -> bool:
    return key == "tag-key" or key.startswith("tag:")


def _normalize(
    filter_list: list[dict[str, Any]] | None, filters: list[dict[str, Any]] | None
) -> list[tuple[str, list[str]]]:
    if filter_list and filters:
        msg = "Cannot use both legacy and new filter simultaneously."
        raise ValidationException(msg)
    wanted = [(f.get("key"), f.get("valueSet"), False) for f in filter_list or []]
    for string_filter in filters or []:
        wanted.append((string_filter.get("Key"), string_filter.get("Values"), True))
    if len(wanted) > 1 and any(_is_tag(str(key or "")) for key, _values, _new in wanted):
        msg = "Cannot mix tag or inventory filter with any other filter."
        raise ValidationException(msg)
    normalized = []
    for raw_key, values, new_style in wanted:
        key = str(raw_key or "")
        # The legacy list's keys are an enum without tags; Filters also take tag keys.
        known = (key in _ROW_KEYS or _is_tag(key)) if new_style else key in _LEGACY_KEYS
        if not known:
            msg = f"The filter key {key} is not valid."
            raise InvalidFilterKey(msg)
        allowed = _ALLOWED_VALUES.get(key)
        if not values or any(
            not str(value) or (allowed is not None and value not in allowed) for value in values
        ):
            msg = f"The filter {key} has an invalid value in {values}."
            raise InvalidInstanceInformationFilterValue(msg)
        if key == "ResourceType" and len(values) > 1:
            msg = "ResourceType filter may contain only one value."
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
