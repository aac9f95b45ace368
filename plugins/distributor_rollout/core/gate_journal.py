"""What a compliance gate records as it goes, so a try that Airflow failed from outside
resumes to the same decision.

Airflow's scheduler may fail a healthy wait task from outside (the "state mismatch" race,
see ``triggers.deferral``), and its retry starts the task over: XComs are cleared, the
trigger's event is gone. The gate therefore keeps a small record in the task's own state
store (shared by every worker through the metadata DB, kept across tries): when it opened,
since when it has been passing, and its decision once made. A retry resumes from it: the
gate keeps its start (its timeout), its bake and, once decided, its decision.

Only Airflow's own retries resume (``core.tries``): a cleared task starts a fresh gate, as
the fleet may have been fixed since.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.gate import GateDecision
from distributor_rollout.core.tries import continues

JOURNAL_KEY = "compliance_gate"
"""The task state store key of a gate's record."""


@dataclass(frozen=True, slots=True)
class GateRecord:
    """A gate's progress: when it opened (epoch seconds), since when it has been passing
    (seconds into the gate; None when not passing), its decision once made (with when,
    ISO-8601), and the task's ``max_tries`` when it opened (tells a retry from a clear)."""

    opened_at: float
    max_tries: int
    passing_since: float | None = None
    decision: GateDecision | None = None
    decided_at: str | None = None

    def resumes(self, max_tries: int) -> bool:
        """Whether a try with this ``max_tries`` continues this gate (an Airflow retry) or
        starts a new one (the task was cleared, which raises ``max_tries``)."""
        return continues(self.max_tries, max_tries)

    def passing(self, since: float | None) -> GateRecord:
        """This record with the gate's passing streak as it stands now."""
        return replace(self, passing_since=since)

    def decided(self, decision: GateDecision, decided_at: str) -> GateRecord:
        """This record with the gate's decision."""
        return replace(
            self, decision=decision, decided_at=decided_at, passing_since=decision.passing_since
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the state store holds JSON)."""
        return {
            "opened_at": self.opened_at,
            "max_tries": self.max_tries,
            "passing_since": self.passing_since,
            "decision": self.decision.to_dict() if self.decision else None,
            "decided_at": self.decided_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateRecord:
        """The inverse of ``to_dict``."""
        decision = data.get("decision")
        return cls(
            opened_at=float(data["opened_at"]),
            max_tries=int(data["max_tries"]),
            passing_since=data.get("passing_since"),
            decision=GateDecision.from_dict(decision) if decision else None,
            decided_at=data.get("decided_at"),
        )


def resumed(stored: Mapping[str, Any] | None, max_tries: int) -> GateRecord | None:
    """The record a try resumes from, or None when it starts a new gate (nothing recorded,
    a record it cannot read, or a task cleared since the record was made)."""
    if not stored:
        return None
    try:
        record = GateRecord.from_dict(stored)
    except (KeyError, TypeError, ValueError, ValidationError):
        # Written by another version of this code, or damaged: judge afresh, never fail.
        return None
    return record if record.resumes(max_tries) else None
