"""The stack set's parameter values for one package version, rendered from the plan.

A stack set holds one set of parameter values for every account and Region it reaches, so
everything Region-specific is left to the template: the package bucket is passed as the
plan's bucket pattern cut around ``{region}`` (``S3PackageBucketPrefix`` and
``S3PackageBucketSuffix``) and the template puts the stack's own Region in between. A
package that already exists in Distributor passes no manifest and no bucket, only its
name, owner and optional pin.

The manifest travels in 16 chunk parameters (see the template's header comment): compact
ASCII JSON, so characters and bytes coincide, cut into 4,096-character pieces, every unused
piece passed as "" so a shorter manifest never keeps the tail of a longer one.
"""

from __future__ import annotations

import json
from typing import Final

from distributor_rollout.core.errors import ValidationError, wrong
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.principals import with_any_path
from distributor_rollout.core.rules import fill_bucket_pattern

CHUNK_CHARACTERS: Final = 4096
MANIFEST_PARAMETERS: Final = (
    "ManifestContent",
    *(f"ManifestContentPart{n:02d}" for n in range(2, 17)),
)
MANIFEST_LIMIT: Final = CHUNK_CHARACTERS * len(MANIFEST_PARAMETERS)
REGION_PLACEHOLDER: Final = "{region}"
ACCOUNT_PLACEHOLDER: Final = "{account_id}"


def compact_manifest(manifest_text: str) -> str:
    """manifest.json as the template receives it: compact ASCII JSON, keys in built order."""
    return json.dumps(json.loads(manifest_text), separators=(",", ":"), ensure_ascii=True)


def manifest_chunks(compact: str) -> tuple[str, ...]:
    """The 16 chunk values, in order; unused ones are "".

    Raises ValidationError when the manifest needs more than 16 chunks.
    """
    if len(compact) > MANIFEST_LIMIT:
        problem = wrong(
            "manifest.json",
            "too large for the stack set's manifest parameters",
            f"{len(compact)} characters of compact JSON",
            f"at most {MANIFEST_LIMIT} ({len(MANIFEST_PARAMETERS)} x {CHUNK_CHARACTERS})",
        )
        raise ValidationError("stack set parameters", [problem])
    pieces = [
        compact[start : start + CHUNK_CHARACTERS]
        for start in range(0, len(compact), CHUNK_CHARACTERS)
    ]
    return tuple(pieces + [""] * (len(MANIFEST_PARAMETERS) - len(pieces)))


def bucket_name_parts(pattern: str, *, account_id: str) -> tuple[str, str]:
    """The package bucket pattern around ``{region}``, with ``{account_id}`` filled in.

    The template builds ``prefix + Region + suffix``, so the pattern must hold ``{region}``
    exactly once, with something around it (an empty prefix and suffix mean "one bucket").
    """
    filled = pattern.replace(ACCOUNT_PLACEHOLDER, account_id)
    if filled.count(REGION_PLACEHOLDER) != 1 or filled == REGION_PLACEHOLDER:
        problem = wrong(
            "package.bucket",
            "cannot be passed to the stack set as a prefix and suffix around the Region",
            pattern,
            "a bucket name with '{region}' exactly once and other characters around it",
        )
        raise ValidationError("stack set parameters", [problem])
    prefix, _, suffix = filled.partition(REGION_PLACEHOLDER)
    return prefix, suffix


def render_stack_parameters(
    plan: Plan, manifest_text: str | None, *, account_id: str, runner_arn: str
) -> dict[str, str]:
    """Every template parameter's value for this plan's package version.

    ``plan`` is the run's effective plan (params applied), ``manifest_text`` the built
    manifest.json (None for a package that already exists in Distributor: no document,
    no bucket) and ``account_id`` the delegated administrator's, which publishes the
    package buckets. ``runner_arn`` is the principal the rollout runs as
    (``core.principals.runner_principal_arn``): the only one the compliance-reader role
    trusts, with or without an IAM path. Raises ValidationError
    when the manifest or the bucket pattern does not fit the template's parameters.
    """
    stack_set, association = plan.stack_set, plan.association
    parameters = (
        _existing_package_parameters(plan)
        if manifest_text is None
        else _built_package_parameters(plan, manifest_text, account_id=account_id)
    )
    reader = stack_set.compliance_reader
    # The plan names no bucket for Run Command output; like the seed, the output goes to
    # the package bucket (the administration Region's) when a prefix is asked for.
    output_prefix = association.output_s3_prefix or ""
    parameters |= {
        "AssociationName": association.name,
        "AssociationVersion": "",
        "Action": association.action,
        "InstallationType": association.installation_type,
        "ScheduleExpression": association.schedule,
        "ApplyOnlyAtCronInterval": "true" if association.apply_only_at_cron_interval else "false",
        "TargetResourceTagKey": association.target_tag_key or "",
        "TargetResourceTagValue": association.target_tag_value or "",
        "MaxConcurrency": association.max_concurrency,
        "MaxErrors": association.max_errors,
        "ComplianceSeverity": association.compliance_severity,
        "OutputS3BucketName": parameters["S3PackageBucket"] if output_prefix else "",
        "OutputS3Prefix": output_prefix,
        "ComplianceReaderRoleName": reader.role_name if reader.create else "",
        "ComplianceReaderTrustedAccountId": account_id,
        "ComplianceReaderTrustedPrincipals": ",".join(
            dict.fromkeys([runner_arn, with_any_path(runner_arn)])
        ),
        "ComplianceReaderHomeRegion": stack_set.compliance_home_region,
    }
    return parameters


def _built_package_parameters(plan: Plan, manifest_text: str, *, account_id: str) -> dict[str, str]:
    """The package parameters of a package this rollout built and published."""
    package = plan.package
    prefix, suffix = bucket_name_parts(package.bucket_pattern, account_id=account_id)
    parameters = {
        "PackageName": package.name,
        "PackageOwnerAccount": "",
        "Version": package.built_version,
        "S3PackageBucket": fill_bucket_pattern(
            package.bucket_pattern, account_id=account_id, region=plan.stack_set.region
        ),
        "S3PackageBucketPrefix": prefix,
        "S3PackageBucketSuffix": suffix,
        "S3PackageBucketFolder": package.bucket_folder,
        "S3PackageUrl": "",
    }
    chunks = manifest_chunks(compact_manifest(manifest_text))
    parameters.update(zip(MANIFEST_PARAMETERS, chunks, strict=True))
    return parameters


def _existing_package_parameters(plan: Plan) -> dict[str, str]:
    """The package parameters of a package that already exists in Distributor: its name
    and owner, the pinned version ("" for its default version), and no manifest, which
    tells the template to create no document."""
    package = plan.package
    parameters = {
        "PackageName": package.name,
        "PackageOwnerAccount": package.document_owner or "",
        "Version": package.version or "",
        "S3PackageBucket": "",
        "S3PackageBucketPrefix": "",
        "S3PackageBucketSuffix": "",
        "S3PackageBucketFolder": "",
        "S3PackageUrl": "",
    }
    parameters.update(dict.fromkeys(MANIFEST_PARAMETERS, ""))
    return parameters


def to_cfn_parameters(parameters: dict[str, str]) -> list[dict[str, str]]:
    """The ``Parameters`` request structure of CreateStackSet/UpdateStackSet."""
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()]
