"""What a wave's compliance wait leaves for the rest of the run: the gate's decision, when
it was made and, when the gate failed, the rollback trigger it fired.

``AssociationComplianceSensor`` stores it under ``steps.GATE_XCOM_KEY`` as
``{"decision", "decided_at"}`` on PASS, with ``"trigger"`` added on FAIL; the rollback and
report tasks (``core.run_outcome``) and the approval's question read it back. The gate's
own journal across tries is ``core.gate_journal``, kept in the task state store instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from distributor_rollout.core.compliance_poll import FailureTrigger
from distributor_rollout.core.errors import ValidationError, wrong
from distributor_rollout.core.gate import GateDecision
from distributor_rollout.core.record_reading import read_or_none

FAILURE_TRIGGERS: tuple[FailureTrigger, ...] = ("compliance_failed", "compliance_timeout")


@dataclass(frozen=True, slots=True)
class GateResult:
    """A compliance wait's record: its decision (None in a record that holds only a
    trigger), when it decided (ISO-8601), and the trigger on FAIL."""

    decision: GateDecision | None
    decided_at: str | None = None
    trigger: FailureTrigger | None = None

    @property
    def passed(self) -> bool:
        """Whether the gate decided PASS."""
        return self.decision is not None and self.decision.state == "PASS"

    @property
    def failed(self) -> bool:
        """Whether the gate decided FAIL, or fired a rollback trigger."""
        return self.trigger is not None or (
            self.decision is not None and self.decision.state == "FAIL"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: ``trigger`` only when there is one, as the sensor wrote it."""
        record: dict[str, Any] = {
            "decision": self.decision.to_dict() if self.decision else None,
            "decided_at": self.decided_at,
        }
        if self.trigger is not None:
            record["trigger"] = self.trigger
        return record

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        """The inverse of ``to_dict``; ``ValidationError`` names a bad field."""
        decision = data.get("decision")
        trigger = data.get("trigger")
        checked: FailureTrigger | None = None
        if trigger is not None:
            checked = next((known for known in FAILURE_TRIGGERS if known == trigger), None)
            if checked is None:
                expected = " | ".join(FAILURE_TRIGGERS)
                raise ValidationError(
                    "gate result", [wrong("trigger", "unknown trigger", trigger, expected)]
                )
        decided_at = data.get("decided_at")
        return cls(
            decision=GateDecision.from_dict(decision) if decision else None,
            decided_at=str(decided_at) if decided_at is not None else None,
            trigger=checked,
        )

    @classmethod
    def read(cls, value: object) -> GateResult | None:
        """A record as a reader of the run finds it: None when there is none, or when it
        cannot be read (damaged, or written by another version of this code), which the
        run's judgement then treats as a gate that never decided."""
        return read_or_none(cls.from_dict, value)
