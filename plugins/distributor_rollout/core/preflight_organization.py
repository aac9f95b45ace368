"""The preflight's checks of the organization: the caller, trusted access and the OUs.

* ``caller``: the connection is the registered StackSets delegated administrator
  (``call_as: DELEGATED_ADMIN``) or the management account (``call_as: SELF``);
* ``trusted_access``: trusted access between StackSets and Organizations is enabled;
* ``ous``: every OU the waves name exists (and the waves resolve as a run resolves them).

Each takes what ``hooks.preflight`` read (``core.preflight_records``) and returns a
``Check``: its verdict, what it found and, unless it passed, what to do.
"""

from __future__ import annotations

import re
from typing import Final

from distributor_rollout.core.errors import Problem, wrong
from distributor_rollout.core.org import Organization
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.preflight_records import Check, Readings, Refused, whats
from distributor_rollout.core.waves import resolve_waves

STACKSETS_PRINCIPAL: Final = "member.org.stacksets.cloudformation.amazonaws.com"

REGISTER = (
    "register the account from the management account: aws organizations "
    "register-delegated-administrator --account-id {account} --service-principal "
    f"{STACKSETS_PRINCIPAL} (or CloudFormation console → StackSets → Register delegated "
    "administrator)"
)
ENABLE_TRUSTED_ACCESS = (
    "enable trusted access: ActivateOrganizationsAccess from the management account "
    "(aws cloudformation activate-organizations-access), or CloudFormation console → "
    "StackSets → Enable trusted access"
)


# The caller ------------------------------------------------------------------------------

CALLER = ("caller", "StackSets administrator")


def caller_check(call_as: str, readings: Readings) -> Check:
    """Whether the caller may run service-managed stack sets as ``call_as`` says."""
    if call_as == "SELF":
        return _management_caller(readings)
    caller = readings.caller
    admins = Refused("NotRead") if readings.admins is None else readings.admins
    if isinstance(admins, tuple):
        listed = f"registered: {', '.join(sorted(admins)) or 'none'}"
        if caller in admins:
            return Check(
                *CALLER,
                "pass",
                f"account {caller} is a registered StackSets delegated administrator ({listed})",
            )
        if caller == readings.management:
            return _failed_caller(
                caller,
                f"account {caller} is the management account, which StackSets serves as "
                f"SELF, not DELEGATED_ADMIN ({listed})",
                "set stack_set.call_as: SELF, or run from a registered delegated "
                "administrator account",
            )
        return _failed_caller(
            caller,
            f"account {caller} is not a registered StackSets delegated administrator ({listed})",
            REGISTER.format(account=caller),
        )
    if not admins.denied:
        return _failed_caller(
            caller,
            f"the StackSets delegated administrators cannot be read ({admins})",
            "run from an account of the organization that is its registered StackSets "
            "delegated administrator",
        )
    # ListDelegatedAdministrators answers only the management account and delegated
    # administrators (Organizations API reference), and IAM may deny it besides. Its
    # refusal does not say the caller is unregistered: DescribeOrganizationsAccess with
    # CallAs=DELEGATED_ADMIN answers only an account "registered as a delegated
    # administrator in the management account" (CloudFormation API reference), so its
    # answer, whatever the status, proves the registration. That stays a warning: the
    # CloudFormation User Guide asks delegated administrators to hold
    # organizations:ListDelegatedAdministrators, and StackSets calls made without it fail
    # with "Account used is not a delegated administrator".
    if isinstance(readings.access, str):
        return Check(
            *CALLER,
            "warn",
            f"account {caller} is a registered StackSets delegated administrator "
            "(DescribeOrganizationsAccess answers it as DELEGATED_ADMIN), but it may not "
            f"call organizations:ListDelegatedAdministrators ({admins})",
            "allow organizations:ListDelegatedAdministrators to the connection's "
            "principal: CloudFormation asks it of delegated administrators, and StackSets "
            "calls fail without it",
        )
    return _failed_caller(
        caller,
        f"account {caller} is not shown to be a registered StackSets delegated "
        f"administrator: ListDelegatedAdministrators was refused ({admins.code}), and so was "
        f"DescribeOrganizationsAccess as DELEGATED_ADMIN ({readings.access})",
        REGISTER.format(account=caller)
        + "; if it is registered, allow organizations:ListDelegatedAdministrators and "
        "cloudformation:DescribeOrganizationsAccess to the connection's principal",
    )


