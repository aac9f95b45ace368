"""Seeds the simulated organization into moto and reads it back, live.

Account ids come from the org file (moto would draw random ones); OU ids are moto's own
(random, like AWS's), so plans address OUs by path. ``OrgView`` answers what stack set
targeting needs (accounts under OUs, nested OUs included; suspended accounts; the
management account) from moto's current state, so MoveAccount and friends are honoured.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from moto.organizations import utils as org_utils
from moto.organizations.models import OrganizationsBackend, organizations_backends

from awssim.identity import STACKSETS_PRINCIPAL
from awssim.orgspec import OrgSpec

PARTITION = "aws"
# Account statuses whose accounts StackSets skip.
CLOSED_OR_CLOSING = frozenset({"SUSPENDED", "PENDING_CLOSURE"})


@contextmanager
def _account_id(account_id: str) -> Iterator[None]:
    """Make moto's next CreateAccount use ``account_id`` instead of a random id."""
    with mock.patch.object(org_utils, "make_random_account_id", return_value=account_id):
        yield


def seed_organization(spec: OrgSpec) -> OrgView:
    """Create the org, its OUs and accounts, and register the delegated administrator."""
    backend = organizations_backends[spec.management_account.id][PARTITION]
    backend.create_organization(region="us-east-1", FeatureSet="ALL")
    root_id = backend.ou[0].id
    ou_ids: dict[str, str] = {}
    for path, unit in spec.units_with_paths():
        parent_path = path.rsplit("/", 1)[0]
        parent_id = ou_ids[parent_path] if parent_path else root_id
        created = backend.create_organizational_unit(ParentId=parent_id, Name=unit.name)
        ou_ids[path] = created["OrganizationalUnit"]["Id"]
    for path, account in spec.accounts():
        with _account_id(account.id):
            backend.create_account(AccountName=account.name, Email=f"{account.name}@example.com")
        backend.move_account(
            AccountId=account.id, SourceParentId=root_id, DestinationParentId=ou_ids[path]
        )
        if account.status != "ACTIVE":
            # moto creates accounts ACTIVE and only CloseAccount changes that (straight to
            # SUSPENDED), so other statuses are set on its model: Status and the newer State
            # read the same, as Organizations shows a closed or closing account.
            moto_account = backend.get_account_by_id(account.id)
            moto_account.status = moto_account.state = account.status
    backend.enable_aws_service_access(ServicePrincipal=STACKSETS_PRINCIPAL)
    backend.register_delegated_administrator(
        AccountId=spec.delegated_admin, ServicePrincipal=STACKSETS_PRINCIPAL
    )
    return OrgView(spec.management_account.id, ou_ids)


class OrgView:
    """Live answers about the organization, read from moto's Organizations backend."""

    def __init__(self, management_account_id: str, ou_ids_by_path: dict[str, str]) -> None:
        self.management_account_id = management_account_id
        self.ou_ids_by_path = dict(ou_ids_by_path)

    @property
    def backend(self) -> OrganizationsBackend:
        """moto's backend for the organization."""
        return organizations_backends[self.management_account_id][PARTITION]

    @property
    def root_id(self) -> str:
        """The root's id (``r-...``)."""
        return self.backend.ou[0].id

    @property
    def org_id(self) -> str:
        """The organization id (``o-...``)."""
        assert self.backend.org is not None
        return self.backend.org.id

    def set_stacksets_admin(self, account_id: str, *, registered: bool) -> None:
        """Register or deregister ``account_id`` as StackSets delegated administrator, as
        RegisterDelegatedAdministrator/DeregisterDelegatedAdministrator do (no-op when it
        already is or is not)."""
        if (account_id in self.delegated_admins()) == registered:
            return
        if registered:
            self.backend.register_delegated_administrator(
                AccountId=account_id, ServicePrincipal=STACKSETS_PRINCIPAL
            )
        else:
            self.backend.deregister_delegated_administrator(
                AccountId=account_id, ServicePrincipal=STACKSETS_PRINCIPAL
            )

    def delegated_admins(self) -> set[str]:
        """Accounts registered as StackSets delegated administrators."""
        return {
            admin.account.id
            for admin in self.backend.admins
            if STACKSETS_PRINCIPAL in admin.services
        }

    def account_ids(self) -> set[str]:
        """Every account in the organization, the management account included."""
        return {account.id for account in self.backend.accounts}

    def is_member(self, account_id: str) -> bool:
        """Whether the account belongs to the organization."""
        return account_id in self.account_ids()

    def status(self, account_id: str) -> str | None:
        """ACTIVE, SUSPENDED, PENDING_CLOSURE (or None for an account outside the org)."""
        for account in self.backend.accounts:
            if account.id == account_id:
                return str(account.status)
        return None

    def closed_or_closing(self, account_id: str) -> bool:
        """Whether the account is SUSPENDED or PENDING_CLOSURE: service-managed StackSets
        skip it (SKIPPED_SUSPENDED_ACCOUNT) rather than deploy to it."""
        return self.status(account_id) in CLOSED_OR_CLOSING

    def parent_of(self, account_id: str) -> str | None:
        """The OU (or root) directly holding an account."""
        for account in self.backend.accounts:
            if account.id == account_id:
                return str(account.parent_id)
        return None

    def ou_exists(self, ou_id: str) -> bool:
        """Whether ``ou_id`` names the root or an OU of the organization."""
        return any(ou.id == ou_id for ou in self.backend.ou)

    def accounts_under(self, ou_id: str) -> list[str]:
        """Accounts in an OU or its descendants (the root: every account), in org order."""
        units = {ou_id}
        children: dict[str, list[str]] = {}
        for ou in self.backend.ou:
            parent = getattr(ou, "parent_id", None)
            if parent is not None:
                children.setdefault(str(parent), []).append(str(ou.id))
        stack = [ou_id]
        while stack:
            for child in children.get(stack.pop(), []):
                units.add(child)
                stack.append(child)
        return [str(a.id) for a in self.backend.accounts if a.parent_id in units]

    def path_of(self, ou_id: str) -> str | None:
        """The OU path (``/Prod/EU``) of an OU id from the org file, if any."""
        for path, known in self.ou_ids_by_path.items():
            if known == ou_id:
                return path
        return None
