"""Applies a scenario: decides, per call, node and stack instance, whether a fault happens."""

from __future__ import annotations

import fnmatch
import random
from collections import Counter
from dataclasses import dataclass

from awssim.fleet import Fleet, Node, Outage
from awssim.orgspec import OrgSpec
from awssim.scenario import OfflineNodes, Scenario, draw

# The error code each service's throttling returns (botocore retries on all of them).
THROTTLING_CODES = {
    "cloudformation": "Throttling",
    "sts": "Throttling",
    "iam": "Throttling",
    "organizations": "TooManyRequestsException",
    "s3": "SlowDown",
}
DEFAULT_THROTTLING_CODE = "ThrottlingException"


@dataclass(frozen=True)
class CallError:
    """An error to answer a call with instead of serving it."""

    status: int
    code: str
    message: str


@dataclass(frozen=True)
class CallDecision:
    """What to do to one API call: wait ``latency`` seconds, then maybe fail it."""

    latency: float = 0.0
    error: CallError | None = None


class FaultInjector:
    """The active scenario's faults for one org and fleet."""

    def __init__(self, scenario: Scenario, org: OrgSpec, fleet: Fleet, loaded: float = 0.0) -> None:
        self.scenario = scenario
        self.loaded = loaded  # simulated seconds when the scenario was loaded
        self._org = org
        self._after_install_done: set[tuple[int, str]] = set()
        self._streams: dict[tuple[str, str], random.Random] = {}
        self._instance_failures: Counter[tuple[int, str, str]] = Counter()
        # Versions some node already had when the scenario was loaded: never "new".
        self._known_versions = {
            (package, version) for node in fleet for package, version in node.installed.items()
        }

    def apply_to_fleet(self, fleet: Fleet) -> list[tuple[Node, Outage]]:
        """Mark the unmanaged nodes (never report) and give the offline nodes their clock
        windows; returns the outages added, so the caller can schedule the agents' returns."""
        for rule in self.scenario.unmanaged_nodes:
            for node in fleet:
                if rule.matches(self._org, node.account_id, node.region) and (
                    draw(self.scenario.seed, "unmanaged", node.instance_id) < rule.fraction
                ):
                    node.managed = False
        added = []
        for index, rule in enumerate(self.scenario.offline_nodes):
            if rule.after_install is not None:
                continue
            start, end = rule.window(self.loaded)
            for node in fleet:
                if self._selects(index, rule, node):
                    outage = Outage(start, end)
                    node.outages.append(outage)
                    added.append((node, outage))
        return added

    def after_install(self, node: Node, moment: float) -> list[Outage]:
        """Outages that start because ``node`` installed a package at ``moment`` (each
        ``after_install`` rule takes a node offline once: after its first install)."""
        added = []
        for index, rule in enumerate(self.scenario.offline_nodes):
            if rule.after_install is None or (index, node.instance_id) in self._after_install_done:
                continue
            if not self._selects(index, rule, node):
                continue
            self._after_install_done.add((index, node.instance_id))
            start = moment + rule.after_install
            end = None if rule.duration is None else start + rule.duration
            outage = Outage(start, end)
            node.outages.append(outage)
            added.append(outage)
        return added

    def _selects(self, index: int, rule: OfflineNodes, node: Node) -> bool:
        return rule.matches(self._org, node.account_id, node.region) and (
            draw(self.scenario.seed, "offline", index, node.instance_id) < rule.fraction
        )

    def for_call(self, service: str, operation: str) -> CallDecision:
        """Latency and error (if any) for one call; each (service, operation) draws in turn."""
        latency = sum(
            rule.seconds for rule in self.scenario.latency if rule.applies(service, operation)
        )
        stream = self._streams.setdefault(
            (service, operation),
            random.Random(f"{self.scenario.seed}:{service}:{operation}"),
        )
        for rule in self.scenario.throttling:
            if rule.applies(service, operation) and stream.random() < rule.rate:
                code = THROTTLING_CODES.get(service, DEFAULT_THROTTLING_CODE)
                status = 503 if service == "s3" else 400
                return CallDecision(latency, CallError(status, code, "Rate exceeded"))
        for rule in self.scenario.server_errors:
            if rule.applies(service, operation) and stream.random() < rule.rate:
                code = "ServiceUnavailable" if rule.status == 503 else "InternalFailure"
                message = "Service is unavailable (simulated)"
                return CallDecision(latency, CallError(rule.status, code, message))
        return CallDecision(latency)

    def stack_instance_failure(self, account_id: str, region: str, action: str) -> str | None:
        """The failure reason for a stack instance operation, or None when it succeeds."""
        for index, rule in enumerate(self.scenario.stack_instance_failures):
            if action not in rule.actions or not rule.matches(self._org, account_id, region):
                continue
            if draw(self.scenario.seed, "stack", index, account_id, region) >= rule.fraction:
                continue
            key = (index, account_id, region)
            if rule.times is not None and self._instance_failures[key] >= rule.times:
                continue
            self._instance_failures[key] += 1
            return rule.reason
        return None

    def package_failure(self, node: Node, package: str, version: str) -> str | None:
        """The failure reason for installing ``package`` ``version`` on ``node``, or None."""
        for rule in self.scenario.package_failures:
            if not fnmatch.fnmatchcase(package, rule.package):
                continue
            if rule.versions == "new":
                if (package, version) in self._known_versions:
                    continue
            elif not any(fnmatch.fnmatchcase(version, glob) for glob in rule.versions):
                continue
            if not rule.matches(self._org, node.account_id, node.region):
                continue
            roll = draw(self.scenario.seed, "package", node.instance_id, package, version)
            if roll < rule.fraction:
                return rule.reason
        return None
