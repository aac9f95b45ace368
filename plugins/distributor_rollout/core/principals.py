"""Who the runner is, as IAM policies name it (``aws:PrincipalArn``).

``sts:GetCallerIdentity`` names an assumed role by its session
(``arn:aws:sts::111111111111:assumed-role/Runner/session``), but policies see the role
(``arn:aws:iam::111111111111:role/Runner``, with its path when it has one). The session's
ARN does not carry the role's path, so policies match the role with and without a path.
"""

from __future__ import annotations

import re

from distributor_rollout.core.errors import ValidationError, wrong

_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)$"
)


def runner_principal_arn(caller_arn: str) -> str:
    """The ``aws:PrincipalArn`` of a caller: the role of an assumed-role session, an IAM
    user or the account root as they are."""
    match = _ARN.match(caller_arn)
    if match is None:
        problem = wrong("caller", "is not an IAM or STS principal ARN", caller_arn, "arn:...")
        raise ValidationError("runner identity", [problem])
    partition, account, resource = match["partition"], match["account"], match["resource"]
    kind, _, rest = resource.partition("/")
    if match["service"] == "sts" and kind == "assumed-role":
        return f"arn:{partition}:iam::{account}:role/{rest.split('/', 1)[0]}"
    if kind in ("user", "role") or resource == "root":
        return f"arn:{partition}:iam::{account}:{resource}"
    problem = wrong("caller", "is not a role, user or root principal", caller_arn, "a role or user")
    raise ValidationError("runner identity", [problem])


def with_any_path(principal_arn: str) -> str:
    """An ``ArnLike`` pattern matching the role or user under any path
    (``role/Runner`` -> ``role/*/Runner``); the root stays itself."""
    head, sep, name = principal_arn.rpartition("/")
    if not sep:
        return principal_arn
    return f"{head}/*/{name}"
