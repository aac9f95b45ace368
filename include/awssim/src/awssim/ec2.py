"""EC2 over the simulated organization: DescribeInstances lists the fleet, DescribeRegions
its Regions' opt-in status.

moto's own EC2 backend knows nothing of the fleet, so ``install`` replaces its
DescribeInstances handler with one that lists the fleet's nodes of the caller's account
and Region (one instance per reservation), whether or not their SSM Agent reports: EC2
knows an instance, not its agent. Instances launched through moto's RunInstances are not
listed; awssim's EC2 world is the fleet.

Requests are checked as EC2 checks them (botocore's ``DescribeInstancesRequest``):
``InstanceIds`` may not be combined with ``MaxResults`` (5-1000), unknown ids are
``InvalidInstanceID.NotFound``, a call may carry at most 200 filter values in all
(``FilterLimitExceeded``), values of one filter are alternatives and filters must all
pass. Filters: ``instance-id``, ``tag:<key>``, ``tag-key``, ``instance-state-name`` and
``architecture``; any other name is ``InvalidParameterValue``.

DescribeRegions answers for the commercial partition's Regions (moto's list mixes in GovCloud
and China and calls af-south-1, ap-southeast-3 and eu-south-1 opt-in-not-required). A
Region AWS enables by default is ``opt-in-not-required``; an opt-in Region
(``OPT_IN_REGIONS``) is ``opted-in`` when the org file lists it among its Regions (its
accounts run nodes there) and ``not-opted-in`` otherwise. Without ``AllRegions`` only the
enabled Regions are listed; ``RegionNames`` are answered whatever their status, as the API
reference says; filters ``region-name``, ``endpoint`` and ``opt-in-status``.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
from collections.abc import Callable
from typing import Any

import botocore.session
from moto.core.responses import ActionResult
from moto.ec2.exceptions import (
    EC2ClientError,
    InvalidInstanceIdError,
    InvalidNextToken,
    InvalidParameterCombination,
)
from moto.ec2.responses import EC2Response

from awssim import runtime
from awssim.fleet import Node

MAX_FILTER_VALUES = 200
"""EC2's bound on filter values per call (all filters together)."""
MAX_FILTER_VALUE_LENGTH = 255
MAX_RESULTS_BOUNDS = (5, 1000)
RUNNING = {"Code": 16, "Name": "running"}
# A plausible instance type per architecture (EC2 always names one).
_INSTANCE_TYPES = {"arm64": "t4g.micro", "i386": "t2.micro"}
_DEFAULT_INSTANCE_TYPE = "t3.micro"


def _fingerprint(node: Node, kind: str) -> str:
    """17 stable hex digits for one of the node's EC2 ids (``kind`` keeps them apart)."""
    return hashlib.sha256(f"{kind}:{node.account_id}:{node.instance_id}".encode()).hexdigest()[:17]


def instance_item(node: Node) -> dict[str, Any]:
    """One ``Instance`` of the answer, as EC2 describes a running instance."""
    windows = node.platform_type == "Windows"
    item: dict[str, Any] = {
        "InstanceId": node.instance_id,
        "ImageId": f"ami-{_fingerprint(node, 'image')}",
        "State": dict(RUNNING),
        "InstanceType": _INSTANCE_TYPES.get(node.arch, _DEFAULT_INSTANCE_TYPE),
        "Architecture": node.arch,
        "PlatformDetails": "Windows" if windows else "Linux/UNIX",
        "Placement": {"AvailabilityZone": f"{node.region}a"},
        "Tags": [{"Key": key, "Value": value} for key, value in sorted(node.tags.items())],
    }
    if windows:
        item["Platform"] = "windows"
    return item


def _reservation(node: Node) -> dict[str, Any]:
    return {
        "ReservationId": f"r-{_fingerprint(node, 'reservation')}",
        "OwnerId": node.account_id,
        "Groups": [],
        "Instances": [instance_item(node)],
    }


def _filter_test(name: str, values: list[str]) -> Callable[[Node], bool]:
    if name == "instance-id":
        return lambda node: node.instance_id in values
    if name == "tag-key":
        return lambda node: any(value in node.tags for value in values)
    if name.startswith("tag:"):
        key = name.removeprefix("tag:")
        return lambda node: key in node.tags and node.tags[key] in values
    if name == "instance-state-name":
        return lambda _node: RUNNING["Name"] in values
    if name == "architecture":
        return lambda node: node.arch in values
    raise EC2ClientError("InvalidParameterValue", f"The filter '{name}' is invalid")


