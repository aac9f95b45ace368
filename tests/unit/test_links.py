"""Console links format to the pages an operator expects."""

from __future__ import annotations

from distributor_rollout.links.console import AssociationLink, PackageLink, StackSetOperationLink


def test_stack_set_operation_link() -> None:
    url = StackSetOperationLink().format_link(
        aws_domain="aws.amazon.com",
        region_name="us-east-1",
        stack_set_name="distributor-examplepackage",
        operation_id="dr-abc-canary-update-1234",
    )
    assert url == (
        "https://console.aws.amazon.com/cloudformation/home?region=us-east-1#/stacksets/"
        "distributor-examplepackage/operations/info?permissions=service-managed"
        "&operationId=dr-abc-canary-update-1234"
    )


def test_association_link_and_package_link() -> None:
    assert AssociationLink().format_link(
        aws_domain="amazonaws.cn", region_name="cn-north-1", association_id="a1b2"
    ) == (
        "https://console.amazonaws.cn/systems-manager/state-manager/a1b2/description"
        "?region=cn-north-1"
    )
    assert PackageLink().format_link(
        aws_domain="aws.amazon.com",
        region_name="eu-west-1",
        bucket="s3-examplepackage-222222222222-eu-west-1",
        prefix="examplepackage/1.0.2",
    ) == (
        "https://s3.console.aws.amazon.com/s3/buckets/s3-examplepackage-222222222222-eu-west-1"
        "?region=eu-west-1&prefix=examplepackage/1.0.2/&showversions=false"
    )


def test_missing_fields_give_no_link() -> None:
    assert PackageLink().format_link(aws_domain="aws.amazon.com") == ""
