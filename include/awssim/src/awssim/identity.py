"""Who is calling: access keys to accounts, AssumeRole trust, and org reads for the admin.

moto maps an unknown access key to one default account. awssim instead maps

* a key moto issued (an IAM user's, or AssumeRole credentials) to its account, as moto does;
* a 12-digit key (``AWS_ACCESS_KEY_ID=300000000001``) to that account, LocalStack-style;
* any other key to the simulator's default account, the org's delegated administrator,
  so a product configured with dummy credentials acts as the delegated admin.

AWS checks a role's trust policy on AssumeRole; moto does not. awssim does, for roles in
the simulated organization's accounts, so a missing or untrusting member role is the same
AccessDenied it would be in AWS. A registered delegated administrator may read the
organization (Describe*/List*, ListDelegatedAdministrators included), as with an
Organizations resource-based delegation policy; any other member gets AccessDeniedException
for those reads, and every member for the management account's own changes (registering
delegated administrators, enabling or disabling trusted access for a service).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from moto.core.exceptions import AccessDeniedError
from moto.core.responses import BaseResponse
from moto.iam import models as iam_models
from moto.iam.models import iam_backends
from moto.organizations.exceptions import OrganizationsClientError
from moto.organizations.models import (
    FakeDelegatedAdministrator,
    OrganizationsBackend,
    organizations_backends,
)
from moto.organizations.responses import OrganizationsResponse
from moto.sts.responses import TokenResponse as STSResponse

from awssim import runtime
from awssim.bucket_policy import conditions_hold

STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"
_ACCOUNT_KEY = re.compile(r"^\d{12}$")
_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/,\s]+)/")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/(?:.*/)?(?P<name>[^/]+)$")
_key_accounts: dict[str, str] = {}
_installed = False


def account_for_key(access_key: str) -> str:
    """The account an access key belongs to (see the module docstring)."""
    cached = _key_accounts.get(access_key)
    if cached is not None:
        return cached
    for account_id, account in list(iam_backends.items()):
        for partition in account:
            if access_key in account[partition].access_keys:
                _key_accounts[access_key] = account_id
                return account_id
    # Every request asks: remember unknown keys too (moto never reissues a key string,
    # and a reload forgets them all), or each call would scan every account's IAM.
    account = access_key if _ACCOUNT_KEY.match(access_key) else runtime.current().default_account
    _key_accounts[access_key] = account
    return account


def trust_allows(policy_document: str, caller_account: str, caller_arn: str) -> bool:
    """Whether a trust policy lets ``caller`` (account and principal ARN) sts:AssumeRole."""
    try:
        policy = json.loads(policy_document)
    except (TypeError, ValueError):
        return False
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = _as_list(statement.get("Action"))
        if not any(action in {"sts:AssumeRole", "sts:*", "*"} for action in actions):
            continue
        principal = statement.get("Principal")
        principals = ["*"] if principal == "*" else _as_list((principal or {}).get("AWS"))
        named = any(
            entry in {"*", caller_account, caller_arn}
            or entry.endswith(f":iam::{caller_account}:root")
            for entry in principals
        )
        # Conditions hold as AWS evaluates them (e.g. the compliance reader trusts only
        # the runner's role through aws:PrincipalArn); a key awssim does not know fails.
        context = {
            "aws:principalarn": principal_arn(caller_arn),
            "aws:principalaccount": caller_account,
        }
        if named and conditions_hold(statement.get("Condition", {}), context):
            return True
    return False


def principal_arn(caller_arn: str) -> str:
    """``aws:PrincipalArn`` of a caller: an assumed-role session's role (without its path,
    which the session ARN does not carry), an IAM user as IAM names it (moto's
    GetCallerIdentity says ``arn:aws:sts::<account>:user/moto``), anything else as it is."""
    match = re.match(r"^arn:([^:]+):sts::(\d{12}):(assumed-role|user)/([^/]+)", caller_arn)
    if match is None:
        return caller_arn
    partition, account, kind, name = match.groups()
    return f"arn:{partition}:iam::{account}:{'role' if kind == 'assumed-role' else 'user'}/{name}"


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _checked_assume_role(original: Callable[[STSResponse], Any]) -> Callable[[STSResponse], Any]:
    def assume_role(self: STSResponse) -> Any:
        role_arn = self._get_param("RoleArn") or ""
        match = _ROLE_ARN.match(role_arn)
        sim = runtime.current()
        if match and sim.knows_account(match["account"]):
            caller = self.current_account
            _user, caller_arn, _account = self.backend.get_caller_identity(
                self.get_access_key(), self.region
            )
            iam = iam_backends[match["account"]]["global"]
            role = next((r for r in iam.roles.values() if r.name == match["name"]), None)
            if role is None or not trust_allows(
                role.assume_role_policy_document, caller, caller_arn
            ):
                # 403 AccessDenied, worded as AWS words it.
                raise AccessDeniedError(caller_arn, f"sts:AssumeRole on resource: {role_arn}")
        return original(self)

    return assume_role


def _any_access_key(original: Callable[[BaseResponse], str]) -> Callable[[BaseResponse], str]:
    # moto only recognises 20-character AKIA-style keys; awssim's account keys are 12 digits.
    def get_access_key(self: BaseResponse) -> str:
        match = _CREDENTIAL.search(self.headers.get("Authorization", ""))
        return match["key"] if match else original(self)

    return get_access_key


def _org_backend_for_admin(
    original: property,
) -> Callable[[OrganizationsResponse], OrganizationsBackend]:
    def organizations_backend(self: OrganizationsResponse) -> OrganizationsBackend:
        backend: OrganizationsBackend = original.fget(self)  # type: ignore[misc]
        owner = organizations_backends.master_accounts.get(self.current_account)
        action = self._get_action()
        if backend.org is None and owner is not None and action in _MANAGEMENT_CHANGES:
            raise _access_denied()
        if backend.org is None and owner is not None and _is_read(action):
            master = organizations_backends[owner[0]][owner[1]]
            if any(admin.account.id == self.current_account for admin in master.admins):
                return master
            if action != "DescribeOrganization":
                # moto answers members' ListRoots from the management account; AWS refuses.
                raise _access_denied()
        return backend

    return organizations_backend


# Changes only the management account makes (moto would answer a member with an error of
# its own organization-less backend instead of AWS's AccessDeniedException).
_MANAGEMENT_CHANGES = frozenset(
    {
        "RegisterDelegatedAdministrator",
        "DeregisterDelegatedAdministrator",
        "EnableAWSServiceAccess",
        "DisableAWSServiceAccess",
    }
)


def _access_denied() -> OrganizationsClientError:
    return OrganizationsClientError(
        "AccessDeniedException", "You don't have permissions to access this resource."
    )


def _is_read(action: str) -> bool:
    return action.startswith(("Describe", "List"))


def install() -> None:
    """Patch moto once per process (idempotent)."""
    global _installed  # noqa: PLW0603 - one set of patches per process
    if _installed:
        return
    iam_models.get_account_id_from = account_for_key
    BaseResponse.get_access_key = _any_access_key(BaseResponse.get_access_key)  # type: ignore[method-assign]
    # AWS accepts StackSets as a delegated-administrator service; moto 5.2.5 does not.
    if STACKSETS_PRINCIPAL not in FakeDelegatedAdministrator.SUPPORTED_SERVICES:
        FakeDelegatedAdministrator.SUPPORTED_SERVICES.append(STACKSETS_PRINCIPAL)
    STSResponse.assume_role = _checked_assume_role(STSResponse.assume_role)  # type: ignore[method-assign]
    OrganizationsResponse.organizations_backend = property(  # type: ignore[method-assign,assignment]
        _org_backend_for_admin(OrganizationsResponse.organizations_backend)  # type: ignore[arg-type]
    )
    _installed = True


def forget_keys() -> None:
    """Drop cached key lookups (after a reset, keys may be reissued)."""
    _key_accounts.clear()
