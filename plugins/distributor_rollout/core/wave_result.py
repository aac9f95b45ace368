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

The wave's targets travel the same way: inline while the wave's list is whole in
``targets`` (records written before issue 14's change, and a task's result before it is
stored), or stored (``core.stored_targets``) with only the first ``SAMPLE_SIZE`` inline
and ``targets_total`` counting them all; a dry run, which stores nothing, keeps the same
sample and count. ``complete`` says whether ``targets`` is the whole list.

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
from distributor_rollout.core.stored_targets import SAMPLE_SIZE, StoredTargets


@dataclass(frozen=True, slots=True)
class WaveResult:
    """One wave's deploy result. ``targets`` are the wave's accounts/Regions listed inline,
    as ``account/region`` text: all of them, or (``targets_total`` larger) the first few
    when the list is stored at ``stored_targets`` or the result is a dry run's;
    ``planned`` are a dry run's would-be calls (``planned_calls.planned_entry``), as
    recorded. ``stored_changes``, when set, is where the wave's changes are (``changes``
    is then empty: see the module)."""

    wave: str
    changes: WaveChanges
    operations: tuple[str, ...] = ()
    nothing_to_do: bool = False
    targets: tuple[str, ...] = ()
    dry_run: bool = False
    planned: tuple[Mapping[str, Any], ...] = field(default=())
    stored_changes: StoredChanges | None = None
    stored_targets: StoredTargets | None = None
    targets_total: int | None = None

    @property
    def target_count(self) -> int:
        """How many accounts/Regions the wave has."""
        return len(self.targets) if self.targets_total is None else self.targets_total

    @property
    def complete(self) -> bool:
        """Whether ``targets`` lists every target of the wave."""
        return len(self.targets) == self.target_count

    def storing(self, reference: StoredChanges) -> WaveResult:
        """This result with its changes stored at ``reference`` rather than inline."""
        return replace(self, changes=WaveChanges(self.wave), stored_changes=reference)

    def storing_targets(self, reference: StoredTargets) -> WaveResult:
        """This result with its target list stored at ``reference``: a sample stays."""
        return replace(
            self, stored_targets=reference, **_sample(sorted(set(self.targets)), reference.count)
        )

    def sampled(self) -> WaveResult:
        """This result with only a sample of its targets inline (a dry run's: see module)."""
        return replace(self, **_sample(self.targets, self.target_count))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: ``dry_run`` and ``planned`` only for a dry run; the changes
        inline, or where they are stored."""
        result: dict[str, Any] = {
            "wave": self.wave,
            "operations": list(self.operations),
            "nothing_to_do": self.nothing_to_do,
            "targets": list(self.targets),
        }
        if not self.complete:
            result["targets_total"] = self.target_count
        if self.stored_targets is not None:
            result["stored_targets"] = self.stored_targets.to_dict()
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
        stored_list = data.get("stored_targets")
        total = data.get("targets_total")
        return cls(
            wave=wave,
            changes=WaveChanges.from_dict(changes) if changes else WaveChanges(wave),
            operations=_texts(data.get("operations"), "operations"),
            nothing_to_do=bool(data.get("nothing_to_do", False)),
            targets=_texts(data.get("targets"), "targets"),
            dry_run=bool(data.get("dry_run", False)),
            planned=tuple(dict(entry) for entry in data.get("planned") or ()),
            stored_changes=StoredChanges.from_dict(stored) if stored else None,
            stored_targets=StoredTargets.from_dict(stored_list) if stored_list else None,
            targets_total=_count(total, "targets_total"),
        )


def _sample(targets: Sequence[str], total: int) -> dict[str, Any]:
    """``targets`` and ``targets_total`` for a result listing the first ``SAMPLE_SIZE``."""
    return {"targets": tuple(targets[:SAMPLE_SIZE]), "targets_total": total}


def _count(value: object, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError("wave result", [wrong(name, "not a count", value, "an int ≥ 0")])
    return value


def _texts(value: object, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValidationError("wave result", [wrong(name, "not a list", value, "a list of text")])
    return tuple(str(item) for item in value)
