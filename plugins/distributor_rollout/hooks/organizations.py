"""AWS Organizations: read the organization tree as a ``core.org.Organization`` snapshot.

A snapshot can be scoped to the OUs a plan names (by path): only those OUs' subtrees are
read in full, and of the OUs on the way to them only their child OU lists. A plan on one
OU of a 5,000-account organization then costs tens of calls per task, not hundreds; a
plan on the root, or naming an OU by id (whose place in the tree is unknown until it is
found), reads the whole organization.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection
from typing import Any

from distributor_rollout.core.org import ACTIVE, Account, Organization, OrgUnit
from distributor_rollout.hooks.retries import RetryingAwsHook

#: The largest page ListOrganizationalUnitsForParent and ListAccountsForParent return.
PAGE_SIZE = 20


class OrganizationsHook(RetryingAwsHook):
    """Interact with AWS Organizations (``boto3.client("organizations")``).

    Reading the tree walks it parent by parent, so it costs API calls in proportion to
    the OUs (two per OU, plus one per further page of 20), not to the accounts: one
    ``ListAccountsForParent`` page answers for 20 accounts at once.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "organizations"
        super().__init__(*args, **kwargs)

    def snapshot(self, scope: Collection[str] | None = None) -> Organization:
        """The organization now: root, management account, OUs and accounts.

        :param scope: OU paths (``/Prod/EU``) the caller will resolve; None (or a scope
            holding ``/`` or an OU id) reads everything. Otherwise the snapshot holds every
            OU and account under the scoped OUs, and the OUs on the way to them (without
            their accounts): a path that names no OU is missing from it, as from a whole
            snapshot.
        """
        organization = self.conn.describe_organization()["Organization"]
        root_id = self._pages("list_roots", "Roots")[0]["Id"]
        wanted = _scoped_paths(scope)
        units: list[OrgUnit] = []
        accounts: list[Account] = []
        # (parent id, its path, whether everything below it is wanted)
        parents = deque([(root_id, "/", wanted is None)])
        while parents:
            parent, path, whole = parents.popleft()
            for unit in self._pages(
                "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent
            ):
                child = path.rstrip("/") + "/" + unit["Name"]
                inside = whole or (wanted is not None and child in wanted)
                if inside or (wanted is not None and _on_the_way(child, wanted)):
                    units.append(OrgUnit(unit["Id"], unit["Name"], parent))
                    parents.append((unit["Id"], child, inside))
            if not whole:
                continue
            accounts.extend(
                # ``Status`` is being replaced by ``State``; either names ACTIVE/SUSPENDED.
                Account(
                    item["Id"],
                    item["Name"],
                    parent,
                    item.get("Status") or item.get("State") or ACTIVE,
                )
                for item in self._pages("list_accounts_for_parent", "Accounts", ParentId=parent)
            )
        return Organization(
            root_id=root_id,
            management_account_id=organization["MasterAccountId"],
            units=tuple(units),
            accounts=tuple(accounts),
        )

    def _pages(self, operation: str, key: str, **request: Any) -> list[dict[str, Any]]:
        """Every item of a paginated list call, fetched in the largest pages allowed."""
        paginator = self.conn.get_paginator(operation)
        config = {"PageSize": PAGE_SIZE} if operation != "list_roots" else {}
        return [
            item
            for page in paginator.paginate(**request, PaginationConfig=config)
            for item in page.get(key, [])
        ]


def _scoped_paths(scope: Collection[str] | None) -> frozenset[str] | None:
    """The OU paths to read in full, normalised as ``core.waves`` resolves them; None for
    the whole organization (no scope, the root, or an OU named by id)."""
    if scope is None:
        return None
    paths = set()
    for ref in scope:
        if not ref.startswith("/"):
            return None
        path = "/" + ref.strip("/")
        if path == "/":
            return None
        paths.add(path)
    return frozenset(paths)


def _on_the_way(path: str, wanted: frozenset[str]) -> bool:
    """Whether an OU at ``path`` is an ancestor of a wanted OU (an OU name may itself hold
    a ``/``, so ancestry is by path prefix, as ``Organization.path_of`` spells paths)."""
    prefix = path + "/"
    return any(target.startswith(prefix) for target in wanted)
