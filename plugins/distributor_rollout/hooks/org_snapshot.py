"""Read an organization and its managed nodes for ``snapshot``, without changing anything.

Only read calls: STS GetCallerIdentity and AssumeRole, Organizations Describe/List, and in
each member account, through the compliance-reader role (``MemberAccessHook``), per Region:

* SSM ``DescribeInstanceInformation`` (pages of 50): every managed node, its platform and
  ``PingStatus``;
* EC2 ``DescribeInstances`` for the EC2 instances among them, 200 instance ids per call
  (EC2's bound on filter values): ``Architecture`` and tags;
* SSM ``ListTagsForResource`` for each hybrid node (``mi-*``, ResourceType
  ManagedInstance), only when some tag key is wanted: EC2 does not know these nodes, and
  SSM lists a managed instance's tags only one node at a time. Hybrid fleets are usually
  small; their architecture stays ``unknown`` (SSM does not report it).

What reaches ``core.org_snapshot`` is a ``NodeRecord`` per node: no instance id, address or
computer name leaves this module. A role that cannot be assumed makes its account
unreadable; a Region that fails makes that Region unreadable; EC2 or tag reads the role is
not allowed (a role created before it gained ``ec2:DescribeInstances``) leave the nodes
with ``unknown`` architecture and no tags, reported as incomplete. None of them stops the
snapshot. Throttling is retried by botocore's standard mode on every client and then
here, a few more times with backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from distributor_rollout.core.org import Account, Organization
from distributor_rollout.core.org_snapshot import NodeRecord, Readings, Unreadable
from distributor_rollout.hooks.errors import MemberAccessDenied
from distributor_rollout.hooks.member_access import MemberAccessHook
from distributor_rollout.hooks.organizations import OrganizationsHook
from distributor_rollout.hooks.retries import backoff_pause, error_code, is_throttling

STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"
INSTANCE_INFORMATION_PAGE = 50
"""DescribeInstanceInformation's largest page."""
INSTANCE_IDS_PER_CALL = 200
"""EC2's bound on filter values in one DescribeInstances call."""
EC2_PAGE = 1000
"""DescribeInstances' largest page."""
THROTTLE_RETRIES = 4
THROTTLE_PAUSE_SECONDS = 1.0
DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
)
ONLINE = "Online"
HYBRID = "ManagedInstance"

_Result = TypeVar("_Result")


def _denied(error: ClientError) -> bool:
    return error_code(error) in DENIED_CODES


def _retrying(call: Callable[..., _Result], **request: Any) -> _Result:
    """``call(**request)``, retried with jittered backoff while throttled (after botocore's
    own retries)."""
    attempt = 0
    while True:
        try:
            return call(**request)
        except ClientError as error:
            if not is_throttling(error) or attempt >= THROTTLE_RETRIES:
                raise
        time.sleep(backoff_pause(attempt, THROTTLE_PAUSE_SECONDS))
        attempt += 1


def _pages(call: Callable[..., dict[str, Any]], key: str, **request: Any) -> Iterator[Any]:
    """Every item of a NextToken-paged call (member clients cannot use botocore paginators:
    each call must go through the member-signing wrapper)."""
    while True:
        page = _retrying(call, **request)
        yield from page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return
        request["NextToken"] = token


@dataclass
class RegionNodes:
    """The nodes of one account and Region, and what could not be read about them."""

    nodes: list[NodeRecord] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)


def _ec2_details(ec2: Any, instance_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Architecture and tags by instance id, 200 ids per call."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(instance_ids), INSTANCE_IDS_PER_CALL):
        batch = list(instance_ids[start : start + INSTANCE_IDS_PER_CALL])
        reservations = _pages(
            ec2.describe_instances,
            "Reservations",
            Filters=[{"Name": "instance-id", "Values": batch}],
            MaxResults=EC2_PAGE,
        )
        for reservation in reservations:
            for instance in reservation.get("Instances", []):
                found[instance["InstanceId"]] = {
                    "arch": instance.get("Architecture"),
                    "tags": {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])},
                }
    return found


