"""The retire's last StackSets step: release the home-Region instances the waves held for
the compliance reader's role, then delete the stack set if no instance is left.

The stack set is deleted only when ``ListStackInstances`` is empty. Instances the waves
kept (nodes offline holding the package, uninstalls not confirmed) or instances outside
the plan's waves (another deployment of the same stack set) keep it: they are reported,
and so are the package files their associations may still need (no bucket is deleted).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from distributor_rollout.core.deployment import Instance
from distributor_rollout.core.retire_waves import StackSetCall, delete_calls
from distributor_rollout.core.targets import Target
from distributor_rollout.core.waves import ResolvedWave

RELEASE_WAVE = "all-waves"
"""The ``wave`` part of the ids of the last step's deletes (they span waves)."""
RELEASE_ACTION = "release-role"
TARGETS_SHOWN = 50
"""Targets a record lists; its ``*_total`` counts the rest."""

StackSetState = Literal["deleted", "absent", "kept", "dry_run"]


@dataclass(frozen=True, slots=True)
class Remaining:
    """The stack set's instances once the waves are retired: held home-Region instances
    it may now delete (``release``), then what stays, in the plan's waves and outside."""

    release: tuple[Target, ...] = ()
    in_waves: tuple[Target, ...] = ()
    outside: tuple[Target, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether no instance stays once ``release`` is deleted."""
        return not (self.in_waves or self.outside)


def remaining(
    instances: Iterable[Instance],
    waves: Sequence[ResolvedWave],
    held: Iterable[Target],
    home_region: str,
) -> Remaining:
    """What the last step finds: a held instance is released once nothing but it is left
    of its account; the others stay, sorted into those of the plan's waves and those
    outside them (another deployment of the stack set: reported, never deleted)."""
    live = {instance.target for instance in instances}
    held_live = {target for target in held if target in live and target.region == home_region}
    busy = {target.account_id for target in live - held_live}
    release = {target for target in held_live if target.account_id not in busy}
    staying = live - release
    planned = {target for wave in waves for target in wave.targets}
    return Remaining(
        release=tuple(sorted(release)),
        in_waves=tuple(sorted(staying & planned)),
        outside=tuple(sorted(staying - planned)),
    )


def release_calls(
    run_id: str, targets: Iterable[Target], ou_of: Mapping[str, str]
) -> list[StackSetCall]:
    """The deletes of released instances, named by their targets (decided from what is
    left: a retry that finds some gone names the rest as before)."""
    return delete_calls(
        run_id, RELEASE_WAVE, targets, ou_of, None, action=RELEASE_ACTION, by_content=True
    )


def _shown(targets: Sequence[Target]) -> list[str]:
    return [str(target) for target in targets[:TARGETS_SHOWN]]


@dataclass(frozen=True, slots=True)
class StackSetOutcome:
    """Where the stack set stands after the retire: ``deleted`` now, ``absent`` (already
    gone), ``kept`` (instances left, listed), or ``dry_run``; the home-Region instances
    released, and why."""

    name: str
    state: StackSetState
    reason: str
    released: int = 0
    in_waves: tuple[str, ...] = ()
    in_waves_total: int = 0
    outside: tuple[str, ...] = ()
    outside_total: int = 0

    @classmethod
    def kept(cls, name: str, left: Remaining, released: int) -> StackSetOutcome:
        """The stack set stays: ``left`` says which instances keep it."""
        parts = []
        if left.in_waves:
            parts.append(
                f"{len(left.in_waves)} instances of the plan's waves stay (offline nodes may "
                "hold the package, or the uninstall was not confirmed)"
            )
        if left.outside:
            parts.append(f"{len(left.outside)} instances outside the plan's waves")
        return cls(
            name,
            "kept",
            "; ".join(parts) + ": the stack set is not deleted",
            released,
            tuple(_shown(left.in_waves)),
            len(left.in_waves),
            tuple(_shown(left.outside)),
            len(left.outside),
        )

    @property
    def gone(self) -> bool:
        """Whether the stack set no longer exists."""
        return self.state in ("deleted", "absent")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (XCom, report)."""
        return {
            "name": self.name,
            "state": self.state,
            "reason": self.reason,
            "released": self.released,
            "in_waves": list(self.in_waves),
            "in_waves_total": self.in_waves_total,
            "outside": list(self.outside),
            "outside_total": self.outside_total,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StackSetOutcome:
        """The inverse of ``to_dict``."""
        return cls(
            name=str(data["name"]),
            state=data["state"],
            reason=str(data.get("reason", "")),
            released=int(data.get("released", 0)),
            in_waves=tuple(data.get("in_waves", ())),
            in_waves_total=int(data.get("in_waves_total", 0)),
            outside=tuple(data.get("outside", ())),
            outside_total=int(data.get("outside_total", 0)),
        )

    def line(self) -> str:
        """One line for the log and the report's table."""
        return f"stack set {self.name}: {self.state} ({self.reason})"
