"""AWS Organizations: read the organization tree as a ``core.org.Organization`` snapshot."""

from __future__ import annotations

from collections import deque
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

    def snapshot(self) -> Organization:
        """The whole organization now: root, management account, OUs and accounts."""
        organization = self.conn.describe_organization()["Organization"]
        root_id = self._pages("list_roots", "Roots")[0]["Id"]
        units: list[OrgUnit] = []
        accounts: list[Account] = []
        parents = deque([root_id])
        while parents:
            parent = parents.popleft()
            for unit in self._pages(
                "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent
            ):
                units.append(OrgUnit(unit["Id"], unit["Name"], parent))
                parents.append(unit["Id"])
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
