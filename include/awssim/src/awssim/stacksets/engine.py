"""StackSetEngine: the StackSets API over awssim's own state (moto's StackSet is not used).

Requests are validated when they arrive (errors are API errors, as in AWS); what an
operation does happens later on simulated time (``awssim.stacksets.scheduling``). A stack
set lives in its caller's account and Region and is addressed with the same ``CallAs`` it
was created with: a delegated administrator's stack sets are invisible to ``CallAs=SELF``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from awssim.stacksets import operations, templates
from awssim.stacksets.errors import (
    InvalidOperation,
    NameAlreadyExists,
    OperationInProgress,
    OperationNotFound,
    StackSetNotEmpty,
    StackSetNotFound,
    ValidationError,
)
from awssim.stacksets.model import Change, Operation, StackSet, Target
from awssim.stacksets.org_access import NOT_AN_ADMIN, OrganizationsAccess
from awssim.stacksets.scheduling import Runner
from awssim.stacksets.state import ground_truth
from awssim.stacksets.targets import SELF_MANAGED, SERVICE_MANAGED

if TYPE_CHECKING:
    from collections.abc import Callable

    from awssim.organization import OrgView
    from awssim.simulator import Simulator

SELF = "SELF"
DELEGATED_ADMIN = "DELEGATED_ADMIN"
_NAME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]{0,127}$")


@dataclass(frozen=True)
class Caller:
    """Who calls: account, Region and the CallAs they call with."""

    account: str
    region: str
    call_as: str


class StackSetEngine:
    """Stack sets, their instances and asynchronous operations."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.runner = Runner(sim)
        self.organizations_access = OrganizationsAccess(sim)
        self._stack_sets: list[StackSet] = []

    def reset(self) -> None:
        """Forget every stack set; trusted access is on again, as the org is seeded."""
        self._stack_sets = []
        self.organizations_access.reset()

    def state(self) -> dict[str, Any]:
        """Ground truth, JSON-safe: every stack set with its instances and operations."""
        return ground_truth(self._stack_sets)

    # --- callers and lookups ------------------------------------------------------------
    def caller(self, account: str, region: str, call_as: str | None) -> Caller:
        """Check ``CallAs`` for the calling account."""
        call_as = call_as or SELF
        if call_as not in {SELF, DELEGATED_ADMIN}:
            raise ValidationError(message=f"CallAs must be SELF or DELEGATED_ADMIN (got {call_as})")
        if call_as == DELEGATED_ADMIN and account not in self.sim.org.delegated_admins():
            raise ValidationError(message="Account used is not a delegated administrator")
        return Caller(account, region, call_as)

    def find(self, caller: Caller, name: str | None) -> StackSet:
        """The caller's active stack set by name or id."""
        for stack_set in self._visible(caller):
            if stack_set.status == "ACTIVE" and name in {stack_set.name, stack_set.stack_set_id}:
                return stack_set
        raise StackSetNotFound(str(name))

    def stack_sets(self, caller: Caller, status: str | None) -> list[StackSet]:
        """The caller's stack sets: AWS lists DELETED ones too unless ``status`` narrows it."""
        return [s for s in self._visible(caller) if status is None or s.status == status]

    def operation(self, caller: Caller, name: str | None, operation_id: str | None) -> Operation:
        """One operation of one of the caller's stack sets."""
        found = self.find(caller, name).operation(str(operation_id))
        if found is None:
            raise OperationNotFound(str(operation_id))
        return found

    def _visible(self, caller: Caller) -> list[StackSet]:
        return [
            s
            for s in self._stack_sets
            if (s.account, s.region, s.call_as) == (caller.account, caller.region, caller.call_as)
        ]

    # --- stack sets ---------------------------------------------------------------------
    def create_stack_set(self, caller: Caller, request: dict[str, Any]) -> StackSet:
        """CreateStackSet: validate and store; no operation runs."""
        name = str(request.get("StackSetName") or "")
        if not _NAME.match(name):
            raise ValidationError(
                message=f"1 validation error detected: Value '{name}' at 'stackSetName' failed "
                "to satisfy constraint: Member must satisfy regular expression pattern: "
                "[a-zA-Z][-a-zA-Z0-9]*"
            )
        token = request.get("ClientRequestToken")
        for existing in self._stack_sets:
            same_place = (existing.account, existing.region) == (caller.account, caller.region)
            if same_place and existing.status == "ACTIVE" and existing.name == name:
                if token and existing.client_request_token == token:
                    return existing
                raise NameAlreadyExists(name)
        model = request.get("PermissionModel") or SELF_MANAGED
        management = self.sim.org.management_account_id
        if model == SERVICE_MANAGED and caller.call_as == SELF and caller.account != management:
            raise ValidationError(message=NOT_AN_ADMIN)
        if model == SERVICE_MANAGED:
            self.organizations_access.require()
        if request.get("StackId"):
            raise ValidationError(message="Creating a stack set from a stack is not supported")
        body = templates.template_body(request.get("TemplateBody"), request.get("TemplateURL"))
        template = templates.parse_template(body)
        capabilities = list(request.get("Capabilities") or [])
        templates.check_capabilities(template, capabilities)
        parameters = templates.resolve_parameters(template, request.get("Parameters"), {})
        stack_set_id = f"{name}:{uuid.uuid4()}"
        stack_set = StackSet(
            name=name,
            stack_set_id=stack_set_id,
            arn=f"arn:aws:cloudformation:{caller.region}:{caller.account}:stackset/{stack_set_id}",
            account=caller.account,
            region=caller.region,
            call_as=caller.call_as,
            permission_model=model,
            change=Change(body, template, parameters, 0),
            description=request.get("Description"),
            capabilities=capabilities,
            tags=_tags(request.get("Tags")),
            managed_execution=bool((request.get("ManagedExecution") or {}).get("Active")),
            client_request_token=token,
        )
        if model == SERVICE_MANAGED:
            stack_set.auto_deployment = dict(request.get("AutoDeployment") or {"Enabled": False})
        else:
            stack_set.administration_role_arn = request.get("AdministrationRoleARN") or (
                f"arn:aws:iam::{caller.account}:role/AWSCloudFormationStackSetAdministrationRole"
            )
            stack_set.execution_role_name = (
                request.get("ExecutionRoleName") or "AWSCloudFormationStackSetExecutionRole"
            )
        self._stack_sets.append(stack_set)
        return stack_set

    def update_stack_set(self, caller: Caller, request: dict[str, Any]) -> Operation:
        """UpdateStackSet: a new template/parameters version, deployed to the chosen targets."""
        stack_set = self.find(caller, request.get("StackSetName"))
        self._require_access(stack_set)
        op_id = operations.new_operation_id(stack_set, request)
        change, changed = self._new_change(stack_set, request)
        targets = operations.update_targets(self.sim.org, stack_set, request)
        managed = request.get("ManagedExecution")
        active = stack_set.managed_execution if managed is None else bool(managed.get("Active"))
        if active != stack_set.managed_execution and stack_set.active_operations():
            raise InvalidOperation(
                "You can't modify the execution configuration of a stack set while it "
                "has running or queued operations"
            )
        model = request.get("PermissionModel")
        if model is not None and model != stack_set.permission_model:
            raise ValidationError(message="The permission model of a stack set cannot be changed")
        op = operations.build(
            self.sim, stack_set, request, operation_id=op_id, action="UPDATE", targets=targets
        )
        if changed:
            change.version = stack_set.next_version()
        op.change = change
        op.marks_outdated = changed or _names_template_or_values(request)
        stack_set.managed_execution = active
        self._apply_settings(stack_set, request)
        self.runner.submit(stack_set, op)
        return op

    def _apply_settings(self, stack_set: StackSet, request: dict[str, Any]) -> None:
        """UpdateStackSet's settings take effect at once; the template when its operation runs."""
        stack_set.capabilities = list(request.get("Capabilities") or [])
        if request.get("Description") is not None:
            stack_set.description = request["Description"]
        if request.get("Tags") is not None:
            stack_set.tags = _tags(request["Tags"])
        if request.get("AutoDeployment") is not None and stack_set.auto_deployment is not None:
            stack_set.auto_deployment = dict(request["AutoDeployment"])
        for key, attribute in (
            ("AdministrationRoleARN", "administration_role_arn"),
            ("ExecutionRoleName", "execution_role_name"),
        ):
            if request.get(key) is not None and stack_set.permission_model == SELF_MANAGED:
                setattr(stack_set, attribute, request[key])

    def _new_change(self, stack_set: StackSet, request: dict[str, Any]) -> tuple[Change, bool]:
        """The update's template and parameters, and whether they differ from the current."""
        if request.get("UsePreviousTemplate"):
            if request.get("TemplateBody") or request.get("TemplateURL"):
                raise ValidationError(
                    message="UsePreviousTemplate cannot be used with TemplateBody or TemplateURL"
                )
            body = stack_set.change.body
        else:
            body = templates.template_body(request.get("TemplateBody"), request.get("TemplateURL"))
        template = templates.parse_template(body)
        templates.check_capabilities(template, list(request.get("Capabilities") or []))
        current = stack_set.change
        previous = templates.effective_parameters(current.template, current.parameters, {})
        parameters = templates.resolve_parameters(template, request.get("Parameters"), previous)
        unchanged = template == current.template and previous == templates.effective_parameters(
            template, parameters, {}
        )
        return Change(body, template, parameters, current.version), not unchanged

    def delete_stack_set(self, caller: Caller, name: str | None) -> None:
        """DeleteStackSet: only an idle stack set without instances."""
        stack_set = self.find(caller, name)
        if stack_set.active_operations():
            raise OperationInProgress(stack_set.arn)
        if stack_set.instances:
            raise StackSetNotEmpty(stack_set.name)
        stack_set.status = "DELETED"

    # --- stack instances ----------------------------------------------------------------
    def create_stack_instances(self, caller: Caller, request: dict[str, Any]) -> Operation:
        """CreateStackInstances: deploy the stack set to new accounts/Regions."""
        return self._submit(caller, request, "CREATE", operations.create_targets)

    def update_stack_instances(self, caller: Caller, request: dict[str, Any]) -> Operation:
        """UpdateStackInstances: new parameter overrides for existing instances."""
        return self._submit(caller, request, "UPDATE", operations.override_targets)

    def delete_stack_instances(self, caller: Caller, request: dict[str, Any]) -> Operation:
        """DeleteStackInstances: delete (or, with RetainStacks, let go of) instances."""
        return self._submit(caller, request, "DELETE", operations.delete_targets)

    def _submit(
        self,
        caller: Caller,
        request: dict[str, Any],
        action: str,
        resolve: Callable[[OrgView, StackSet, dict[str, Any]], list[Target]],
    ) -> Operation:
        """Resolve an instance call's targets, build its operation and queue it."""
        stack_set = self.find(caller, request.get("StackSetName"))
        self._require_access(stack_set)
        op_id = operations.new_operation_id(stack_set, request)
        targets = resolve(self.sim.org, stack_set, request)
        op = operations.build(
            self.sim, stack_set, request, operation_id=op_id, action=action, targets=targets
        )
        if action == "DELETE":
            op.retain_stacks = bool(request.get("RetainStacks"))
        self.runner.submit(stack_set, op)
        return op

    def _require_access(self, stack_set: StackSet) -> None:
        """A service-managed stack set deploys only with trusted access (org_access)."""
        if stack_set.permission_model == SERVICE_MANAGED:
            self.organizations_access.require()

    def stop_operation(self, caller: Caller, name: str | None, operation_id: str | None) -> None:
        """StopStackSetOperation: only a queued or running operation can be stopped."""
        stack_set = self.find(caller, name)
        op = self.operation(caller, name, operation_id)
        if op.status not in {"QUEUED", "RUNNING"}:
            raise InvalidOperation(
                f"Operation {op.operation_id} is {op.status} and cannot be stopped"
            )
        self.runner.stop(stack_set, op, self.sim.now())


def _names_template_or_values(request: dict[str, Any]) -> bool:
    """Whether an ``UpdateStackSet`` request counts as changing the template or parameters
    in the API reference's words (UpdateStackSet, ``Regions``: "if the TemplateBody or
    TemplateURL properties are specified), or the Parameters property"): it names a template
    or gives any parameter a value, even the one the stack set already holds. Only
    ``UsePreviousTemplate`` with every parameter ``UsePreviousValue`` (or none given)
    leaves it out."""
    if request.get("TemplateBody") or request.get("TemplateURL"):
        return True
    return any(entry.get("ParameterValue") is not None for entry in request.get("Parameters") or [])


def _tags(raw: list[dict[str, Any]] | None) -> dict[str, str]:
    return {str(tag["Key"]): str(tag.get("Value", "")) for tag in raw or []}
