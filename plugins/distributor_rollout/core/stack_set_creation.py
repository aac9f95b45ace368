"""The stack set a rollout deploys through: how Prepare creates it, and which existing one
it accepts.

Rollouts deploy through AWS Organizations, so the stack set is service-managed; the
template names an IAM role (the compliance reader), so it is created with
``CAPABILITY_NAMED_IAM``; and it carries the creating run's tag (``CREATED_BY_TAG``), so
that run recognizes it later (``core.release.created_by_run``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from distributor_rollout.core.artifacts import template_source
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.release import CREATED_BY_TAG, run_tag_value
from distributor_rollout.core.stack_parameters import to_cfn_parameters

PERMISSION_MODEL: Final = "SERVICE_MANAGED"
CAPABILITIES: Final = ("CAPABILITY_NAMED_IAM",)
"""The template creates a named IAM role (the compliance reader)."""


def create_request(
    plan: Plan,
    template_url: str,
    parameters: Mapping[str, str],
    run_id: str,
    template_body: str | None = None,
) -> dict[str, Any]:
    """``CreateStackSet`` fields (besides name and CallAs) for the plan's stack set: the
    template as ``TemplateBody`` when given and small enough, else by URL."""
    stack_set = plan.stack_set
    auto: dict[str, Any] = {"Enabled": stack_set.auto_deployment.enabled}
    if stack_set.auto_deployment.enabled:
        # AWS accepts RetainStacksOnAccountRemoval only together with Enabled=true.
        auto["RetainStacksOnAccountRemoval"] = (
            stack_set.auto_deployment.retain_stacks_on_account_removal
        )
    request: dict[str, Any] = {
        **template_source(template_url, template_body),
        "Parameters": to_cfn_parameters(dict(parameters)),
        "Capabilities": list(CAPABILITIES),
        "PermissionModel": PERMISSION_MODEL,
        "AutoDeployment": auto,
        "ManagedExecution": {"Active": stack_set.managed_execution},
        "Tags": [{"Key": key, "Value": value} for key, value in stack_set.tags.items()]
        + [{"Key": CREATED_BY_TAG, "Value": run_tag_value(run_id)}],
    }
    if stack_set.description:
        request["Description"] = stack_set.description
    return request


def unusable_stack_set(plan: Plan, described: Mapping[str, Any] | None) -> str | None:
    """Why an existing stack set of the plan's name cannot be rolled out through (it is
    not service-managed), or None when it can, or when there is none yet."""
    if described is None or described.get("PermissionModel") == PERMISSION_MODEL:
        return None
    spec = plan.stack_set
    return (
        f"stack set {spec.name} (Region {spec.region}, CallAs {spec.call_as}) exists "
        f"with permission model {described.get('PermissionModel')}, not "
        f"{PERMISSION_MODEL}: rollouts deploy through AWS Organizations; use another "
        "stack_set.name"
    )
