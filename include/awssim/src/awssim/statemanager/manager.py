"""The State Manager of every simulated account and Region: associations and their lifecycle.

Associations are kept per (account, Region) of the caller. Creating or updating one runs it
at once (unless ApplyOnlyAtCronInterval) and arms its schedule; deleting it stops its runs
and leaves what the nodes installed alone, as in AWS.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from awssim.statemanager.errors import (
    AssociationAlreadyExists,
    AssociationDoesNotExist,
    AssociationLimitExceeded,
    AssociationVersionLimitExceeded,
    InvalidAssociationVersion,
    InvalidDocument,
)
from awssim.statemanager.models import Association, IdSource, Settings, Version
from awssim.statemanager.runner import Runner
from awssim.statemanager.settings import settings_from_request, updated_settings, validate_settings
from awssim.statemanager.views import Clock, overview_status, resource_counts

if TYPE_CHECKING:
    from awssim.simulator import Simulator

MAX_ASSOCIATIONS = 2000
MAX_VERSIONS = 1000


class StateManager:
    """Associations, executions and compliance per account and Region."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.reset()

    def reset(self) -> None:
        """Forget every association (their scheduled work went with the scheduler)."""
        self._stores: dict[tuple[str, str], dict[str, Association]] = {}
        self.ids = IdSource(self.sim.seed)
        self.runner = Runner(self.sim, self.ids)

    # --- lookups --------------------------------------------------------------------------
    def associations(self, account: str, region: str) -> list[Association]:
        """The associations of one account and Region, oldest first."""
        return list(self._stores.get((account, region), {}).values())

    def get(self, account: str, region: str, association_id: str | None) -> Association:
        """One association by id; raises AssociationDoesNotExist."""
        found = self._stores.get((account, region), {}).get(association_id or "")
        if found is None:
            msg = f"Association {association_id} does not exist."
            raise AssociationDoesNotExist(msg)
        return found

    def find(
        self,
        account: str,
        region: str,
        association_id: str | None,
        name: str | None,
        instance_id: str | None,
    ) -> Association:
        """By id, or (for associations made with InstanceId) by document name and instance."""
        if association_id or not (name and instance_id):
            return self.get(account, region, association_id)
        for association in self.associations(account, region):
            settings = association.settings
            if settings.document == name and settings.instance_id == instance_id:
                return association
        msg = f"Association for document {name} and instance {instance_id} does not exist."
        raise AssociationDoesNotExist(msg)

    # --- changes --------------------------------------------------------------------------
    def create(self, account: str, region: str, request: dict[str, Any]) -> Association:
        """CreateAssociation: validate, store, run (unless only at cron times) and schedule."""
        if not request.get("Name"):
            raise InvalidDocument("An association needs the Name of a document.")
        settings = settings_from_request(request)
        validate_settings(settings, account, region)
        store = self._stores.setdefault((account, region), {})
        if len(store) >= MAX_ASSOCIATIONS:
            msg = f"You can create at most {MAX_ASSOCIATIONS} associations."
            raise AssociationLimitExceeded(msg)
        self._check_unique(account, region, settings, None)
        now = self.sim.now()
        association = Association(
            id=self.ids.uuid("association"),
            account=account,
            region=region,
            created=now,
            versions=[Version(1, settings, now)],
            updated=now,
        )
        store[association.id] = association
        self._activate(association, "create", now)
        return association

    def update(
        self,
        account: str,
        region: str,
        association_id: str,
        changes: dict[str, Any],
        expected_version: str | None = None,
    ) -> Association:
        """UpdateAssociation: a new version from the changed members; it runs like a new one."""
        association = self.get(account, region, association_id)
        latest = association.latest.number
        if expected_version not in (None, "", "$LATEST") and expected_version != str(latest):
            msg = f"Association version {expected_version} is not the latest version ({latest})."
            raise InvalidAssociationVersion(msg)
        if latest >= MAX_VERSIONS:
            msg = f"An association can have at most {MAX_VERSIONS} versions."
            raise AssociationVersionLimitExceeded(msg)
        settings = updated_settings(association.settings, changes)
        validate_settings(settings, account, region)
        self._check_unique(account, region, settings, association.id)
        now = self.sim.now()
        association.versions.append(Version(latest + 1, settings, now))
        association.updated = now
        self._activate(association, "update", now)
        return association

    def delete(self, association: Association) -> None:
        """DeleteAssociation: stop its runs; nodes keep what they have installed."""
        self.runner.stop(association)
        self._stores[(association.account, association.region)].pop(association.id, None)
        self.sim.config.changed(
            association.account, association.region, association.nodes, self.sim.now()
        )

    def start_once(self, account: str, region: str, association_ids: list[str]) -> None:
        """StartAssociationsOnce: run each association now (all must exist)."""
        associations = [
            self.get(account, region, association_id) for association_id in association_ids
        ]
        now = self.sim.now()
        for association in associations:
            self.runner.start(association, "manual")
            self.runner.arm(association, now)

    def _activate(self, association: Association, trigger: str, now: float) -> None:
        if association.settings.apply_only_at_cron_interval:
            self.runner.supersede(association)
        else:
            self.runner.start(association, trigger)
        self.runner.arm(association, now)

    def _check_unique(
        self, account: str, region: str, settings: Settings, association_id: str | None
    ) -> None:
        for other in self.associations(account, region):
            if other.id == association_id:
                continue
            theirs = other.settings
            same_name = (
                settings.association_name and theirs.association_name == settings.association_name
            )
            same_instance = settings.instance_id and (theirs.document, theirs.instance_id) == (
                settings.document,
                settings.instance_id,
            )
            if same_name or same_instance:
                msg = (
                    f"Association {settings.association_name or settings.document} already exists."
                )
                raise AssociationAlreadyExists(msg)

    # --- ground truth ---------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Ground truth, JSON-safe: every association by id, with overview and target status."""
        return {
            association.id: _truth(association, self.sim.clock.at)
            for store in self._stores.values()
            for association in store.values()
        }


def _truth(association: Association, clock: Clock) -> dict[str, Any]:
    settings = association.settings
    status, detailed, counts = overview_status(association)
    return {
        "account": association.account,
        "region": association.region,
        "id": association.id,
        "name": settings.association_name,
        "document": settings.document,
        "document_version": settings.document_version,
        "version": str(association.latest.number),
        "parameters": copy.deepcopy(settings.parameters),
        "targets": copy.deepcopy(settings.targets),
        "schedule": settings.schedule,
        "overview": {"status": status, "detailed_status": detailed, "counts": counts},
        "target_status": {
            instance_id: {
                "status": record.status,
                "version": str(record.version),
                "execution_id": record.execution_id,
                "date": clock(record.date).isoformat(),
                "reason": record.reason,
            }
            for instance_id, record in association.nodes.items()
        },
        "executions": [
            {
                "id": execution.id,
                "version": str(execution.version),
                "trigger": execution.trigger,
                "status": execution.status,
                "created": clock(execution.created).isoformat(),
                "resource_counts": resource_counts(execution),
            }
            for execution in association.executions
        ],
    }
