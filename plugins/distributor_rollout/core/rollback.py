"""What to undo when a rollout fails: the exact targets this run changed, and only those.

Operators record, wave by wave, every stack instance they created or updated and the
template it ran before. From that record this module plans the StackSets calls that put
each target back. A StackSets call applies to accounts × Regions, so targets are grouped
by account into sets with identical changed Regions: the cross products of one kind of
action then cover the changed targets exactly, and a target the run never touched is
never touched by the rollback either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, replace
from typing import Any, Literal

from distributor_rollout.core.changes import TargetChange, TemplateRef, WaveChanges
from distributor_rollout.core.errors import Problem, ValidationError, wrong
from distributor_rollout.core.rollback_actions import (
    UNINSTALL_ACTIONS,
    DeleteInstances,
    RestoreTemplate,
    RollbackAction,
    UninstallInstances,
    action_from_dict,
    forward_restore,
    target_scopes,
    uninstall_by_template,
)
from distributor_rollout.core.targets import Target
from distributor_rollout.core.verdict import OperationVerdict

RollbackMode = Literal["previous_version", "uninstall", "none"]
ROLLBACK_MODES: tuple[RollbackMode, ...] = ("previous_version", "uninstall", "none")


@dataclass(frozen=True, slots=True)
class RollbackPlan:
    """The actions to run, in order, and a note on what the plan does not do."""

    mode: RollbackMode
    actions: tuple[RollbackAction, ...]
    note: str = ""

    def targets(self) -> frozenset[Target]:
        """Every target some action reaches: exactly the targets the run changed."""
        return frozenset().union(*(action.targets() for action in self.actions))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "mode": self.mode,
            "actions": [action.to_dict() for action in self.actions],
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RollbackPlan:
        """The inverse of ``to_dict``."""
        mode = _checked_mode(data["mode"])
        actions = tuple(action_from_dict(item) for item in data["actions"])
        return cls(mode, actions, data.get("note", ""))


def plan_rollback(waves: Sequence[WaveChanges], mode: str) -> RollbackPlan:
    """Plan the calls that undo ``waves`` (given in the order they ran).

    ``previous_version``: created instances are uninstalled (while the stack set still
    holds this run's template, so the uninstall removes the version that was installed),
    then updated instances get their previous template back, then the created instances
    are deleted. ``uninstall``: every changed instance is uninstalled, then the created
    ones are deleted. ``none``: nothing. Within each step, later waves come first.

    A target changed by several waves is rolled back once, with the latest wave that
    touched it, to the state its earliest change recorded (the state before this run).
    """
    checked = _checked_mode(mode)
    first, position, ou_of = _index(waves)
    if checked == "none":
        count = len(first)
        note = f"rollback mode 'none': the {count} changed target{'s' * (count != 1)} stay as is"
        return RollbackPlan(checked, (), note)
    previous = _previous_templates(first) if checked == "previous_version" else {}

    # Per wave that rolls back (latest first): its created and updated targets.
    order = sorted(set(position.values()), reverse=True)
    created: dict[int, list[Target]] = {pos: [] for pos in order}
    updated: dict[int, list[Target]] = {pos: [] for pos in order}
    for target, pos in sorted(position.items()):
        (created if first[target].kind == "created" else updated)[pos].append(target)

    actions: list[RollbackAction] = []
    for pos in order:
        uninstall = created[pos] + (updated[pos] if checked == "uninstall" else [])
        actions += [
            UninstallInstances(wave=waves[pos].wave, ou_ids=o, accounts=a, regions=r)
            for o, a, r in target_scopes(uninstall, ou_of)
        ]
    for pos in order:
        by_template: dict[TemplateRef, list[Target]] = {}
        for target in updated[pos] if checked == "previous_version" else []:
            by_template.setdefault(previous[target], []).append(target)
        for template in sorted(by_template, key=lambda t: (t.template_url, *t.parameters.items())):
            actions += [
                RestoreTemplate(
                    wave=waves[pos].wave, template=template, ou_ids=o, accounts=a, regions=r
                )
                for o, a, r in target_scopes(by_template[template], ou_of)
            ]
    for pos in order:
        actions += [
            DeleteInstances(wave=waves[pos].wave, ou_ids=o, accounts=a, regions=r)
            for o, a, r in target_scopes(created[pos], ou_of)
        ]
    note = "" if actions else "nothing to roll back: no target was changed"
    return RollbackPlan(checked, tuple(actions), note)


def forward_plan(plan: RollbackPlan, current: TemplateRef) -> RollbackPlan:
    """The plan as it runs against a stack set holding ``current`` (this run's template):
    restores made forward-only (``forward_restore``) and uninstalls made stack set
    updates where the template allows (``uninstall_by_template``)."""
    actions = tuple(
        replace(action, template=forward_restore(action.template, current))
        if isinstance(action, RestoreTemplate)
        else uninstall_by_template(action, current)
        if isinstance(action, UninstallInstances)
        else action
        for action in plan.actions
    )
    return replace(plan, actions=actions)


def uninstalls_to_confirm(
    plan: RollbackPlan, already_failed: Set[Target]
) -> list[tuple[RollbackAction, frozenset[Target]]]:
    """The uninstalls whose instances stay (``uninstall`` mode's updated targets), each
    with the targets to wait on: such a target counts as restored only once its nodes
    that can run the uninstall ran it. Deleted targets were waited on before their
    delete; targets already failed need no wait."""
    deleted = frozenset().union(
        *(action.targets() for action in plan.actions if isinstance(action, DeleteInstances))
    )
    waits: list[tuple[RollbackAction, frozenset[Target]]] = []
    for action in plan.actions:
        waiting_for = action.targets() - deleted - already_failed
        if isinstance(action, UNINSTALL_ACTIONS) and waiting_for:
            waits.append((action, waiting_for))
    return waits


def retried_summary(summary: str, attempt: int, lost: Set[Target], still: Set[Target]) -> str:
    """An action's summary after its ``attempt``-th retry on its ``lost`` targets, of
    which ``still`` stay lost."""
    return f"{summary}; retry {attempt}: {len(lost) - len(still)} of {len(lost)} restored"


def unrestored(verdict: OperationVerdict, targets: frozenset[Target]) -> frozenset[Target]:
    """The targets a rollback action's operation did not put back: those that failed or
    were cancelled; all of them when the operation failed without naming any."""
    lost = frozenset(item.target for item in verdict.failed) | frozenset(verdict.cancelled)
    return targets if verdict.outcome == "failed" and not lost else lost


def rollback_summary(plan: RollbackPlan) -> str:
    """A heading line with the counts, then one numbered line per action."""
    count = len(plan.actions)
    reached = len(plan.targets())
    head = (
        f"rollback ({plan.mode}): {count} action{'s' * (count != 1)} "
        f"on {reached} target{'s' * (reached != 1)}"
    )
    if plan.note:
        head += f"; {plan.note}"
    lines = [head]
    lines += [
        f"  {number}. [{action.wave}] {action.describe()} ({action.api_call})"
        for number, action in enumerate(plan.actions, start=1)
    ]
    return "\n".join(lines)


def _checked_mode(mode: object) -> RollbackMode:
    for known in ROLLBACK_MODES:
        if mode == known:
            return known
    expected = " | ".join(ROLLBACK_MODES)
    raise ValidationError("rollback", [wrong("mode", "unknown rollback mode", mode, expected)])


def _index(
    waves: Sequence[WaveChanges],
) -> tuple[dict[Target, TargetChange], dict[Target, int], dict[str, str]]:
    """Per target: its earliest change and the latest wave; per account: one OU."""
    first: dict[Target, TargetChange] = {}
    position: dict[Target, int] = {}
    ou_of: dict[str, str] = {}
    for index, wave in enumerate(waves):
        for change in wave.changes:
            first.setdefault(change.target, change)
            position[change.target] = index
            # The OU the account was first deployed through; any OU that reached it works
            # for INTERSECTION, one per account keeps it in a single OU chunk.
            ou_of.setdefault(change.target.account_id, change.ou_id)
    return first, position, ou_of


def _previous_templates(first: Mapping[Target, TargetChange]) -> dict[Target, TemplateRef]:
    """The template each updated target ran before; every one must have been recorded."""
    missing = [t for t, c in sorted(first.items()) if c.kind == "updated" and c.previous is None]
    if missing:
        message = "updated, but its previous template was not recorded"
        problems = [Problem(str(target), message) for target in missing]
        raise ValidationError("rollback to the previous version", problems)
    return {target: c.previous for target, c in first.items() if c.previous is not None}
