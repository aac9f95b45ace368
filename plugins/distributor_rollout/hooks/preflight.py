"""Read what the preflight judges (``core.preflight``), changing nothing.

Each ``PreflightHook`` method is one AWS call (with its pages) and hands back what the
service said, or its refusal as a ``core.preflight.Refused`` for the core to judge: a
refusal is a finding ("not registered", "no such document"), not a crash. Failures that
say nothing about the prerequisites (throttling or 5xx answers botocore's retries did not
get past, an unreachable endpoint) propagate. ``read_prerequisites`` makes the reads a
plan needs; ``run_preflight`` reads and judges.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from distributor_rollout.core.org import Organization
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.preflight import (
    STACKSETS_PRINCIPAL,
    BucketReading,
    DocumentReading,
    PackageReading,
    Preflight,
    Readings,
    Refused,
    document_ref,
    judge,
    wave_regions,
)
from distributor_rollout.core.rules import fill_bucket_pattern
from distributor_rollout.hooks.organizations import OrganizationsHook
from distributor_rollout.hooks.package_bucket import PackageBucketHook
from distributor_rollout.hooks.retries import RetryingAwsHook, error_code, is_transient


def _refused(error: ClientError) -> Refused:
    """The refusal a ``ClientError`` carries; transient failures are raised again."""
    if is_transient(error):
        raise error
    message = str(error.response.get("Error", {}).get("Message", ""))
    return Refused(error_code(error) or str(error), message)


class PreflightHook(RetryingAwsHook):
    """The preflight's reads: STS, Organizations, CloudFormation, EC2, S3 and SSM.

    The hook's own client is STS; the others are built for the service and Region each
    read needs, from the same session and configuration. Extra arguments
    (``aws_conn_id``, ``region_name``...) go to ``AwsBaseHook``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._hook_kwargs = dict(kwargs)
        kwargs["client_type"] = "sts"
        super().__init__(*args, **kwargs)
        self._clients: dict[tuple[str, str | None], Any] = {}

    def _client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region_name)
        if key not in self._clients:
            self._clients[key] = self.get_session(region_name=key[1]).client(
                service,
                endpoint_url=self.conn_config.get_service_endpoint_url(service),
                config=self.config,
                verify=self.verify,
            )
        return self._clients[key]

    def caller_account(self) -> str:
        """``sts:GetCallerIdentity``: the account the connection acts as (its failure,
        such as invalid credentials, propagates: nothing else can be read)."""
        return str(self.conn.get_caller_identity()["Account"])

    def management_account(self) -> str | Refused:
        """``organizations:DescribeOrganization``: the management account's id."""
        try:
            answer = self._client("organizations").describe_organization()
        except ClientError as error:
            return _refused(error)
        return str(answer["Organization"]["MasterAccountId"])

    def stacksets_admins(self) -> tuple[str, ...] | Refused:
        """``organizations:ListDelegatedAdministrators`` for StackSets' service principal:
        the registered accounts."""
        paginator = self._client("organizations").get_paginator("list_delegated_administrators")
        try:
            return tuple(
                str(item["Id"])
                for page in paginator.paginate(ServicePrincipal=STACKSETS_PRINCIPAL)
                for item in page.get("DelegatedAdministrators", [])
            )
        except ClientError as error:
            return _refused(error)

    def organizations_access(self, call_as: str) -> str | Refused:
        """``cloudformation:DescribeOrganizationsAccess(CallAs)``: the trusted access status."""
        try:
            answer = self._client("cloudformation").describe_organizations_access(CallAs=call_as)
        except ClientError as error:
            return _refused(error)
        return str(answer["Status"])

    def organization(self) -> Organization | Refused:
        """The organization's tree (``OrganizationsHook.snapshot``, as a run reads it)."""
        try:
            return OrganizationsHook(**self._hook_kwargs).snapshot()
        except ClientError as error:
            return _refused(error)

    def regions(self) -> dict[str, str] | Refused:
        """``ec2:DescribeRegions(AllRegions=True)``: every Region of the partition and its
        ``OptInStatus`` for this account."""
        try:
            answer = self._client("ec2").describe_regions(AllRegions=True)
        except ClientError as error:
            return _refused(error)
        return {
            str(item["RegionName"]): str(item.get("OptInStatus", "opt-in-not-required"))
            for item in answer.get("Regions", [])
        }

    def head_bucket(self, bucket: str, *, owner: str) -> BucketReading | Refused:
        """``s3:HeadBucket`` with ``ExpectedBucketOwner`` (``PackageBucketHook.head_bucket``:
        404 is missing, 403 is another account's or unreadable)."""
        try:
            head = PackageBucketHook(**self._hook_kwargs).head_bucket(bucket, owner=owner)
        except ClientError as error:
            return _refused(error)
        return BucketReading(head.state, head.region)

    def document(
        self,
        region: str,
        name: str,
        *,
        version_name: str | None = None,
        document_version: str | None = None,
    ) -> DocumentReading | Refused:
        """``ssm:DescribeDocument`` in ``region``: one version of a document (``name`` may
        be a shared document's ARN), by ``VersionName`` or ``DocumentVersion``, else the
        one DescribeDocument returns unasked."""
        request: dict[str, str] = {"Name": name}
        if version_name is not None:
            request["VersionName"] = version_name
        if document_version is not None:
            request["DocumentVersion"] = document_version
        try:
            document = self._client("ssm", region).describe_document(**request)["Document"]
        except ClientError as error:
            return _refused(error)
        return DocumentReading(
            name=str(document["Name"]),
            document_type=str(document.get("DocumentType", "")),
            status=str(document.get("Status", "")),
            document_version=str(document.get("DocumentVersion", "")),
            default_version=str(document.get("DefaultVersion", "")),
            version_name=document.get("VersionName"),
            owner=str(document.get("Owner", "")),
        )


