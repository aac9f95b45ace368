"""How a dry-run wave shows the StackSets calls it would start: a line per call for the
log, and a record small enough for XCom (counts and names, never template parameters)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from distributor_rollout.core.changes import WaveChanges
from distributor_rollout.core.deployment import Call
from distributor_rollout.core.targets import Target
from distributor_rollout.core.wave_result import WaveResult

LONGEST_SHOWN_VALUE: Final = 80
"""A parameter value longer than this (the manifest) is logged as its length."""


PREVIOUS_VALUE_SHOWN: Final = "<previous value>"
"""How a parameter the call keeps by ``UsePreviousValue`` is logged."""


def loggable_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """A call's request for the log: parameter values longer than a line (the manifest)
    are shown by their length, one kept by ``UsePreviousValue`` as ``PREVIOUS_VALUE_SHOWN``."""
    shown = dict(request)
    if "Parameters" in shown:
        shown["Parameters"] = {
            item["ParameterKey"]: _shown_value(item) for item in shown["Parameters"]
        }
    return shown


def _shown_value(item: Mapping[str, Any]) -> str:
    if item.get("UsePreviousValue"):
        return PREVIOUS_VALUE_SHOWN
    value = str(item.get("ParameterValue", ""))
    return value if len(value) <= LONGEST_SHOWN_VALUE else f"<{len(value)} characters>"


def planned_entry(call: Call) -> dict[str, Any]:
    """A planned call, small enough for XCom: counts of targets and accounts, the Regions
    and OUs it names (never the request's template parameters)."""
    targets: Sequence[Target] = call.targets
    request_targets = call.request.get("DeploymentTargets") or {}
    return {
        "api_call": call.api_call,
        "operation_id": call.operation_id,
        "targets": len(targets),
        "accounts": len({target.account_id for target in targets}),
        "regions": list(call.request.get("Regions") or []),
        "organizational_units": list(request_targets.get("OrganizationalUnitIds") or []),
    }


def dry_run_wave(wave: str, calls: Sequence[Call], targets: Sequence[Target]) -> WaveResult:
    """A dry-run Deploy task's result: the shape of a real one with no operations and no
    changes, ``nothing_to_do`` only when no call would be needed, and the ``planned``
    calls (``planned_entry``); a dry run stores nothing, so only a sample of the targets
    is listed (``WaveResult.sampled``)."""
    return WaveResult(
        wave,
        WaveChanges(wave),
        nothing_to_do=not calls,
        targets=tuple(str(target) for target in targets),
        dry_run=True,
        planned=tuple(planned_entry(call) for call in calls),
    ).sampled()
