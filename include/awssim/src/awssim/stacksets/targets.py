"""Which accounts an operation acts on: DeploymentTargets against the live organization.

Service-managed stack sets target OUs (their nested OUs included), optionally filtered by
accounts; self-managed ones target accounts. Either way the result is resolved when the
request arrives, against the organization as moto holds it then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from awssim.organization import OrgView
from awssim.stacksets.errors import ValidationError

SERVICE_MANAGED = "SERVICE_MANAGED"
SELF_MANAGED = "SELF_MANAGED"
MAX_OUS_PER_CALL = 50
_OU_ID = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


@dataclass(frozen=True)
class Resolved:
    """The accounts a request targets, each with the OU it was targeted through ("" if none)."""

    accounts: list[tuple[str, str]]
    ous: list[str]

    @property
    def by_ou(self) -> bool:
        """Whether the request named OUs (rather than only accounts)."""
        return bool(self.ous)


def check_regions(regions: list[str] | None) -> list[str]:
    """The request's Regions, which must be given and well formed."""
    if not regions:
        raise ValidationError(message="Regions must be specified")
    for region in regions:
        if not _REGION.match(region):
            raise ValidationError(message=f"Region {region} is not a valid AWS Region")
    return list(dict.fromkeys(regions))


def resolve(
    org: OrgView,
    permission_model: str,
    accounts: list[str] | None,
    deployment_targets: dict[str, Any] | None,
    *,
    creating: bool,
) -> Resolved:
    """Resolve Accounts / DeploymentTargets for a stack set of ``permission_model``."""
    if permission_model == SERVICE_MANAGED:
        return _service_managed(org, accounts, deployment_targets or {}, creating=creating)
    return _self_managed(accounts, deployment_targets or {})


def _self_managed(accounts: list[str] | None, targets: dict[str, Any]) -> Resolved:
    if targets.get("OrganizationalUnitIds"):
        raise ValidationError(
            message="OrganizationalUnitIds can only be specified for stack sets with "
            "SERVICE_MANAGED permissions"
        )
    if accounts and targets.get("Accounts"):
        raise ValidationError(
            message="You can specify Accounts or DeploymentTargets, but not both."
        )
    chosen = list(accounts or targets.get("Accounts") or [])
    if not chosen:
        raise ValidationError(message="Accounts must be specified")
    _check_accounts(chosen)
    return Resolved([(account, "") for account in dict.fromkeys(chosen)], [])


def _service_managed(
    org: OrgView, accounts: list[str] | None, targets: dict[str, Any], *, creating: bool
) -> Resolved:
    if accounts:
        raise ValidationError(
            message="StackSets with SERVICE_MANAGED permission model can only have "
            "DeploymentTargets as targets; Accounts cannot be specified"
        )
    if targets.get("AccountsUrl"):
        raise ValidationError(message="DeploymentTargets.AccountsUrl is not supported by awssim")
    ous = list(dict.fromkeys(targets.get("OrganizationalUnitIds") or []))
    listed = list(dict.fromkeys(targets.get("Accounts") or []))
    filter_type = targets.get("AccountFilterType")
    if not ous and not listed:
        raise ValidationError(
            message="DeploymentTargets must specify OrganizationalUnitIds or Accounts"
        )
    _check_ous(org, ous)
    _check_accounts(listed)
    members = org.account_ids() if listed else set()
    for account in listed:
        if account not in members:
            raise ValidationError(message=f"Account {account} is not in the organization")
    if creating and ous and listed and filter_type is None:
        raise ValidationError(
            message="AccountFilterType must be specified when both OrganizationalUnitIds "
            "and Accounts are specified"
        )
    if creating and filter_type == "UNION":
        raise ValidationError(
            message="AccountFilterType UNION is not supported for CreateStackInstances"
        )
    chosen = _filter(org, ous, listed, filter_type) if ous else [(a, "") for a in listed]
    # The management account is never a target of a service-managed stack set.
    management = org.management_account_id
    return Resolved([(a, ou) for a, ou in chosen if a != management], ous)


def _filter(
    org: OrgView, ous: list[str], listed: list[str], filter_type: str | None
) -> list[tuple[str, str]]:
    under: dict[str, str] = {}
    for ou in ous:
        for account in org.accounts_under(ou):
            under.setdefault(account, ou)
    kind = filter_type or ("UNION" if listed else "NONE")
    named = set(listed)
    if kind == "INTERSECTION":
        return [(a, ou) for a, ou in under.items() if a in named]
    if kind == "DIFFERENCE":
        return [(a, ou) for a, ou in under.items() if a not in named]
    if kind == "UNION":
        return list(under.items()) + [(a, "") for a in listed if a not in under]
    return list(under.items())


def _check_ous(org: OrgView, ous: list[str]) -> None:
    if len(ous) > MAX_OUS_PER_CALL:
        raise ValidationError(
            message=f"The maximum number of organizational units per operation is "
            f"{MAX_OUS_PER_CALL} (got {len(ous)})"
        )
    for ou in ous:
        if not _OU_ID.match(ou):
            raise ValidationError(
                message=f"1 validation error detected: Value '[{ou}]' at "
                "'deploymentTargets.organizationalUnitIds' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: "
                "^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$"
            )
        if not org.ou_exists(ou):
            raise ValidationError(message=f"OrganizationalUnitId {ou} does not exist")


def _check_accounts(accounts: list[str]) -> None:
    for account in accounts:
        if not _ACCOUNT_ID.match(account):
            raise ValidationError(
                message=f"1 validation error detected: Value '{account}' at 'accounts' failed "
                "to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9]{12}$"
            )
