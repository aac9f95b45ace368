"""S3 bucket policies evaluated with their conditions.

moto 5.2.5 evaluates a bucket policy's statements without their ``Condition``: the
package-bucket policy's "deny plain HTTP" statement then denies every request, even
HTTPS ones. awssim evaluates the conditions instead, in the context its callers really
have: every AWS SDK call is HTTPS (``aws:SecureTransport`` is true; the loopback HTTP only
stands in for it) and every caller is a principal of the simulated organization
(``aws:PrincipalOrgID``). A condition on a key outside that context does not match.

``account_allowed`` answers what moto never asks: whether a policy grants an action to a
principal of another account (the simulated agent's downloads, HeadBucket across accounts).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from typing import Any

from moto.iam.access_control import PermissionResult
from moto.s3.models import FakeBucket

from awssim import runtime

_installed = False


def request_context(org_id: str | None) -> dict[str, str]:
    """The condition keys awssim knows for any request."""
    context = {"aws:securetransport": "true"}
    if org_id:
        context["aws:principalorgid"] = org_id
    return context


def evaluate(
    policy: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]
) -> str:
    """``DENIED``, ``PERMITTED`` or ``NEUTRAL`` for a public-principal request.

    Statements naming specific principals are left out (NEUTRAL), as moto does: the
    simulator does not know which IAM principal stands behind a request here.
    """
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    permitted = False
    for statement in statements:
        if not _applies(statement, action, resource, context):
            continue
        if statement.get("Effect") == "Deny":
            return "DENIED"
        permitted = True
    return "PERMITTED" if permitted else "NEUTRAL"


def _applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]
) -> bool:
    if not _public(statement.get("Principal")):
        return False
    if "NotAction" in statement:
        if _matches(statement["NotAction"], action):
            return False
    elif not _matches(statement.get("Action", []), action):
        return False
    if "Resource" in statement and not _matches(statement["Resource"], resource, case=True):
        return False
    return conditions_hold(statement.get("Condition", {}), context)


def _public(principal: Any) -> bool:
    return principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*")


def _matches(patterns: Any, value: str, *, case: bool = False) -> bool:
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    if case:
        return any(fnmatch.fnmatchcase(value, item) for item in items)
    return any(fnmatch.fnmatchcase(value.lower(), item.lower()) for item in items)


def conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    """Whether every condition holds (Bool, String[Not]Equals, String[Not]Like,
    Arn[Not]Equals, Arn[Not]Like)."""
    for operator, clauses in conditions.items():
        for key, expected in clauses.items():
            actual = context.get(key.lower())
            wanted = [expected] if isinstance(expected, str | bool) else list(expected)
            wanted = [str(w).lower() if isinstance(w, bool) else str(w) for w in wanted]
            if not _holds(operator, actual, wanted):
                return False
    return True


def _holds(operator: str, actual: str | None, wanted: list[str]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if actual is None:
        return if_exists
    if base == "Bool":
        return actual.lower() in {w.lower() for w in wanted}
    if base == "StringEquals":
        return actual in wanted
    if base == "StringNotEquals":
        return actual not in wanted
    if base == "StringLike":
        return any(fnmatch.fnmatchcase(actual, w) for w in wanted)
    if base == "StringNotLike":
        return not any(fnmatch.fnmatchcase(actual, w) for w in wanted)
    if base in {"ArnEquals", "ArnLike"}:
        return any(fnmatch.fnmatchcase(actual, w) for w in wanted)
    if base in {"ArnNotEquals", "ArnNotLike"}:
        return not any(fnmatch.fnmatchcase(actual, w) for w in wanted)
    return False


def account_allowed(
    policy: bytes | str | None,
    action: str,
    resource: str,
    account: str,
    context: Mapping[str, str],
) -> bool:
    """Whether a bucket policy allows ``action`` on ``resource`` to a principal of
    ``account`` (named by account id, its root, or ``*``), no statement denying it."""
    if not policy:
        return False
    try:
        statements = json.loads(policy).get("Statement", [])
    except (ValueError, AttributeError):
        return False
    allowed = False
    for statement in [statements] if isinstance(statements, dict) else statements:
        if not isinstance(statement, dict) or not _names_account(statement, account):
            continue
        if not _matches(statement.get("Action", []), action):
            continue
        if not _matches(statement.get("Resource", []), resource, case=True):
            continue
        if not conditions_hold(statement.get("Condition") or {}, context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _names_account(statement: Mapping[str, Any], account: str) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    named = (principal or {}).get("AWS") if isinstance(principal, dict) else None
    names = [named] if isinstance(named, str) else list(named or [])
    return any(str(name) in ("*", account, f"arn:aws:iam::{account}:root") for name in names)


def _get_permission(self: FakeBucket, action: str, resource: str) -> PermissionResult:
    if self.policy is None:
        return PermissionResult.NEUTRAL
    policy = json.loads(self.policy)
    org_id = runtime.current().org.org_id
    result = evaluate(policy, action, resource, request_context(org_id))
    return PermissionResult[result]


def install() -> None:
    """Patch moto's bucket policy evaluation (idempotent)."""
    global _installed  # noqa: PLW0603 - one patch per process
    if not _installed:
        FakeBucket.get_permission = _get_permission  # type: ignore[method-assign]
        _installed = True
