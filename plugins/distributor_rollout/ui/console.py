"""AWS console links for the UI's pages, in the same formats as the tasks' own links
(``links.console``): a StackSets operation, and the stack set's instances."""

from __future__ import annotations

from collections.abc import Callable

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink

from distributor_rollout.core.plan import Plan
from distributor_rollout.core.regions import partition_of
from distributor_rollout.links.console import StackSetOperationLink

STACK_INSTANCES_FORMAT = (
    BASE_AWS_CONSOLE_LINK
    + "/cloudformation/home?region={region_name}#/stacksets/{stack_set_name}"
    + "/stacks?permissions=service-managed"
)


def _domain(plan: Plan) -> str | None:
    return BaseAwsLink.get_aws_domain(partition_of(plan.stack_set.region) or "aws")


def operation_url(plan: Plan) -> Callable[[str], str | None]:
    """Operation id → its page in the console of the plan's stack set (None: unknown
    partition, no link)."""
    domain = _domain(plan)
    spec = plan.stack_set

    def url(operation_id: str) -> str | None:
        if domain is None:
            return None
        return StackSetOperationLink.format_str.format(
            aws_domain=domain,
            region_name=spec.region,
            stack_set_name=spec.name,
            operation_id=operation_id,
        )

    return url


def instances_url(plan: Plan) -> str | None:
    """The stack set's stack instances page."""
    domain = _domain(plan)
    if domain is None:
        return None
    spec = plan.stack_set
    return STACK_INSTANCES_FORMAT.format(
        aws_domain=domain, region_name=spec.region, stack_set_name=spec.name
    )