def _hybrid_tags(ssm: Any, node_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """Tags of hybrid nodes, one ListTagsForResource each."""
    tags: dict[str, dict[str, str]] = {}
    for node_id in node_ids:
        answer = _retrying(ssm.list_tags_for_resource, ResourceType=HYBRID, ResourceId=node_id)
        tags[node_id] = {tag["Key"]: tag["Value"] for tag in answer.get("TagList", [])}
    return tags


def read_region(ssm: Any, ec2: Any, *, want_tags: bool) -> RegionNodes:
    """The managed nodes of one account and Region, through its SSM and EC2 clients.

    Failures of SSM's DescribeInstanceInformation propagate (the Region is unreadable);
    EC2 or tag reads the role may not make leave a gap, named in ``gaps``.
    """
    rows = list(
        _pages(
            ssm.describe_instance_information,
            "InstanceInformationList",
            MaxResults=INSTANCE_INFORMATION_PAGE,
        )
    )
    result = RegionNodes()
    hybrid = [row["InstanceId"] for row in rows if row.get("ResourceType") == HYBRID]
    ec2_ids = [row["InstanceId"] for row in rows if row.get("ResourceType") != HYBRID]
    details: dict[str, dict[str, Any]] = {}
    if ec2_ids:
        try:
            details = _ec2_details(ec2, ec2_ids)
        except ClientError as error:
            if not _denied(error):
                raise
            result.gaps.append(
                f"EC2 DescribeInstances refused ({error_code(error)}): architecture unknown "
                "and no tags for EC2 instances (the role needs ec2:DescribeInstances)"
            )
    hybrid_tags: dict[str, dict[str, str]] = {}
    if hybrid and want_tags:
        try:
            hybrid_tags = _hybrid_tags(ssm, hybrid)
        except ClientError as error:
            if not _denied(error):
                raise
            result.gaps.append(
                f"SSM ListTagsForResource refused ({error_code(error)}): no tags for hybrid "
                "nodes (the role needs ssm:ListTagsForResource)"
            )
    for row in rows:
        node_id = row["InstanceId"]
        ec2_side = details.get(node_id, {})
        result.nodes.append(
            NodeRecord.of(
                platform_type=str(row.get("PlatformType") or ""),
                platform_name=str(row.get("PlatformName") or ""),
                platform_version=str(row.get("PlatformVersion") or ""),
                ec2_architecture=ec2_side.get("arch"),
                tags=hybrid_tags.get(node_id) or ec2_side.get("tags") or {},
                online=row.get("PingStatus") == ONLINE,
            )
        )
    return result


@dataclass(frozen=True)
class AccountProgress:
    """One account finished: how far the snapshot is, for a progress line."""

    done: int
    total: int
    account_id: str
    nodes: int
    unreadable: bool


class OrgSnapshotHook(MemberAccessHook):
    """Read the organization and every member account's managed nodes (read-only).

    :param role_name: the compliance-reader role assumed in each member account.
    Other arguments (``aws_conn_id``, ``region_name``, ...) go to ``AwsBaseHook``.
    """

    def caller_account_id(self) -> str:
        """``sts:GetCallerIdentity``: the account the connection acts as."""
        return str(self.account_id)

    @cached_property
    def organizations(self) -> OrganizationsHook:
        """Organizations as the connection (the organization and its registrations)."""
        return OrganizationsHook(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify
        )

    def organization(self) -> Organization:
        """The organization's OUs and accounts (see ``OrganizationsHook.snapshot``)."""
        return self.organizations.snapshot()

    def stacksets_admins(self) -> list[str] | None:
        """Accounts registered as CloudFormation StackSets delegated administrators, or None
        when the caller may not list them."""
        client = self.organizations.conn
        try:
            return [
                str(item["Id"])
                for page in client.get_paginator("list_delegated_administrators").paginate(
                    ServicePrincipal=STACKSETS_PRINCIPAL
                )
                for item in page.get("DelegatedAdministrators", [])
            ]
        except ClientError as error:
            if _denied(error):
                return None
            raise

    def read_account(
        self, account_id: str, regions: Sequence[str], *, want_tags: bool
    ) -> tuple[dict[str, RegionNodes], list[Unreadable]]:
        """One account's nodes per Region, and what could not be read there."""
        read: dict[str, RegionNodes] = {}
        unreadable: list[Unreadable] = []
        for region in regions:
            try:
                ssm = self.member_client("ssm", account_id, region)
                ec2 = self.member_client("ec2", account_id, region)
                read[region] = read_region(ssm, ec2, want_tags=want_tags)
            except MemberAccessDenied as error:
                # The role is global: denied in one Region is denied in all of them.
                reason = (
                    f"cannot assume {error.role_arn}: no such role, or it does not trust "
                    "this caller"
                )
                return {}, [Unreadable(account_id, reason)]
            except ClientError as error:
                reason = f"{error_code(error)}: {error.response.get('Error', {}).get('Message')}"
                unreadable.append(Unreadable(account_id, reason, region))
            except BotoCoreError as error:
                unreadable.append(Unreadable(account_id, str(error), region))
        return read, unreadable

    def read_accounts(
        self,
        accounts: Sequence[Account],
        regions: Sequence[str],
        *,
        want_tags: bool,
        concurrency: int,
        progress: Callable[[AccountProgress], None],
    ) -> Readings:
        """Every account's nodes, ``concurrency`` accounts at a time."""
        nodes: dict[tuple[str, str], list[NodeRecord]] = {}
        unreadable: list[Unreadable] = []
        incomplete: list[Unreadable] = []
        if not accounts:
            return Readings()
        workers = max(1, min(concurrency, len(accounts)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="snapshot") as pool:
            futures = {
                pool.submit(self.read_account, account.id, regions, want_tags=want_tags): account
                for account in accounts
            }
            for done, future in enumerate(as_completed(futures), start=1):
                account_id = futures[future].id
                read, missed = future.result()
                unreadable.extend(missed)
                for region, region_nodes in read.items():
                    nodes[(account_id, region)] = region_nodes.nodes
                    incomplete.extend(
                        Unreadable(account_id, gap, region) for gap in region_nodes.gaps
                    )
                progress(
                    AccountProgress(
                        done=done,
                        total=len(accounts),
                        account_id=account_id,
                        nodes=sum(len(r.nodes) for r in read.values()),
                        unreadable=bool(missed) and not read,
                    )
                )
        return Readings(nodes=nodes, unreadable=unreadable, incomplete=incomplete)
