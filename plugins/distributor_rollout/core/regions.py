"""The AWS Regions a plan may name, per partition.

Kept as data so ``core`` needs no botocore; ``tests/unit/test_regions.py`` checks it
against botocore's endpoint data for CloudFormation and Systems Manager, so a Region that
AWS adds fails that test instead of being silently refused.
"""

from __future__ import annotations

REGIONS_BY_PARTITION: dict[str, frozenset[str]] = {
    "aws": frozenset(
        {
            "af-south-1",
            "ap-east-1",
            "ap-east-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-6",
            "ap-southeast-7",
            "ca-central-1",
            "ca-west-1",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "il-central-1",
            "me-central-1",
            "me-south-1",
            "mx-central-1",
            "sa-east-1",
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
        }
    ),
    "aws-cn": frozenset({"cn-north-1", "cn-northwest-1"}),
    "aws-us-gov": frozenset({"us-gov-east-1", "us-gov-west-1"}),
    "aws-iso": frozenset({"us-iso-east-1", "us-iso-west-1"}),
    "aws-iso-b": frozenset({"us-isob-east-1", "us-isob-west-1"}),
    "aws-iso-e": frozenset({"eu-isoe-west-1"}),
    "aws-iso-f": frozenset({"us-isof-east-1", "us-isof-south-1"}),
    "aws-eusc": frozenset({"eusc-de-east-1"}),
}

KNOWN_REGIONS: frozenset[str] = frozenset().union(*REGIONS_BY_PARTITION.values())


def partition_of(region: str) -> str | None:
    """The partition a known Region belongs to, or None for an unknown name."""
    for partition, regions in REGIONS_BY_PARTITION.items():
        if region in regions:
            return partition
    return None
