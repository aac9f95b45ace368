"""Trusted access for StackSets with AWS Organizations, as CloudFormation keeps it.

CloudFormation's ``ActivateOrganizationsAccess`` turns its own switch on and enables the
Organizations service principal ``member.org.stacksets.cloudformation.amazonaws.com``;
``DeactivateOrganizationsAccess`` undoes both. Enabling the principal through Organizations
alone is not enough (users report the same error after it), and disabling it there cuts
StackSets off, so ``DescribeOrganizationsAccess`` answers ENABLED only with both. Without
it every service-managed stack set operation that deploys (CreateStackSet, UpdateStackSet,
Create/Update/DeleteStackInstances) fails with CloudFormation's ``ValidationError: You must
enable organizations access to operate a service managed stack set``. The org seeds with
trusted access on; a scenario may turn it off.

Only the management account activates or deactivates it (InvalidOperationException for a
member account, awssim's wording). DescribeOrganizationsAccess answers the management
account (``CallAs`` SELF) and a registered delegated administrator (``DELEGATED_ADMIN``);
another account gets the ValidationError a member gets for service-managed stack sets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from awssim.identity import STACKSETS_PRINCIPAL
from awssim.stacksets.errors import InvalidOperation, ValidationError

if TYPE_CHECKING:
    from awssim.simulator import Simulator
    from awssim.stacksets.engine import Caller

ENABLED = "ENABLED"
DISABLED = "DISABLED"
ACCESS_REQUIRED = "You must enable organizations access to operate a service managed stack set"
NOT_AN_ADMIN = (
    "You must be the management account or delegated admin account of an organization "
    "before operating a SERVICE_MANAGED stack set"
)


class OrganizationsAccess:
    """CloudFormation's switch for trusted access, read with the organization's principal."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.activated = True

    def reset(self) -> None:
        """Back to the seeded organization's state: activated."""
        self.activated = True

    def status(self) -> str:
        """ENABLED when activated and the StackSets principal is enabled, else DISABLED."""
        enabled = any(
            service.get("ServicePrincipal") == STACKSETS_PRINCIPAL
            for service in self.sim.org.backend.services
        )
        return ENABLED if self.activated and enabled else DISABLED

    def describe(self, caller: Caller) -> str:
        """DescribeOrganizationsAccess for a caller whose CallAs was checked already."""
        if caller.call_as == "SELF" and caller.account != self.sim.org.management_account_id:
            raise ValidationError(message=NOT_AN_ADMIN)
        return self.status()

    def activate(self, account: str) -> None:
        """ActivateOrganizationsAccess, by the management account."""
        self._check_management(account, "activate")
        self.turn(on=True)

    def deactivate(self, account: str) -> None:
        """DeactivateOrganizationsAccess, by the management account."""
        self._check_management(account, "deactivate")
        self.turn(on=False)

    def turn(self, *, on: bool) -> None:
        """Activate or deactivate trusted access (the switch and the org's principal)."""
        self.activated = on
        backend = self.sim.org.backend
        if on:
            backend.enable_aws_service_access(ServicePrincipal=STACKSETS_PRINCIPAL)
        else:
            backend.disable_aws_service_access(ServicePrincipal=STACKSETS_PRINCIPAL)

    def require(self) -> None:
        """Raise CloudFormation's error unless trusted access is ENABLED."""
        if self.status() != ENABLED:
            raise ValidationError(message=ACCESS_REQUIRED)

    def _check_management(self, account: str, verb: str) -> None:
        if account != self.sim.org.management_account_id:
            msg = f"Only the management account of the organization can {verb} organizations access"
            raise InvalidOperation(msg)