def _package_reading(hook: PreflightHook, plan: Plan, region: str) -> PackageReading:
    """The existing package in one Region: its default version (asked for by number when
    DescribeDocument answered another), and the pinned version when it is not that one."""
    ref = document_ref(plan, region)
    default = hook.document(region, ref)
    if isinstance(default, DocumentReading) and default.default_version not in {
        "",
        default.document_version,
    }:
        default = hook.document(region, ref, document_version=default.default_version)
    version = plan.package.version
    pinned = None
    if isinstance(default, DocumentReading) and version not in {None, default.version_name}:
        pinned = hook.document(region, ref, version_name=version)
    return PackageReading(region, ref, default, pinned)


def read_prerequisites(hook: PreflightHook, plan: Plan) -> Readings:
    """Everything the preflight of ``plan`` judges, read through ``hook``."""
    spec = plan.stack_set
    caller = hook.caller_account()
    bucket = fill_bucket_pattern(spec.artifacts_bucket, account_id=caller, region=spec.region)
    delegated = spec.call_as == "DELEGATED_ADMIN"
    return Readings(
        caller=caller,
        management=hook.management_account(),
        admins=hook.stacksets_admins() if delegated else None,
        access=hook.organizations_access(spec.call_as),
        organization=hook.organization(),
        regions=hook.regions(),
        bucket=bucket,
        bucket_head=hook.head_bucket(bucket, owner=caller),
        packages=tuple(_package_reading(hook, plan, region) for region in wave_regions(plan))
        if plan.package.is_existing
        else (),
    )


def run_preflight(plan: Plan, **hook_kwargs: Any) -> Preflight:
    """Read and judge the preflight of ``plan`` (hook arguments: ``aws_conn_id``...; the
    Region defaults to the stack set's)."""
    hook = PreflightHook(**{"region_name": plan.stack_set.region, **hook_kwargs})
    return judge(plan, read_prerequisites(hook, plan))