def _filters(raw: list[dict[str, Any]]) -> list[Callable[[Node], bool]]:
    values = [str(value) for item in raw for value in item.get("Values") or []]
    if len(values) > MAX_FILTER_VALUES:
        raise EC2ClientError(
            "FilterLimitExceeded",
            f"The maximum number of filter values specified on a single call is "
            f"{MAX_FILTER_VALUES}",
        )
    if any(len(value) > MAX_FILTER_VALUE_LENGTH for value in values):
        raise EC2ClientError(
            "FilterLimitExceeded",
            f"The maximum length for a filter value is {MAX_FILTER_VALUE_LENGTH} characters",
        )
    tests = []
    for item in raw:
        name = str(item.get("Name") or "")
        if not name:
            raise EC2ClientError("InvalidParameterValue", "The filter 'null' is invalid")
        tests.append(_filter_test(name, [str(value) for value in item.get("Values") or []]))
    return tests


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(["DescribeInstances", offset]).encode()).decode()


def _offset(token: str) -> int:
    try:
        call, offset = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise InvalidNextToken(token) from None
    if call != "DescribeInstances" or not isinstance(offset, int) or offset < 0:
        raise InvalidNextToken(token)
    return offset


def _max_results(raw: object) -> int | None:
    if raw is None:
        return None
    low, high = MAX_RESULTS_BOUNDS
    value = int(str(raw))
    if not low <= value <= high:
        raise EC2ClientError(
            "InvalidParameterValue",
            f"Value ( {value} ) for parameter maxResults is invalid. "
            f"Expecting a value between {low} and {high}.",
        )
    return value


def describe_instances(self: EC2Response) -> ActionResult:
    """DescribeInstances: the fleet's instances in the caller's account and Region."""
    self.error_on_dryrun()
    instance_ids = [str(value) for value in self._get_param("InstanceIds", []) or []]
    raw_max = self._get_param("MaxResults")
    if instance_ids and raw_max is not None:
        raise InvalidParameterCombination(
            "The parameter instancesSet cannot be used with the parameter maxResults"
        )
    max_results = _max_results(raw_max)
    tests = _filters(self._get_param("Filters", []) or self._get_param("Filter", []) or [])
    nodes = runtime.current().fleet.nodes(self.current_account, self.region)
    if instance_ids:
        known = {node.instance_id for node in nodes}
        missing = [value for value in instance_ids if value not in known]
        if missing:
            raise InvalidInstanceIdError(missing)
        nodes = [node for node in nodes if node.instance_id in instance_ids]
    nodes = [node for node in nodes if all(test(node) for test in tests)]
    token = self._get_param("NextToken")
    start = _offset(str(token)) if token else 0
    if start > len(nodes):
        raise InvalidNextToken(str(token))
    end = len(nodes) if max_results is None else start + max_results
    result: dict[str, Any] = {"Reservations": [_reservation(node) for node in nodes[start:end]]}
    if end < len(nodes):
        result["NextToken"] = _token(end)
    return ActionResult(result)


OPT_IN_REGIONS = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-south-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ca-west-1",
        "eu-central-2",
        "eu-south-1",
        "eu-south-2",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
    }
)
"""Commercial Regions an account must opt in to before using them (AWS enables the rest)."""
COMMERCIAL_REGIONS = tuple(sorted(botocore.session.get_session().get_available_regions("ec2")))
_REGION_FILTERS = {
    "region-name": "RegionName",
    "endpoint": "Endpoint",
    "opt-in-status": "OptInStatus",
}


def region_item(region: str, opted_in: set[str]) -> dict[str, str]:
    """One ``Region`` of DescribeRegions for an organization opted in to ``opted_in``."""
    if region not in OPT_IN_REGIONS:
        status = "opt-in-not-required"
    else:
        status = "opted-in" if region in opted_in else "not-opted-in"
    return {"RegionName": region, "Endpoint": f"ec2.{region}.amazonaws.com", "OptInStatus": status}


def describe_regions(self: EC2Response) -> ActionResult:
    """DescribeRegions with the organization's opt-in status (see the module docstring)."""
    self.error_on_dryrun()
    opted_in = set(runtime.current().org_spec.regions)
    rows = [region_item(region, opted_in) for region in COMMERCIAL_REGIONS]
    names = [str(name) for name in self._get_param("RegionNames", []) or []]
    if names:
        rows = [row for row in rows if row["RegionName"] in names]
    elif not self._get_bool_param("AllRegions", False):
        rows = [row for row in rows if row["OptInStatus"] != "not-opted-in"]
    for item in self._get_param("Filters", []) or self._get_param("Filter", []) or []:
        name = str(item.get("Name") or "")
        if name not in _REGION_FILTERS:
            msg = f"The filter '{name or 'null'}' is invalid"
            raise EC2ClientError("InvalidParameterValue", msg)
        values = [str(value) for value in item.get("Values") or []]
        field = _REGION_FILTERS[name]
        rows = [
            row for row in rows if any(fnmatch.fnmatchcase(row[field], value) for value in values)
        ]
    return ActionResult({"Regions": rows})


def install() -> None:
    """Serve DescribeInstances from the fleet, DescribeRegions from the org (idempotent)."""
    EC2Response.describe_instances = describe_instances  # type: ignore[method-assign,assignment]
    EC2Response.describe_regions = describe_regions  # type: ignore[method-assign,assignment]
