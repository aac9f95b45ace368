"""The rollout plan: one YAML file in ``include/rollouts/`` per package, one DAG per plan.

The models only say what each field may hold; ``plan_validation`` turns raw YAML into a
``Plan`` and reports every problem (field formats here, cross-field rules there). The
plan speaks in the seed solution's terms where it has them: ``package.name`` is the
template's ``PackageName``, ``package.bucket`` its ``S3PackageBucket``, ``package.folder``
its ``S3PackageBucketFolder``, ``package.version`` its ``Version``, ``association.*`` the
association parameters.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from distributor_rollout.core import rules
from distributor_rollout.core.compliance_feed import aggregator_name
from distributor_rollout.core.fields import (
    RULE_ERROR,
    AccountId,
    AssociationName,
    AssociationSchedule,
    BakeTime,
    BucketName,
    BucketTemplate,
    DagSchedule,
    DagTags,
    Description,
    DocumentName,
    ExistingPackageRef,
    GateTimeout,
    IamRoleName,
    MaxConcurrency,
    MaxErrors,
    OuRef,
    Owner,
    PackageBucketPattern,
    PlanName,
    PollInterval,
    Publisher,
    RegionName,
    S3Prefix,
    SnsTopicArn,
    StackSetName,
    StackSetTags,
    TagKey,
    TagValue,
    Version,
    WaveName,
)
from distributor_rollout.core.gate import GateSettings
from distributor_rollout.core.run_policy import ApprovalPolicy, ManualRunPolicy, RollbackMode
from distributor_rollout.core.source_location import S3Source, is_s3, parse_s3_source

CallAs = Literal["DELEGATED_ADMIN", "SELF"]
Action = Literal["Install", "Uninstall"]
InstallationType = Literal["Uninstall and reinstall", "In-place update"]
ComplianceSeverity = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNSPECIFIED"]
RegionConcurrency = Literal["SEQUENTIAL", "PARALLEL"]
ConcurrencyMode = Literal["STRICT_FAILURE_TOLERANCE", "SOFT_FAILURE_TOLERANCE"]
AccountFilterType = Literal["INTERSECTION", "DIFFERENCE"]
RollbackTrigger = Literal[
    "operation_failed", "compliance_failed", "compliance_timeout", "approval_rejected"
]
NotifyEvent = Literal["success", "failure", "rollback"]

ALL_ROLLBACK_TRIGGERS: tuple[RollbackTrigger, ...] = (
    "operation_failed",
    "compliance_failed",
    "compliance_timeout",
    "approval_rejected",
)
DEFAULT_NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("failure", "rollback")


class _Model(BaseModel):
    """Every plan block: unknown keys are errors (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PackageSpec(_Model):
    """The package: built from a source and published by the rollout, or one that already
    exists in Distributor (``existing``: AWS's own, or a document another account shares),
    which the stack set's association installs as it is."""

    name: DocumentName = Field(
        description="the package (SSM document) name: the seed's PackageName; for an existing "
        "package, its document name (the default)"
    )
    existing: ExistingPackageRef | None = Field(
        None,
        description="an existing package instead of a source: a name like "
        "AmazonCloudWatchAgent, or arn:aws:ssm:<region>:<owner account>:document/<name>",
    )
    version: Version | None = Field(
        None,
        description="the package version: the seed's Version, quoted in YAML "
        "(optional with package.existing)",
    )
    source_buckets: list[BucketName] = Field(
        default_factory=list,
        description="S3 buckets package sources may be taken from (s3://<bucket>/<prefix>/)",
    )
    source: str | None = Field(
        None,
        min_length=1,
        max_length=1024,
        description="the package source: a folder relative to the plan file, or "
        "s3://<bucket>/<prefix>/ in one of package.source_buckets",
    )

    publisher: Publisher | None = Field(None, description="the manifest's publisher")
    bucket: PackageBucketPattern | None = Field(
        None, description="the bucket name pattern, one per Region: the seed's S3PackageBucket"
    )
    folder: S3Prefix | None = Field(
        None, description="the key prefix in the bucket: S3PackageBucketFolder"
    )
    create_buckets: bool = Field(True, description="create missing package buckets (true/false)")

    @model_validator(mode="before")
    @classmethod
    def _name_of_existing(cls, data: Any) -> Any:
        """An existing package is named by its document: ``name`` defaults to it."""
        if not isinstance(data, dict) or "name" in data:
            return data
        existing = data.get("existing")
        if not isinstance(existing, str) or rules.existing_package(existing):
            return data  # built, or an invalid reference (reported on its own field)
        return {**data, "name": rules.existing_package_parts(existing)[1]}

    @field_validator("source")
    @classmethod
    def _source_in_allowed_bucket(cls, source: str | None, info: ValidationInfo) -> str | None:
        """An S3 source must be in a bucket the plan lists (the folder rules are in
        ``core.source_location``, applied where the folder is resolved)."""
        if source is not None and is_s3(source) and "source_buckets" in info.data:
            parsed = parse_s3_source("", source, info.data["source_buckets"])
            if not isinstance(parsed, S3Source):
                raise PydanticCustomError(RULE_ERROR, "{message}", {"message": parsed.message})
        return source

    @property
    def is_existing(self) -> bool:
        """Whether the package already exists in Distributor (nothing to build or publish)."""
        return self.existing is not None

    @property
    def document_owner(self) -> str | None:
        """The account that shares the existing package's document (from its ARN); None
        for AWS's packages, the account's own and built packages."""
        return rules.existing_package_parts(self.existing)[0] if self.existing else None

    def document_ref(self, region: str, partition: str = "aws") -> str:
        """What the association's ``name`` parameter holds in ``region``: the document name,
        or, for a shared document, its ARN in that Region (a shared document is Region-
        scoped: the owner shares the same name in every Region)."""
        owner = self.document_owner
        if owner is None:
            return self.name
        return f"arn:{partition}:ssm:{region}:{owner}:document/{self.name}"

    @property
    def source_folder(self) -> str:
        """The source of a built package (``ValueError`` for an existing one)."""
        return _built(self.source, "source", self)

    @property
    def bucket_pattern(self) -> str:
        """The package bucket pattern of a built package (``ValueError`` for an existing one)."""
        return _built(self.bucket, "bucket", self)

    @property
    def bucket_folder(self) -> str:
        """The key prefix of a built package (``ValueError`` for an existing one)."""
        return _built(self.folder, "folder", self)

    @property
    def built_version(self) -> str:
        """The version a built package (or a pinned existing one) has (``ValueError`` for
        an unpinned existing package)."""
        return _built(self.version, "version", self)

    @property
    def version_label(self) -> str:
        """The version as people read it: the pinned version, or "default version"."""
        return self.version if self.version is not None else "default version"


def _built(value: str | None, field: str, package: PackageSpec) -> str:
    """``value``, which a validated plan holds for every built package."""
    if value is None:
        raise ValueError(f"package {package.name} has no package.{field} (an existing package)")
    return value


class AutoDeployment(_Model):
    """StackSets auto-deployment to accounts that join a targeted OU later."""

    enabled: bool = Field(False, description="true or false")
    retain_stacks_on_account_removal: bool = Field(False, description="true or false")


def _aggregator_name(value: str) -> str:
    problem = aggregator_name(value)
    if problem is not None:
        raise PydanticCustomError(RULE_ERROR, "{message}", {"message": problem})
    return value


AggregatorName = Annotated[str, AfterValidator(_aggregator_name)]


class ChangeFeed(_Model):
    """An AWS Config aggregator the compliance gate asks which targets changed, to re-read
    only those between full polls (``core.compliance_feed``). The gate's counts still come
    from reading each target: the feed only decides which ones a poll reads. Freshness:
    a change Config misses or delivers later than ``lookback_minutes`` is seen at the next
    full poll, at most ``full_read_minutes`` later, and the gate never passes, fails or
    bakes without a full poll confirming it."""

    aggregator: AggregatorName = Field(
        description="the Config aggregator's name (ConfigurationAggregatorName) in the account "
        "the DAGs' AWS connection is, recording AWS::SSM::AssociationCompliance"
    )
    region: RegionName = Field(description="the Region of the aggregator (where it is called)")
    full_read_minutes: int = Field(
        30,
        ge=1,
        le=1440,
        description="a whole number from 1 to 1440: fleet minutes between polls that read "
        "every target",
    )
    lookback_minutes: int = Field(
        15,
        ge=0,
        le=1440,
        description="a whole number from 0 to 1440: fleet minutes each query looks back for "
        "the items Config delivers late",
    )


class ComplianceReader(_Model):
    """The read-only role the DAGs assume in member accounts to read association status."""

    role_name: IamRoleName = Field(
        "DistributorRolloutComplianceReader", description="the IAM role name"
    )
    create: bool = Field(True, description="the stack set template creates the role (true/false)")
    home_region: RegionName | None = Field(
        None, description="the one Region whose stack creates the (global) IAM role"
    )
    change_feed: ChangeFeed | None = Field(
        None,
        description="a mapping with keys aggregator, region, full_read_minutes, lookback_minutes "
        "(a Config aggregator the gate asks which targets changed), or none: every poll reads "
        "every target",
    )


class StackSetSpec(_Model):
    """The service-managed stack set and how the delegated administrator runs it."""

    name: StackSetName = Field(description="the stack set name")
    description: Description = Field("", description="a description, ≤ 1024 characters")
    call_as: CallAs = Field("DELEGATED_ADMIN", description="'DELEGATED_ADMIN' or 'SELF'")
    region: RegionName = Field(description="the Region where the stack set is administered")
    auto_deployment: AutoDeployment = Field(default_factory=AutoDeployment)
    managed_execution: bool = Field(False, description="queue conflicting operations (true/false)")
    artifacts_bucket: BucketTemplate = Field(
        description="the bucket for rendered templates and run reports (may use {account_id})"
    )
    compliance_reader: ComplianceReader = Field(default_factory=ComplianceReader)
    tags: StackSetTags = Field(default_factory=dict, description="tags for the stack set")

    @property
    def compliance_home_region(self) -> str:
        """Where the compliance-reader role is created: its home Region or the admin Region."""
        return self.compliance_reader.home_region or self.region


class AssociationSpec(_Model):
    """The State Manager association that runs AWS-ConfigureAWSPackage in every target."""

    name: AssociationName = Field(description="the association name: the seed's AssociationName")
    action: Action = Field("Install", description="'Install' or 'Uninstall'")
    installation_type: InstallationType = Field(
        "Uninstall and reinstall", description="'Uninstall and reinstall' or 'In-place update'"
    )
    schedule: AssociationSchedule = Field(
        "rate(30 minutes)", description="a State Manager cron, rate or at expression"
    )
    target_tag_key: TagKey | None = Field(None, description="only nodes with this tag key")
    target_tag_value: TagValue | None = Field(None, description="... and this tag value")
    output_s3_prefix: S3Prefix | None = Field(None, description="the Run Command output prefix")
    max_concurrency: MaxConcurrency = Field("10%", description="a count or a percentage, quoted")
    max_errors: MaxErrors = Field("10%", description="a count or a percentage, quoted")
    compliance_severity: ComplianceSeverity = Field("UNSPECIFIED", description="the severity")
    apply_only_at_cron_interval: bool = Field(False, description="true or false")

    @property
    def targets_all_nodes(self) -> bool:
        """Whether the association targets every managed node rather than a tag."""
        return self.target_tag_key is None


class OperationSettings(_Model):
    """StackSet operation preferences; in a wave, only the fields it sets override defaults."""

    max_concurrent_count: int | None = Field(None, ge=1, description="accounts at once, ≥ 1")
    max_concurrent_percentage: int | None = Field(None, ge=1, le=100, description="1-100")
    failure_tolerance_count: int | None = Field(None, ge=0, description="failed accounts, ≥ 0")
    failure_tolerance_percentage: int | None = Field(None, ge=0, le=100, description="0-100")
    region_concurrency: RegionConcurrency | None = Field(None, description="SEQUENTIAL|PARALLEL")
    region_order: list[RegionName] | None = Field(None, description="Region names, in order")
    concurrency_mode: ConcurrencyMode | None = Field(
        None, description="'STRICT_FAILURE_TOLERANCE' or 'SOFT_FAILURE_TOLERANCE'"
    )


class GateSettingsSpec(_Model):
    """Compliance gate settings; in a wave, only the fields it sets override defaults."""

    threshold_percent: float | None = Field(None, ge=0, le=100, description="a number 0-100")
    min_nodes: int | None = Field(None, ge=0, description="nodes that must report, ≥ 0")
    timeout: GateTimeout | None = Field(None, description="a duration like '30m'")
    bake: BakeTime | None = Field(None, description="a duration like '5m'")
    poll_interval: PollInterval | None = Field(None, description="a duration like '30s'")
    offline_nodes: Literal["exclude", "count"] | None = Field(
        None,
        description="'exclude' (nodes whose agent is offline are left out of the percentage) "
        "or 'count' (they count as not compliant)",
    )
    max_offline_percent: float | None = Field(
        None, ge=0, le=100, description="a number 0-100: above it the gate does not pass"
    )


class Defaults(_Model):
    """Settings every wave starts from."""

    operation: OperationSettings = Field(default_factory=OperationSettings)
    gate: GateSettingsSpec = Field(default_factory=GateSettingsSpec)


class AccountFilter(_Model):
    """Narrow a wave's OUs to some accounts (INTERSECTION) or leave some out (DIFFERENCE)."""

    ids: list[AccountId] = Field(min_length=1, description="account ids, quoted in YAML")
    filter: AccountFilterType = Field(description="'INTERSECTION' or 'DIFFERENCE'")


class WaveSpec(_Model):
    """One stage of the rollout: OUs × Regions, deployed and gated together."""

    name: WaveName = Field(description="a wave name")
    ous: list[OuRef] = Field(min_length=1, description="OU ids (ou-…, r-…) or OU paths (/Prod/EU)")
    regions: list[RegionName] = Field(min_length=1, description="Region names")
    accounts: AccountFilter | None = Field(None, description="an account filter")
    approval: bool = Field(False, description="wait for a human approval (true/false)")
    operation: OperationSettings = Field(default_factory=OperationSettings)
    gate: GateSettingsSpec = Field(default_factory=GateSettingsSpec)


class RollbackSpec(_Model):
    """What happens when a wave fails."""

    mode: RollbackMode = Field(
        "previous_version", description="'previous_version', 'uninstall' or 'none'"
    )
    triggers: list[RollbackTrigger] = Field(
        default_factory=lambda: list(ALL_ROLLBACK_TRIGGERS),
        description="rollback triggers: " + ", ".join(ALL_ROLLBACK_TRIGGERS),
    )


class NotifySpec(_Model):
    """Where run summaries go."""

    sns_topic_arn: SnsTopicArn | None = Field(None, description="an SNS topic ARN")
    events: list[NotifyEvent] = Field(
        default_factory=lambda: list(DEFAULT_NOTIFY_EVENTS),
        description="events: 'success', 'failure', 'rollback'",
    )


class Plan(_Model):
    """A whole rollout plan."""

    name: PlanName = Field(description="the plan name (the DAG is rollout_<name>)")
    description: Description = Field("", description="what this rollout is for")
    owner: Owner = Field("distributor-rollout", description="the DAG owner")
    tags: DagTags = Field(default_factory=list, description="DAG tags")
    schedule: DagSchedule = Field(None, description="a cron or preset, or none for manual runs")
    package: PackageSpec
    stack_set: StackSetSpec
    association: AssociationSpec
    defaults: Defaults = Field(default_factory=Defaults)
    waves: list[WaveSpec] = Field(min_length=1, description="the waves, in rollout order")
    rollback: RollbackSpec = Field(default_factory=RollbackSpec)
    notify: NotifySpec = Field(default_factory=NotifySpec)
    manual_runs: ManualRunPolicy = Field(default_factory=ManualRunPolicy)
    approvals: ApprovalPolicy = Field(default_factory=ApprovalPolicy)

    def wave(self, name: str) -> WaveSpec:
        """The wave with this name (``KeyError`` if none)."""
        for wave in self.waves:
            if wave.name == name:
                return wave
        raise KeyError(name)

    def digest(self) -> str:
        """sha256 of the plan's canonical JSON: what a run report records as its input."""
        data = self.model_dump(mode="json")
        reader = data["stack_set"]["compliance_reader"]
        if reader["change_feed"] is None:
            # A plan without the (later) change feed keeps the digest earlier releases
            # recorded: runs in flight across an upgrade still match their plan.
            del reader["change_feed"]
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


# What a wave gets when neither it nor the defaults say: a cautious start (a quarter of
# the accounts at once, no failure tolerated) and a gate that wants 95% of nodes compliant.
BUILTIN_OPERATION = OperationSettings(
    max_concurrent_percentage=25,
    failure_tolerance_count=0,
    region_concurrency="SEQUENTIAL",
    concurrency_mode="STRICT_FAILURE_TOLERANCE",
)
BUILTIN_GATE = GateSettingsSpec(
    threshold_percent=95.0,
    min_nodes=1,
    timeout=3_600,
    bake=300,
    poll_interval=30,
    offline_nodes="exclude",
    max_offline_percent=20.0,
)
_EXCLUSIVE_PAIRS = (
    ("max_concurrent_count", "max_concurrent_percentage"),
    ("failure_tolerance_count", "failure_tolerance_percentage"),
)


def _layer(base: dict[str, Any], override: BaseModel) -> dict[str, Any]:
    """Apply the fields an override sets; setting one of a count/percentage pair drops the
    other, so a wave can say ``max_concurrent_count: 1`` over a percentage default."""
    merged = dict(base)
    for key, value in override.model_dump(exclude_none=True).items():
        for pair in _EXCLUSIVE_PAIRS:
            if key in pair:
                for other in pair:
                    merged.pop(other, None)
        merged[key] = value
    return merged


@dataclass(frozen=True)
class OperationPreferences:
    """A wave's resolved StackSet operation preferences."""

    region_order: tuple[str, ...]
    region_concurrency: str
    concurrency_mode: str
    max_concurrent_count: int | None = None
    max_concurrent_percentage: int | None = None
    failure_tolerance_count: int | None = None
    failure_tolerance_percentage: int | None = None

    def to_aws(self) -> dict[str, Any]:
        """The ``OperationPreferences`` request structure."""
        aws: dict[str, Any] = {
            "RegionConcurrencyType": self.region_concurrency,
            "RegionOrder": list(self.region_order),
            "ConcurrencyMode": self.concurrency_mode,
        }
        for field, key in (
            ("max_concurrent_count", "MaxConcurrentCount"),
            ("max_concurrent_percentage", "MaxConcurrentPercentage"),
            ("failure_tolerance_count", "FailureToleranceCount"),
            ("failure_tolerance_percentage", "FailureTolerancePercentage"),
        ):
            value = getattr(self, field)
            if value is not None:
                aws[key] = value
        return aws


def wave_operation(plan: Plan, wave: WaveSpec) -> OperationPreferences:
    """Built-ins, then the plan's defaults, then the wave's own settings.

    The Region order is the configured order restricted to the wave's Regions, followed
    by the wave's other Regions as listed, so every wave Region is always included.
    """
    merged = _layer(
        _layer(BUILTIN_OPERATION.model_dump(exclude_none=True), plan.defaults.operation),
        wave.operation,
    )
    configured = [region for region in merged.pop("region_order", []) if region in wave.regions]
    order = tuple(dict.fromkeys([*configured, *wave.regions]))
    return OperationPreferences(region_order=order, **merged)


def wave_gate(plan: Plan, wave: WaveSpec) -> GateSettings:
    """Built-ins, then the plan's defaults, then the wave's own settings."""
    merged = _layer(
        _layer(BUILTIN_GATE.model_dump(exclude_none=True), plan.defaults.gate), wave.gate
    )
    return GateSettings(
        threshold_percent=float(merged["threshold_percent"]),
        min_nodes=int(merged["min_nodes"]),
        timeout_seconds=int(merged["timeout"]),
        bake_seconds=int(merged["bake"]),
        poll_interval_seconds=int(merged["poll_interval"]),
        offline_nodes=merged["offline_nodes"],
        max_offline_percent=float(merged["max_offline_percent"]),
    )
