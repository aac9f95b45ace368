"""What the rollback task records: how far it got and how it ended, and the delete
decisions it takes before acting on them.

``RollbackRecord`` crosses XCom under ``steps.ROLLBACK_XCOM_KEY``: the report reads it
(``core.run_outcome``), and so does the demo, by its JSON keys. The task pushes it before
each action, unfinished (``complete`` false, the actions not yet run ``pending``, every
target counted as not restored), so a task that dies mid-rollback still leaves an honest
account; ``RollbackProgress`` builds both shapes from what the actions did. The finished
record also says where the stack set and its instances stand (``core.rollback_standing``).

``DeleteDecision`` is a delete's choice of targets (``steps.NARROWING_XCOM_KEY``, and in
the task state store as a ``DeleteJournal``): a retried task acts on the choice it made
instead of waiting on the nodes again.

Targets are ``account/region`` text in these records, as the report shows them.
``RollbackRecord.from_dict`` reads partial records (missing keys read as empty; an action
it cannot read keeps its status and summary, with no action), so a report is still built
from whatever the task did record.

A whole record grows with the rollout's targets, and XCom must not (issue 14): the task
stores it in the artifacts bucket (``core.stored_rollback``) and pushes ``bounded()``, which
keeps every scalar, every action and each list's length, and only the first ``SAMPLE_SIZE``
entries of each list: ``restored``, ``failed``, ``kept``, ``untouched``, each action's
``accounts`` (its ``describe()`` line is kept, written from all of them) and a narrowed
delete's ``deleted`` and ``lost``. Records whose lists are that short stay whole. Whoever
counts reads the ``*_count`` properties (``len()`` of a list counts only what it lists); an
action read from a bounded record names only its first accounts, for showing (its line is
``ActionOutcome.describe()``, not its action's), never for acting. ``to_dict`` writes
each list's total beside it (``restored_total`` ... ``untouched_nodes``); records written
before, with whole lists and no totals, still read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

from distributor_rollout.core.errors import ValidationError, wrong
from distributor_rollout.core.operation_ids import rollback_operation_id
from distributor_rollout.core.record_reading import read_or_none
from distributor_rollout.core.rollback import ROLLBACK_MODES, RollbackMode, RollbackPlan
from distributor_rollout.core.rollback_actions import (
    UNINSTALL_ACTIONS,
    RollbackAction,
    action_from_dict,
)
from distributor_rollout.core.rollback_standing import StackSetStanding
from distributor_rollout.core.stored_rollback import SAMPLE_SIZE, StoredRollback
from distributor_rollout.core.targets import Target
from distributor_rollout.core.tries import continues
from distributor_rollout.core.uninstall import UninstallCheck
from distributor_rollout.core.verdict import SUMMARY_LIMIT

ActionStatus = Literal["succeeded", "failed", "pending", "skipped"]
ACTION_STATUSES: tuple[ActionStatus, ...] = get_args(ActionStatus)


@dataclass(frozen=True, slots=True)
class NarrowedDelete:
    """A delete run on only some of its targets: its operations (one per group of
    accounts sharing Regions), the targets it deleted and those it could not (``lost``).
    All empty when it deleted none (every instance kept)."""

    operation_ids: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()
    deleted_total: int | None = None
    """How many it deleted, when ``deleted`` lists only the first (a bounded record)."""
    lost_total: int | None = None
    """How many it could not delete, when ``lost`` lists only the first."""

    @property
    def deleted_count(self) -> int:
        """How many targets it deleted."""
        return len(self.deleted) if self.deleted_total is None else self.deleted_total

    @property
    def lost_count(self) -> int:
        """How many targets it could not delete."""
        return len(self.lost) if self.lost_total is None else self.lost_total

    def bounded(self) -> NarrowedDelete:
        """This delete listing at most ``SAMPLE_SIZE`` of each kind of target."""
        return replace(
            self,
            deleted=self.deleted[:SAMPLE_SIZE],
            lost=self.lost[:SAMPLE_SIZE],
            deleted_total=_total(self.deleted, self.deleted_total),
            lost_total=_total(self.lost, self.lost_total),
        )


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """One rollback action and what became of it. ``action`` is None only in a record
    this code cannot read the action of (hand-written, or from another version)."""

    action: RollbackAction | None
    operation_id: str = ""
    status: ActionStatus | None = None
    summary: str = ""
    narrowed: NarrowedDelete | None = None
    accounts_total: int | None = None
    """How many accounts the action reaches, when ``action`` lists only the first (a
    bounded record); ``description`` is then its ``describe()`` over all of them."""
    description: str = ""

    def describe(self) -> str:
        """The action's line for logs and reports ("" when the record does not name it)."""
        if self.description:
            return self.description
        return self.action.describe() if self.action else ""

    def bounded(self) -> ActionOutcome:
        """This outcome listing at most ``SAMPLE_SIZE`` of the action's accounts and of
        a narrowed delete's targets."""
        narrowed = self.narrowed.bounded() if self.narrowed else None
        if self.action is None or len(self.action.accounts) <= SAMPLE_SIZE:
            return replace(self, narrowed=narrowed)
        return replace(
            self,
            action=replace(self.action, accounts=self.action.accounts[:SAMPLE_SIZE]),
            narrowed=narrowed,
            accounts_total=len(self.action.accounts),
            description=self.action.describe(),
        )

    @classmethod
    def ran(
        cls, action: RollbackAction, operation_id: str, lost: Set[Target], summary: str
    ) -> ActionOutcome:
        """An action that ran: failed when it left any target not restored."""
        return cls(action, operation_id, "failed" if lost else "succeeded", summary)

    @classmethod
    def pending(cls, action: RollbackAction, operation_id: str) -> ActionOutcome:
        """An action not run yet."""
        return cls(action, operation_id, "pending")

    @classmethod
    def all_kept(cls, action: RollbackAction, operation_id: str) -> ActionOutcome:
        """A delete that deleted nothing: every target's instance stays."""
        summary = f"kept all {len(action.targets())} targets' instances"
        return cls(action, operation_id, "skipped", summary, NarrowedDelete())

    @classmethod
    def narrowed_delete(
        cls,
        action: RollbackAction,
        operation_ids: Iterable[str],
        deleted: Set[Target],
        lost: Set[Target],
        summaries: Iterable[str],
    ) -> ActionOutcome:
        """A delete run on ``deleted`` only, one operation per part (``operation_ids``,
        in order; the first names the action)."""
        ids = tuple(operation_ids)
        kept = len(action.targets() - deleted)
        summary = "; ".join(summaries) + f"; {kept} targets' instances kept"
        narrowed = NarrowedDelete(ids, _names(deleted), _names(lost))
        return cls(action, ids[0], "failed" if lost else "succeeded", summary, narrowed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: the action's own fields, then the outcome's."""
        record: dict[str, Any] = {
            **(self.action.to_dict() if self.action else {}),
            "operation_id": self.operation_id,
            "status": self.status,
            "summary": self.summary,
        }
        if self.accounts_total is not None:
            record["accounts_total"] = self.accounts_total
            record["description"] = self.description
        if self.narrowed is not None:
            record["operation_ids"] = list(self.narrowed.operation_ids)
            record["deleted"] = list(self.narrowed.deleted)
            record["lost"] = list(self.narrowed.lost)
            if self.narrowed.deleted_total is not None:
                record["deleted_total"] = self.narrowed.deleted_total
            if self.narrowed.lost_total is not None:
                record["lost_total"] = self.narrowed.lost_total
        return record

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActionOutcome:
        """The inverse of ``to_dict`` (see the module for partial records)."""
        status = data.get("status")
        if status is not None and status not in ACTION_STATUSES:
            expected = " | ".join(ACTION_STATUSES)
            raise ValidationError(
                "rollback action outcome", [wrong("status", "unknown status", status, expected)]
            )
        narrowed = None
        if any(key in data for key in ("operation_ids", "deleted", "lost")):
            deleted, lost = _texts(data.get("deleted")), _texts(data.get("lost"))
            narrowed = NarrowedDelete(
                _texts(data.get("operation_ids")),
                deleted,
                lost,
                _read_total(data, "deleted_total", deleted, "rollback action outcome"),
                _read_total(data, "lost_total", lost, "rollback action outcome"),
            )
        action = _readable_action(data)
        accounts_total = (
            _read_total(data, "accounts_total", action.accounts, "rollback action outcome")
            if action is not None
            else None
        )
        return cls(
            action=action,
            operation_id=str(data.get("operation_id") or ""),
            status=next((known for known in ACTION_STATUSES if known == status), None),
            summary=str(data.get("summary") or ""),
            narrowed=narrowed,
            accounts_total=accounts_total,
            description=str(data.get("description") or "") if accounts_total is not None else "",
        )


@dataclass(frozen=True, slots=True)
class KeptTarget:
    """A target whose instance stays, with the uninstall, for nodes that went offline
    after their wave deployed (they may hold the package)."""

    target: str
    offline_nodes: int


@dataclass(frozen=True, slots=True)
class UntouchedNodes:
    """Nodes of a target left as they were: offline since before their wave deployed."""

    target: str
    nodes: int


@dataclass(frozen=True, slots=True)
class ListTotals:
    """How long each target list of a bounded record is in the whole record, and how
    many nodes its untouched targets have between them."""

    restored: int = 0
    failed: int = 0
    kept: int = 0
    untouched: int = 0
    untouched_nodes: int = 0


@dataclass(frozen=True, slots=True)
class RollbackRecord:
    """The rollback's actions and where each target stands. ``mode`` is None only in a
    record that does not say (the report then takes the plan's). ``stack_set`` is where
    the stack set and its instances stand once the rollback ended (None: not read, as in
    an unfinished record or one from before it was recorded). ``totals`` is set when the
    lists name only their first entries (``bounded``); ``stored`` is where the whole
    record is (``core.stored_rollback``), if it was stored."""

    mode: RollbackMode | None
    actions: tuple[ActionOutcome, ...] = ()
    restored: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    kept: tuple[KeptTarget, ...] = ()
    untouched: tuple[UntouchedNodes, ...] = ()
    note: str = ""
    complete: bool = True
    stack_set: StackSetStanding | None = None
    totals: ListTotals | None = None
    stored: StoredRollback | None = None

    @property
    def actions_run(self) -> int:
        """Actions that ran (or were decided), not those still pending."""
        return sum(1 for outcome in self.actions if outcome.status != "pending")

    @property
    def restored_count(self) -> int:
        """How many targets the rollback restored."""
        return self.totals.restored if self.totals else len(self.restored)

    @property
    def failed_count(self) -> int:
        """How many targets it could not restore."""
        return self.totals.failed if self.totals else len(self.failed)

    @property
    def kept_count(self) -> int:
        """How many targets keep their instance for nodes that went offline."""
        return self.totals.kept if self.totals else len(self.kept)

    @property
    def untouched_count(self) -> int:
        """How many targets have nodes the rollback left as they were."""
        return self.totals.untouched if self.totals else len(self.untouched)

    @property
    def untouched_nodes(self) -> int:
        """How many nodes the rollback left as they were, over every target."""
        if self.totals:
            return self.totals.untouched_nodes
        return sum(item.nodes for item in self.untouched)

    def bounded(self, stored: StoredRollback | None = None) -> RollbackRecord:
        """This record as XCom carries it: every count, and at most ``SAMPLE_SIZE`` entries
        of each list (the first; lists that short stay whole), with ``stored`` (where the
        whole record is) when given."""
        lists = (self.restored, self.failed, self.kept, self.untouched)
        totals = self.totals
        if totals is None and any(len(entries) > SAMPLE_SIZE for entries in lists):
            totals = ListTotals(
                self.restored_count,
                self.failed_count,
                self.kept_count,
                self.untouched_count,
                self.untouched_nodes,
            )
        return replace(
            self,
            actions=tuple(outcome.bounded() for outcome in self.actions),
            restored=self.restored[:SAMPLE_SIZE],
            failed=self.failed[:SAMPLE_SIZE],
            kept=self.kept[:SAMPLE_SIZE],
            untouched=self.untouched[:SAMPLE_SIZE],
            totals=totals,
            stored=stored or self.stored,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: each list with its total (``restored_total``, ``failed_total``,
        ``kept_total``, ``untouched_total``, and ``untouched_nodes``), and ``stored`` only
        in a record whose whole form is stored."""
        record: dict[str, Any] = {
            "mode": self.mode,
            "note": self.note,
            "actions": [outcome.to_dict() for outcome in self.actions],
            "restored": list(self.restored),
            "restored_total": self.restored_count,
            "failed": list(self.failed),
            "failed_total": self.failed_count,
            "kept": [{"target": k.target, "offline_nodes": k.offline_nodes} for k in self.kept],
            "kept_total": self.kept_count,
            "untouched": [{"target": u.target, "nodes": u.nodes} for u in self.untouched],
            "untouched_total": self.untouched_count,
            "untouched_nodes": self.untouched_nodes,
            "complete": self.complete,
            "stack_set": self.stack_set.to_dict() if self.stack_set else None,
        }
        if self.stored is not None:
            record["stored"] = self.stored.to_dict()
        return record

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RollbackRecord:
        """The inverse of ``to_dict`` (see the module for partial records)."""
        mode = data.get("mode")
        if mode is not None and mode not in ROLLBACK_MODES:
            expected = " | ".join(ROLLBACK_MODES)
            raise ValidationError(
                "rollback record", [wrong("mode", "unknown rollback mode", mode, expected)]
            )
        restored, failed = _texts(data.get("restored")), _texts(data.get("failed"))
        kept = tuple(
            KeptTarget(str(item["target"]), int(item["offline_nodes"]))
            for item in data.get("kept") or ()
        )
        untouched = tuple(
            UntouchedNodes(str(item["target"]), int(item["nodes"]))
            for item in data.get("untouched") or ()
        )
        stored = data.get("stored")
        return cls(
            mode=next((known for known in ROLLBACK_MODES if known == mode), None),
            actions=tuple(ActionOutcome.from_dict(item) for item in data.get("actions") or ()),
            restored=restored,
            failed=failed,
            kept=kept,
            untouched=untouched,
            note=str(data.get("note") or ""),
            complete=bool(data.get("complete", True)),
            # Absent from records written before it was recorded; unreadable reads as absent.
            stack_set=read_or_none(StackSetStanding.from_dict, data.get("stack_set")),
            totals=_list_totals(data, restored, failed, kept, untouched),
            stored=StoredRollback.from_dict(stored) if stored else None,
        )

    def incomplete_message(self) -> str | None:
        """Why the rollback task fails, or None when every target was restored."""
        if not self.failed_count:
            return None
        # As truncate_list words it, counting from the total: a bounded record lists only
        # the first failed targets.
        shown = list(self.failed[:SUMMARY_LIMIT])
        hidden = self.failed_count - len(shown)
        return (
            f"rollback ({self.mode}) could not restore {self.failed_count} targets: "
            + ", ".join(shown)
            + (f", and {hidden} more" if hidden > 0 else "")
        )


@dataclass(frozen=True, slots=True)
class DeleteDecision:
    """Which of a delete's targets to delete, and why the others stay: their uninstall
    failed or was not confirmed (``unconfirmed``, not restored), or nodes that may hold the
    package went offline (``kept``, the uninstall waiting in their association). Also the
    nodes the uninstall never needed to reach (``untouched``)."""

    delete: frozenset[Target]
    unconfirmed: frozenset[Target] = frozenset()
    kept: Mapping[Target, int] = field(default_factory=dict)
    untouched: Mapping[Target, int] = field(default_factory=dict)

    @classmethod
    def whole(cls, targets: Set[Target]) -> DeleteDecision:
        """Delete every target: what an earlier try decided when it started the delete
        whole (it had nothing to narrow)."""
        return cls(frozenset(targets))

    @classmethod
    def after_wait(
        cls, targets: Set[Target], check: UninstallCheck, uninstall_failed: Set[Target]
    ) -> DeleteDecision:
        """Delete the targets whose every node that can run the uninstall ran it. Targets
        whose uninstall failed (now, or in an earlier action) or was not confirmed stay
        and count as not restored; targets kept for offline nodes stay, restored as far as
        any reachable node goes."""
        kept = set(check.kept)
        blocked = (check.unconfirmed | (frozenset(targets) & uninstall_failed)) - kept
        return cls(
            frozenset(targets) - blocked - kept,
            frozenset(blocked),
            dict(check.kept),
            dict(check.untouched),
        )

    def narrows(self, targets: Set[Target]) -> bool:
        """Whether the delete must run on fewer targets than its action reaches."""
        return self.delete != targets

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "delete": list(_names(self.delete)),
            "unconfirmed": list(_names(self.unconfirmed)),
            "kept": [
                {"target": str(target), "offline_nodes": nodes}
                for target, nodes in sorted(self.kept.items())
            ],
            "untouched": [
                {"target": str(target), "nodes": nodes}
                for target, nodes in sorted(self.untouched.items())
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeleteDecision:
        """The inverse of ``to_dict``."""
        return cls(
            delete=frozenset(Target.parse(name) for name in data["delete"]),
            unconfirmed=frozenset(Target.parse(name) for name in data.get("unconfirmed", ())),
            kept={
                Target.parse(item["target"]): int(item["offline_nodes"])
                for item in data.get("kept", ())
            },
            untouched={
                Target.parse(item["target"]): int(item["nodes"])
                for item in data.get("untouched", ())
            },
        )


def decisions_to_dict(decisions: Mapping[int, DeleteDecision]) -> dict[str, Any]:
    """Delete decisions by action index, as XCom holds them (JSON keys are text)."""
    return {str(index): decision.to_dict() for index, decision in sorted(decisions.items())}


def decisions_from_dict(data: Mapping[str, Any]) -> dict[int, DeleteDecision]:
    """The inverse of ``decisions_to_dict``."""
    return {int(index): DeleteDecision.from_dict(item) for index, item in data.items()}


@dataclass(frozen=True, slots=True)
class DeleteJournal:
    """The delete decisions as the task state store keeps them across tries, with the
    task's ``max_tries`` when they were made (an Airflow retry continues them; a clear
    starts afresh, see ``core.tries``)."""

    max_tries: int
    decisions: Mapping[int, DeleteDecision] = field(default_factory=dict)

    def resumes(self, max_tries: int) -> bool:
        """Whether a try with this ``max_tries`` acts on these decisions."""
        return continues(self.max_tries, max_tries)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"max_tries": self.max_tries, "decisions": decisions_to_dict(self.decisions)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeleteJournal:
        """The inverse of ``to_dict``."""
        return cls(int(data["max_tries"]), decisions_from_dict(data["decisions"]))


@dataclass(frozen=True, slots=True)
class RollbackProgress:
    """What a rollback has done so far: one outcome per action run, the targets not
    restored (and among them those whose uninstall failed, which a later delete must
    keep), and the offline nodes it left alone."""

    outcomes: tuple[ActionOutcome, ...] = ()
    failed: frozenset[Target] = frozenset()
    uninstall_failed: frozenset[Target] = frozenset()
    kept: Mapping[Target, int] = field(default_factory=dict)
    untouched: Mapping[Target, int] = field(default_factory=dict)

    def ran(self, outcome: ActionOutcome, lost: Set[Target]) -> RollbackProgress:
        """After an action: ``lost`` are its targets not restored."""
        uninstall = isinstance(outcome.action, UNINSTALL_ACTIONS)
        return replace(
            self,
            outcomes=(*self.outcomes, outcome),
            failed=self.failed | lost,
            uninstall_failed=self.uninstall_failed | (lost if uninstall else frozenset()),
        )

    def decided(self, decision: DeleteDecision) -> RollbackProgress:
        """After a delete's decision: its unconfirmed targets are not restored."""
        return replace(
            self,
            failed=self.failed | decision.unconfirmed,
            uninstall_failed=self.uninstall_failed | decision.unconfirmed,
            kept={**self.kept, **decision.kept},
            untouched={**self.untouched, **decision.untouched},
        )

    def confirmed(self, check: UninstallCheck) -> RollbackProgress:
        """After waiting on the uninstalls whose instances stay (``uninstall`` mode)."""
        return replace(
            self,
            failed=self.failed | check.unconfirmed,
            kept={**self.kept, **check.kept},
            untouched={**self.untouched, **check.untouched},
        )

    def unfinished(self, plan: RollbackPlan, run_id: str) -> RollbackRecord:
        """The record pushed before the next action: the rest ``pending``, and every
        target of the plan counted as not restored until the rollback has finished."""
        pending = tuple(
            ActionOutcome.pending(action, rollback_operation_id(run_id, index))
            for index, action in enumerate(plan.actions)
            if index >= len(self.outcomes)
        )
        return RollbackRecord(
            mode=plan.mode,
            actions=(*self.outcomes, *pending),
            failed=_names(plan.targets()),
            kept=_kept(self.kept),
            untouched=_untouched(self.untouched),
            note=plan.note,
            complete=False,
        )

    def finished(self, plan: RollbackPlan) -> RollbackRecord:
        """The final record: a target kept for offline nodes is not also failed, and every
        other target of the plan not failed was restored."""
        kept = {target: n for target, n in self.kept.items() if target not in self.failed}
        return RollbackRecord(
            mode=plan.mode,
            actions=self.outcomes,
            restored=_names(plan.targets() - self.failed - set(kept)),
            failed=_names(self.failed),
            kept=_kept(kept),
            untouched=_untouched(self.untouched),
            note=plan.note,
            complete=True,
        )


def _names(targets: Iterable[Target]) -> tuple[str, ...]:
    return tuple(str(target) for target in sorted(targets))


def _kept(kept: Mapping[Target, int]) -> tuple[KeptTarget, ...]:
    return tuple(KeptTarget(str(target), nodes) for target, nodes in sorted(kept.items()))


def _untouched(untouched: Mapping[Target, int]) -> tuple[UntouchedNodes, ...]:
    return tuple(UntouchedNodes(str(target), n) for target, n in sorted(untouched.items()))


def _total(entries: tuple[Any, ...], total: int | None) -> int | None:
    """The total a bounded list records: its length when longer than the sample."""
    if total is not None:
        return total
    return len(entries) if len(entries) > SAMPLE_SIZE else None


def _read_total(
    data: Mapping[str, Any], name: str, listed: tuple[Any, ...], subject: str
) -> int | None:
    """``data[name]``, a list's total: None when absent or no more than it lists (the list
    is whole); ``ValidationError`` when it is not a count or fewer than it lists."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < len(listed):
        expected = f"a whole number ≥ {len(listed)} (the entries listed)"
        raise ValidationError(subject, [wrong(name, "not a count", value, expected)])
    return value if value > len(listed) else None


def _list_totals(
    data: Mapping[str, Any],
    restored: tuple[str, ...],
    failed: tuple[str, ...],
    kept: tuple[KeptTarget, ...],
    untouched: tuple[UntouchedNodes, ...],
) -> ListTotals | None:
    """The totals a bounded record wrote, or None when its lists are whole (every total
    equals its list's length, or the record is from before totals were written)."""
    subject = "rollback record"
    read = [
        _read_total(data, "restored_total", restored, subject),
        _read_total(data, "failed_total", failed, subject),
        _read_total(data, "kept_total", kept, subject),
        _read_total(data, "untouched_total", untouched, subject),
    ]
    listed_nodes = sum(item.nodes for item in untouched)
    nodes = data.get("untouched_nodes")
    if nodes is not None and (
        not isinstance(nodes, int) or isinstance(nodes, bool) or nodes < listed_nodes
    ):
        expected = f"a whole number ≥ {listed_nodes} (the listed targets' nodes)"
        raise ValidationError(subject, [wrong("untouched_nodes", "not a count", nodes, expected)])
    if all(total is None for total in read) and (nodes is None or nodes == listed_nodes):
        return None
    lengths = (len(restored), len(failed), len(kept), len(untouched))
    restored_n, failed_n, kept_n, untouched_n = (
        length if total is None else total for total, length in zip(read, lengths, strict=True)
    )
    return ListTotals(
        restored_n, failed_n, kept_n, untouched_n, listed_nodes if nodes is None else nodes
    )


def _texts(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        return ()
    return tuple(str(item) for item in value)


def _readable_action(data: Mapping[str, Any]) -> RollbackAction | None:
    """The action an outcome names, or None when the record does not name one this code
    reads: the outcome's status still counts."""
    try:
        return action_from_dict(data)
    except (KeyError, TypeError, ValueError, ValidationError):
        return None
