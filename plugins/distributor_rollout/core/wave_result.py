"""What a wave's deploy task returns: the operations it started, the targets it changed (and
how, for the rollback), and the wave's targets (for the gate and the report).

``DeployWaveOperator`` returns ``core.deployment.Finished.result(targets).to_dict()``, or
in a dry run ``core.planned_calls.dry_run_wave(...).to_dict()`` (adding ``dry_run`` and
``planned``). The rollback reads the changes to undo exactly them; the report counts
``targets``.

The changes travel one of two ways. A deploy task that changed instances stores the record
in the artifacts bucket and returns only ``stored_changes`` (``core.stored_changes``: where,
its digest, its counts), since the record grows with the wave's accounts and XCom should
not (issue 14); ``changes`` is then empty until the rollback reads the record back. Records
written before that, and a dry run's, hold ``changes`` inline; both are read.

``from_dict`` reads those shapes, and partial ones (a record with only some keys reads the
rest as empty), so a report is still written from what a task did record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from distributor_rollout.core.changes import WaveChanges
from distributor_rollout.core.errors import ValidationError, wrong
from distributor_rollout.core.stored_changes import StoredChanges


@dataclass(frozen=True, slots=True)
class WaveResult:
    """One wave's deploy result. ``targets`` are every account/Region of the wave, as
    ``account/region`` text; ``planned`` are a dry run's would-be calls
    (``planned_calls.planned_entry``), as recorded. ``stored_changes``, when set, is where
    the wave's changes are (``changes`` is then empty: see the module)."""

    wave: str
    changes: WaveChanges
    operations: tuple[str, ...] = ()
    nothing_to_do: bool = False
    targets: tuple[str, ...] = ()
    dry_run: bool = False
    planned: tuple[Mapping[str, Any], ...] = field(default=())
    stored_changes: StoredChanges | None = None

    def storing(self, reference: StoredChanges) -> WaveResult:
        """This result with its changes stored at ``reference`` rather than inline."""
        return replace(self, changes=WaveChanges(self.wave), stored_changes=reference)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: ``dry_run`` and ``planned`` only for a dry run; the changes
        inline, or where they are stored."""
        result: dict[str, Any] = {
            "wave": self.wave,
            "operations": list(self.operations),
            "nothing_to_do": self.nothing_to_do,
            "targets": list(self.targets),
        }
        if self.stored_changes is not None:
            result["stored_changes"] = self.stored_changes.to_dict()
        else:
            result["changes"] = self.changes.to_dict()
        if self.dry_run:
            result["dry_run"] = True
            result["planned"] = [dict(entry) for entry in self.planned]
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WaveResult:
        """The inverse of ``to_dict`` (see the module for the shapes it also reads)."""
        wave = str(data.get("wave") or "")
        changes = data.get("changes")
        stored = data.get("stored_changes")
        return cls(
            wave=wave,
            changes=WaveChanges.from_dict(changes) if changes else WaveChanges(wave),
            operations=_texts(data.get("operations"), "operations"),
            nothing_to_do=bool(data.get("nothing_to_do", False)),
            targets=_texts(data.get("targets"), "targets"),
            dry_run=bool(data.get("dry_run", False)),
            planned=tuple(dict(entry) for entry in data.get("planned") or ()),
            stored_changes=StoredChanges.from_dict(stored) if stored else None,
        )


def _texts(value: object, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValidationError("wave result", [wrong(name, "not a list", value, "a list of text")])
    return tuple(str(item) for item in value)
