"""A wave's accounts × Regions for the Rollout tab: each target's stack instance status and
compliance, failed targets first with the reason the report gives.

Built from the wave's records only: the deploy task's targets (``WaveResult.targets``:
the matrix is empty until the wave deployed; for a wave whose list is stored in S3, only
its first few, as the tab reads no bucket: every failed or least compliant target is added,
and ``cells_total`` counts the whole wave), the operation sensor's failed targets and
per-Region counts (``core.operation_summary``) and the gate's least compliant targets
(``GateDecision.worst``, at most ``gate.WORST_LIMIT``: the others are known only as not
among them). The failure reasons are ``WaveRecords.failed_targets``', the report's words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.gate import GateDecision, TargetCompliance
from distributor_rollout.core.operation_summary import OperationsSummary
from distributor_rollout.core.report import target_shortfall
from distributor_rollout.core.run_outcome import WaveRecords
from distributor_rollout.core.steps import WAIT_OPERATION
from distributor_rollout.core.targets import Target

CELLS_CAP = 1000
"""Cells a wave's matrix lists (failed ones first); ``cells_total`` counts them all."""
FINISHED_OPERATION = ("SUCCEEDED", "FAILED", "STOPPED")

InstanceStatus = Literal["SUCCEEDED", "FAILED", "RUNNING", "UNCHANGED", "UNKNOWN"]
CellCompliance = Literal["compliant", "failed", "in_progress", "not_least", "unknown"]
"""``not_least``: not among the least compliant targets of a passing gate."""

ConsoleUrl = Callable[[str], str | None]
"""An operation id → its console URL (None: no link)."""


@dataclass(frozen=True, slots=True)
class Cell:
    """One account/Region of the wave."""

    target: Target
    instance: InstanceStatus
    compliance: CellCompliance
    counts: Mapping[str, int] | None = None
    reason: str | None = None
    operation_id: str | None = None
    url: str | None = None

    @property
    def failed(self) -> bool:
        """Whether the target is among the wave's failed ones (it then has a reason)."""
        return self.reason is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "target": str(self.target),
            "account": self.target.account_id,
            "region": self.target.region,
            "instance": self.instance,
            "compliance": self.compliance,
            "counts": dict(self.counts) if self.counts is not None else None,
            "failed": self.failed,
            "reason": self.reason,
            "operation_id": self.operation_id,
            "url": self.url,
        }


def wave_matrix(
    wave: WaveRecords,
    gate: GateDecision | None,
    *,
    operation_url: ConsoleUrl,
    instances_url: str | None = None,
) -> dict[str, Any]:
    """The matrix as the tab's JSON: ``accounts`` (those with a failed target first),
    ``regions``, ``cells`` (failed first, then by account and Region; capped at
    ``CELLS_CAP``), ``cells_total`` and ``failed``. ``gate`` is the decision or latest poll
    to colour compliance by (None: none yet)."""
    deployed = wave.deploy_result
    listed = {Target.parse(text) for text in deployed.targets} if deployed else set()
    operations = _operations(wave.operation)
    failed_by = {
        item.target: (operation_id, item.reason)
        for operation_id, summary in (operations.operations.items() if operations else ())
        for item in summary.failed
    }
    reasons = {entry.target: entry.reason for entry in wave.failed_targets().entries}
    worst = {item.target: item for item in (gate.worst if gate else ())}
    for target, item in worst.items():
        if item.failed and str(target) not in reasons:
            reasons[str(target)] = target_shortfall(item)  # a live poll: failed so far
    if deployed is not None and not deployed.complete:
        # Only a sample is listed: the targets the records name are the ones worth a cell.
        listed |= {*failed_by, *worst, *(Target.parse(text) for text in reasons)}
    targets = sorted(listed)
    cells = []
    for target in targets:
        instance = _instance(wave, operations, target, target in failed_by)
        operation_id = failed_by.get(target, (None, ""))[0]
        cells.append(
            Cell(
                target=target,
                instance=instance,
                compliance=_compliance(gate, worst.get(target), instance),
                counts=_counts(worst[target]) if target in worst else None,
                reason=reasons.get(str(target)),
                operation_id=operation_id,
                url=operation_url(operation_id) if operation_id else instances_url,
            )
        )
    order = {target: index for index, target in enumerate(reasons)}
    cells.sort(key=lambda cell: (order.get(str(cell.target), len(order)), cell.target))
    failing_accounts = list(dict.fromkeys(c.target.account_id for c in cells if c.failed))
    others = sorted({t.account_id for t in targets} - set(failing_accounts))
    return {
        "accounts": [*failing_accounts, *others],
        "regions": sorted({target.region for target in targets}),
        "cells": [cell.to_dict() for cell in cells[:CELLS_CAP]],
        "cells_total": max(len(cells), deployed.target_count if deployed else 0),
        "failed": sum(cell.failed for cell in cells),
    }


def _operations(record: Mapping[str, Any] | None) -> OperationsSummary | None:
    if not record:
        return None
    try:
        return OperationsSummary.from_dict(record)
    except ValidationError:
        return None  # unreadable: the cells say UNKNOWN rather than fail the tab


def _instance(
    wave: WaveRecords, operations: OperationsSummary | None, target: Target, failed: bool
) -> InstanceStatus:
    if failed:
        return "FAILED"
    deployed = wave.deploy_result
    if deployed is not None and (deployed.nothing_to_do or not deployed.operations):
        return "UNCHANGED"
    if operations is None or not operations.operations:
        waiting = wave.state(WAIT_OPERATION) not in ("success", "failed", "skipped")
        return "RUNNING" if waiting else "UNKNOWN"
    summaries = operations.operations.values()
    if any(summary.status not in FINISHED_OPERATION for summary in summaries):
        return "RUNNING"
    # An operation that stopped or failed cancelled the instances it had not reached
    # (counted per Region, not named): a target in such a Region may not have been run.
    cancelled = any(
        counts.cancelled
        for summary in summaries
        for region, counts in summary.regions.items()
        if region == target.region
    )
    return "UNKNOWN" if cancelled else "SUCCEEDED"


def _compliance(
    gate: GateDecision | None, item: TargetCompliance | None, instance: InstanceStatus
) -> CellCompliance:
    if instance == "FAILED":
        return "failed"  # the gate counts every node of a failed instance as failed
    if item is not None:
        if item.failed:
            return "failed"
        return "compliant" if item.success >= item.effective_expected else "in_progress"
    return "not_least" if gate is not None and gate.state == "PASS" else "unknown"


def _counts(item: TargetCompliance) -> dict[str, int]:
    return {
        "expected": item.effective_expected,
        "compliant": item.success,
        "failed": item.failed,
        "in_progress": item.pending,
        "skipped": item.skipped,
        "offline": item.offline,
        "unreported": item.unreported,
    }
