"""The simulator: moto's backends plus awssim's organization, fleet, services and faults.

One simulator per process (moto's state is global). Every request first runs the events
that have come due on the simulated clock, under one lock, so the extensions see a
consistent world and the outcome depends only on the calls and the clock.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from moto.core.base_backend import BackendDict
from moto.core.model_instances import reset_model_data

from awssim import identity, runtime
from awssim.catalog import Catalog
from awssim.clock import SimClock
from awssim.configservice import ConfigRecorder
from awssim.events import Scheduler
from awssim.faults import FaultInjector
from awssim.fleet import Fleet, generate_fleet
from awssim.ledger import Ledger
from awssim.organization import OrgView, seed_organization
from awssim.orgspec import OrgSpec, load_org
from awssim.reachability import Reachability
from awssim.scenario import OrganizationSetup, Scenario, load_scenario
from awssim.stacksets import StackSetEngine
from awssim.statemanager import StateManager

_patch_lock = threading.Lock()


def install_patches() -> None:
    """Teach moto what awssim adds (idempotent, once per process)."""
    from awssim import (  # noqa: PLC0415
        bucket_access,
        bucket_policy,
        configservice,
        document_api,
        documents,
        ec2,
        stacksets,
        statemanager,
    )

    with _patch_lock:
        identity.install()
        bucket_policy.install()
        documents.install()
        document_api.install()
        ec2.install()
        bucket_access.install()
        statemanager.install()
        stacksets.install()
        configservice.install()


class Simulator:
    """A seeded organization, its fleet and the AWS services that act on them."""

    def __init__(
        self,
        org: str | Path | OrgSpec = "demo",
        scenario: str | Path | Scenario | None = None,
        *,
        speed: float = 60.0,
        seed: int = 0,
    ) -> None:
        install_patches()
        self.lock = threading.RLock()
        self.ledger = Ledger()
        self.scheduler = Scheduler()
        self.clock = SimClock(speed)
        self.seed = seed
        self.statemanager = StateManager(self)
        self.config = ConfigRecorder(self)  # AWS Config's items of State Manager's compliance
        self.stacksets = StackSetEngine(self)
        self.reachability = Reachability(self)
        self.catalog = Catalog()
        runtime.set_current(self)
        self.load(org, scenario, speed=speed, seed=seed)

    # --- lifecycle ----------------------------------------------------------------------
    def load(
        self,
        org: str | Path | OrgSpec = "demo",
        scenario: str | Path | Scenario | None = None,
        *,
        speed: float | None = None,
        seed: int | None = None,
    ) -> None:
        """Start over: empty AWS, then the org, its fleet, the packages that exist before any
        rollout (``awssim.catalog``) and the scenario, at clock zero."""
        spec = org if isinstance(org, OrgSpec) else load_org(org)
        with self.lock:
            runtime.set_current(self)
            BackendDict.reset()
            reset_model_data()
            identity.forget_keys()
            self.scheduler.clear()
            self.ledger.clear()
            self.seed = self.seed if seed is None else seed
            self.clock = SimClock(self.clock.speed if speed is None else speed)
            self.org_spec = spec
            self.org: OrgView = seed_organization(spec)
            self.fleet: Fleet = generate_fleet(spec, self.seed)
            self.catalog.load(list(spec.regions), sorted(self.org.account_ids()))
            self.statemanager.reset()
            self.config.reset()
            self.stacksets.reset()
            self._organization_setup = OrganizationSetup()  # as seed_organization left it
            self.set_scenario(scenario)

    def set_scenario(self, scenario: str | Path | Scenario | None) -> Scenario:
        """Switch faults without touching AWS state ("new" versions are counted from now),
        but for the organization setup where the new scenario's differs from the last one
        applied (trusted access, the delegated administrator's registration).

        The scenario's offline windows count from now. Nodes whose agents the switch brings
        back online run what they missed, as a reconnecting agent does.
        """
        loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        with self.lock:
            self.tick()
            now = self.now()
            offline = {node.instance_id for node in self.fleet if not node.online_at(now)}
            self.reachability.reset()
            for node in self.fleet:
                node.managed = node.profile_managed
                node.outages = []
            self._set_up_organization(loaded.organization)
            self.faults = FaultInjector(loaded, self.org_spec, self.fleet, loaded=now)
            for node, outage in self.faults.apply_to_fleet(self.fleet):
                self.reachability.watch(node, outage)
            self.scenario = loaded
            self.reachability.back(
                [node for node in self.fleet if node.instance_id in offline], now
            )
        return loaded

    def _set_up_organization(self, setup: OrganizationSetup) -> None:
        """Apply what differs between ``setup`` and the organization setup applied last."""
        applied = self._organization_setup
        if setup.stacksets_trusted_access != applied.stacksets_trusted_access:
            self.stacksets.organizations_access.turn(on=setup.stacksets_trusted_access)
        if setup.stacksets_delegated_admin != applied.stacksets_delegated_admin:
            self.org.set_stacksets_admin(
                self.org_spec.delegated_admin, registered=setup.stacksets_delegated_admin
            )
        self._organization_setup = setup

    # --- time ---------------------------------------------------------------------------
    def now(self) -> float:
        """Simulated seconds since the simulator (re)started."""
        return self.clock.seconds()

    def tick(self) -> int:
        """Run every event that has come due; returns how many ran."""
        with self.lock:
            return self.scheduler.run_until(self.clock.seconds())

    def advance(self, seconds: float) -> int:
        """Move simulated time forward and run what comes due."""
        with self.lock:
            self.clock.advance(seconds)
            return self.tick()

    def settle(self, horizon: float = 3600.0) -> float:
        """Jump from event to event until none is due within ``horizon`` simulated seconds.

        Recurring work (association schedules) keeps the queue non-empty, so settling stops
        at the horizon; returns the simulated seconds jumped.
        """
        with self.lock:
            start = self.clock.seconds()
            while True:
                due = self.scheduler.next_due()
                now = self.clock.seconds()
                if due is None or due > start + horizon:
                    break
                if due > now:
                    self.clock.advance(due - now)
                self.tick()
            return self.clock.seconds() - start

    # --- identity -----------------------------------------------------------------------
    @property
    def default_account(self) -> str:
        """The account that callers with unknown credentials act as: the org file's delegated
        admin (registered as such unless the scenario says otherwise)."""
        return self.org_spec.delegated_admin

    def knows_account(self, account_id: str) -> bool:
        """Whether an account belongs to the simulated organization."""
        return self.org.is_member(account_id)

    # --- ground truth -------------------------------------------------------------------
    def installed(self) -> dict[str, dict[str, str]]:
        """Per instance id, the packages installed and their versions."""
        with self.lock:
            self.tick()
            return {node.instance_id: dict(node.installed) for node in self.fleet}

    def state(self) -> dict[str, Any]:
        """Everything tests may assert on, JSON-safe."""
        with self.lock:
            self.tick()
            return {
                "clock": {
                    "seconds": self.clock.seconds(),
                    "now": self.clock.now().isoformat(),
                    "speed": self.clock.speed,
                },
                "org": {
                    "name": self.org_spec.name,
                    "id": self.org.org_id,
                    "root_id": self.org.root_id,
                    "management_account_id": self.org.management_account_id,
                    "delegated_admin": self.org_spec.delegated_admin,
                    "ou_ids": dict(self.org.ou_ids_by_path),
                    "regions": list(self.org_spec.regions),
                },
                "scenario": self.scenario.name,
                "seed": self.seed,
                "nodes": self.fleet.to_dict(self.clock.seconds(), self.clock.at),
                "associations": self.statemanager.state(),
                "stack_sets": self.stacksets.state(),
                "calls": [call.to_dict() for call in self.ledger.calls()],
            }
