"""AWS console links for a rollout's task instances (persisted by the tasks that know them).

With a service-managed stack set run by a delegated administrator, the console only shows
it with ``permissions=service-managed``; an association lives in a member account, so its
link opens State Manager there (the user switches role into that account first).
"""

from __future__ import annotations

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


class StackSetOperationLink(BaseAwsLink):
    """The stack set operation a task started or waits on."""

    name = "StackSet operation"
    key = "distributor_rollout_stack_set_operation"
    format_str = (
        BASE_AWS_CONSOLE_LINK
        + "/cloudformation/home?region={region_name}#/stacksets/{stack_set_name}"
        + "/operations/info?permissions=service-managed&operationId={operation_id}"
    )


class AssociationLink(BaseAwsLink):
    """The package's State Manager association in one member account and Region."""

    name = "State Manager association"
    key = "distributor_rollout_association"
    format_str = (
        BASE_AWS_CONSOLE_LINK
        + "/systems-manager/state-manager/{association_id}/description?region={region_name}"
    )


class PackageLink(BaseAwsLink):
    """The published package version's folder in its S3 bucket."""

    name = "Package in S3"
    key = "distributor_rollout_package"
    format_str = (
        "https://s3.console.{aws_domain}/s3/buckets/{bucket}?region={region_name}"
        + "&prefix={prefix}/&showversions=false"
    )