def _management_caller(readings: Readings) -> Check:
    caller, management = readings.caller, readings.management
    if isinstance(management, Refused):
        return _failed_caller(
            caller,
            f"the organization cannot be read to find its management account ({management})",
            "with call_as SELF, run as the organization's management account",
        )
    if caller == management:
        return Check(*CALLER, "pass", f"account {caller} is the management account (call_as SELF)")
    return _failed_caller(
        caller,
        f"account {caller} is not the management account {management}, which call_as SELF needs",
        "run as the management account, or set stack_set.call_as: DELEGATED_ADMIN and run "
        "from a registered StackSets delegated administrator",
    )


def _failed_caller(caller: str, what: str, todo: str) -> Check:
    return Check(*CALLER, "fail", what, todo, (wrong("stack_set.call_as", what, caller, todo),))


# Trusted access --------------------------------------------------------------------------

TRUSTED_ACCESS = ("trusted_access", "trusted access")


def trusted_access_check(call_as: str, access: str | Refused) -> Check:
    """Whether StackSets may act in the organization (DescribeOrganizationsAccess)."""
    if isinstance(access, Refused):
        return Check(
            *TRUSTED_ACCESS,
            "warn",
            f"not checked: DescribeOrganizationsAccess as {call_as} was refused ({access})",
            "allow cloudformation:DescribeOrganizationsAccess to the connection's principal "
            "(a refusal as DELEGATED_ADMIN also means the account is not registered: see "
            "the caller check)",
        )
    found = f"StackSets trusted access with AWS Organizations is {access}"
    if access == "ENABLED":
        return Check(*TRUSTED_ACCESS, "pass", found)
    if access in {"DISABLED", "DISABLED_PERMANENTLY"}:
        todo = ENABLE_TRUSTED_ACCESS
        problem = wrong(
            "stack_set",
            "StackSets trusted access with AWS Organizations is not enabled",
            access,
            todo,
        )
        return Check(*TRUSTED_ACCESS, "fail", found, todo, (problem,))
    # The API reference lists ENABLED, DISABLED and DISABLED_PERMANENTLY; anything else
    # (an activation still in progress) is neither proof nor refusal.
    return Check(
        *TRUSTED_ACCESS,
        "warn",
        found,
        "wait until DescribeOrganizationsAccess says ENABLED before the first wave",
    )


# OUs -------------------------------------------------------------------------------------

OUS = ("ous", "OUs")
_OU_PATH = re.compile(r"^waves\[(?P<wave>\d+)\]\.ous\[(?P<ou>\d+)\]$")


def ou_check(plan: Plan, organization: Organization | Refused) -> Check:
    """Whether every OU of the waves exists, resolved as a run resolves them."""
    if isinstance(organization, Refused):
        todo = (
            "run as the management account or a registered delegated administrator (see "
            "the caller check) whose principal may call organizations:DescribeOrganization, "
            "ListRoots, ListOrganizationalUnitsForParent and ListAccountsForParent"
        )
        what = f"the organization cannot be read ({organization})"
        return Check(*OUS, "fail", what, todo, (wrong("waves", what, None, todo),))
    resolution = resolve_waves(plan, organization)
    problems: list[Problem] = []
    missing: list[str] = []
    overlaps: list[str] = []
    for problem in resolution.problems:
        match = _OU_PATH.match(problem.path)
        if match is None:  # waves that overlap: a run stops on them before any change
            problems.append(problem)
            overlaps.append(f"{problem.path} {whats([problem])}")
            continue
        wave = plan.waves[int(match["wave"])]
        ref = wave.ous[int(match["ou"])]
        missing.append(f"wave {wave.name}: {ref}")
        problems.append(
            wrong(
                problem.path,
                f"wave {wave.name!r}: OU {ref} is not in the organization",
                ref,
                "an OU that exists: create it, or name one of "
                + ", ".join(sorted(organization.id_by_path)[:10]),
            )
        )
    if problems:
        found = "; ".join([*(["missing: " + "; ".join(missing)] if missing else []), *overlaps])
        todo = "fix the waves' OUs (OU ids, or paths like /Prod/EU): each must exist, once"
        return Check(*OUS, "fail", found, todo, tuple(problems))
    named = list(dict.fromkeys(ref for wave in plan.waves for ref in wave.ous))
    found = f"all {len(named)} OUs of the {len(plan.waves)} waves exist: {', '.join(named)}"
    if resolution.warnings:
        warnings = "; ".join(resolution.warnings)
        return Check(*OUS, "warn", f"{found}; {warnings}", "check the waves' OUs and filters")
    return Check(*OUS, "pass", found)
