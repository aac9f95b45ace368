"""Synthetic organizations for benchmarks: org data of a given size and depth, no file.

``synthetic:ACCOUNTS[:OUS]`` (``load_org``) is the original shape, two levels:
``OUS`` leaf OUs spread under three top-level OUs (Sandbox, NonProd, Prod), plus a
Security OU holding the delegated administrator; the accounts go round-robin to the
leaves.

``synthetic:ACCOUNTS:OUS:DEPTH`` is a tree ``DEPTH`` levels deep with exactly ``OUS`` OUs
(Security included): the three top-level OUs, then every further level larger than the
one above by a common ratio, each OU of a level under the OUs of the level above in
turn, so leaves sit at several depths. The accounts go to every OU but Security, leaf
or not, a leaf taking two shares for an inner OU's one (most accounts sit in leaves,
some in the OUs above them), so some OUs hold more than a page (20) of accounts.

In both shapes ``ACCOUNTS`` counts the member accounts beside the delegated
administrator (``222222222222``, in Security); their ids are ``400000000000`` on.
"""

from __future__ import annotations

from typing import Any

MANAGEMENT_ACCOUNT = "111111111111"
DELEGATED_ADMIN = "222222222222"
FIRST_MEMBER = 400000000000
REGION_NAMES = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")
TOPS = ("Sandbox", "NonProd", "Prod")
SECURITY = "Security"
LEAF_SHARES = 2
"""A leaf OU's share of the accounts, against an inner OU's one."""


def synthetic_data(
    accounts: int, units: int, regions: int = 3, depth: int | None = None
) -> dict[str, Any]:
    """The org file data of a synthetic organization (``depth`` None: the two-level shape).

    Raises ``ValueError`` naming the bound for sizes that cannot make the shape.
    """
    if accounts < 1 or units < 1:
        msg = f"synthetic org needs accounts >= 1 and units >= 1 (got {accounts}, {units})"
        raise ValueError(msg)
    if depth is None:
        top_units = _two_levels(accounts, units)
    else:
        if depth < 1 or units < depth + 1:
            msg = (
                f"synthetic org of depth {depth} needs depth >= 1 and at least depth + 1 "
                f"OUs (a chain {depth} deep and Security; got {units})"
            )
            raise ValueError(msg)
        top_units = _tree(accounts, units - 1, depth)
    top_units.append(
        {"name": SECURITY, "accounts": [{"id": DELEGATED_ADMIN, "name": "delegated-admin"}]}
    )
    return {
        "name": f"synthetic-{accounts}",
        "management_account": {"id": MANAGEMENT_ACCOUNT},
        "delegated_admin": DELEGATED_ADMIN,
        "regions": list(REGION_NAMES[: max(1, min(regions, len(REGION_NAMES)))]),
        "units": top_units,
        "fleet": {
            "nodes_per_target": [2, 2],
            "profiles": [
                {
                    "platform": "amazon",
                    "platform_version": "2023",
                    "tags": {"Distributor": "enabled"},
                }
            ],
        },
    }


def _member(index: int) -> dict[str, Any]:
    return {"id": f"{FIRST_MEMBER + index:012d}", "name": f"member-{index:05d}", "nodes": 2}


def _two_levels(accounts: int, units: int) -> list[dict[str, Any]]:
    """The original shape: ``units`` leaves under three tops, accounts round-robin."""
    leaves: list[dict[str, Any]] = [
        {"name": f"Unit{index:04d}", "accounts": []} for index in range(units)
    ]
    for index in range(accounts):
        leaves[index % units]["accounts"].append(_member(index))
    return [
        {"name": top, "units": leaves[position :: len(TOPS)], "accounts": []}
        for position, top in enumerate(TOPS)
    ]


def level_sizes(total: int, depth: int) -> list[int]:
    """How many of ``total`` OUs sit at each of ``depth`` levels: up to three at the top,
    then a common growth ratio, every level at least one OU."""
    if depth == 1:
        return [total]
    tops = max(1, min(len(TOPS), total - (depth - 1)))
    rest = total - tops
    ratio = _growth(tops, rest, depth - 1)
    weights = [ratio**level for level in range(1, depth)]
    # One OU per level first, so the tree is ``depth`` deep; the rest by weight, rounded
    # on the running total so the levels add up exactly.
    spare = rest - (depth - 1)
    sizes: list[int] = []
    placed = 0.0
    rounded = 0
    for weight in weights:
        placed += spare * weight / sum(weights)
        sizes.append(1 + round(placed) - rounded)
        rounded = round(placed)
    return [tops, *sizes]


def _growth(tops: int, rest: int, levels: int) -> float:
    """The ratio r with tops·(r + r² + … + r^levels) = rest, by bisection."""
    low, high = 0.0, max(1.0, float(rest))
    for _ in range(100):
        middle = (low + high) / 2
        if tops * sum(middle**level for level in range(1, levels + 1)) < rest:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _tree(accounts: int, units: int, depth: int) -> list[dict[str, Any]]:
    """``units`` OUs over ``depth`` levels, accounts in leaves and inner OUs alike."""
    levels: list[list[dict[str, Any]]] = []
    number = 0
    for level, size in enumerate(level_sizes(units, depth)):
        row: list[dict[str, Any]] = []
        for position in range(size):
            if level == 0 and position < len(TOPS):
                name = TOPS[position]
            else:
                name = f"Unit{number:04d}"
                number += 1
            row.append({"name": name, "accounts": [], "units": []})
        if levels:
            above = levels[-1]
            for position, unit in enumerate(row):
                above[position % len(above)]["units"].append(unit)
        levels.append(row)
    every = [unit for row in levels for unit in row]
    shares = [unit for unit in every for _ in range(LEAF_SHARES if not unit["units"] else 1)]
    for index in range(accounts):
        shares[index % len(shares)]["accounts"].append(_member(index))
    return levels[0]
