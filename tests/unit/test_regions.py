"""The Region list in core matches botocore's endpoint data (botocore is fine in tests)."""

from __future__ import annotations

import boto3

from distributor_rollout.core.regions import KNOWN_REGIONS, REGIONS_BY_PARTITION, partition_of


def test_regions_match_botocore_for_cloudformation_and_ssm() -> None:
    session = boto3.session.Session()
    for partition in session.get_available_partitions():
        expected = set(session.get_available_regions("cloudformation", partition_name=partition))
        expected |= set(session.get_available_regions("ssm", partition_name=partition))
        assert REGIONS_BY_PARTITION.get(partition, frozenset()) == expected, partition


def test_partition_of() -> None:
    assert partition_of("eu-west-1") == "aws"
    assert partition_of("cn-north-1") == "aws-cn"
    assert partition_of("moon-1") is None
    assert "us-gov-west-1" in KNOWN_REGIONS
