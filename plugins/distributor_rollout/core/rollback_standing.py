"""Where the stack set stands once a rollback has run: what it holds, and which of its
stack instances are not CURRENT with it, and why.

A stack set holds one template and one set of parameter values, and an instance is CURRENT
only while its stack runs them. An ``UpdateStackSet`` that changes them marks every
instance OUTDATED before it updates only the targets it names, and an instance turns
CURRENT again only when an operation updates it (API reference, UpdateStackSet,
``DeploymentTargets`` and ``Regions``). So a rollout's first wave leaves the instances of
every wave the run never reached OUTDATED, and the rollback, which restores only the
targets the run changed, leaves them so: making them CURRENT would take an operation over
accounts the run never changed, which with a forward restore
(``core.rollback_actions.forward_restore``) would also add the rolled-back version to
their package document. They keep running what they ran before the run; the report says
so instead (``core.report.StackSetStandingReport``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Any

from distributor_rollout.core.targets import Target

CURRENT = "CURRENT"
OUTDATED = "OUTDATED"
NAMES_KEPT = 50
"""Instances a record names per list (the totals count the rest): XCom stays small."""


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    """One ``ListStackInstances`` summary: where the instance is and its ``Status``."""

    target: Target
    status: str

    @classmethod
    def from_api(cls, summary: Mapping[str, Any]) -> InstanceStatus:
        """From a botocore ``StackInstanceSummary``."""
        return cls(Target(summary["Account"], summary["Region"]), str(summary.get("Status", "")))


@dataclass(frozen=True, slots=True)
class StackSetStanding:
    """The stack set after the rollback, as StackSets reports it.

    ``holds`` is what its template and parameters install now, ``before`` what they
    installed before the run ("" when the run created the stack set), both in words
    (``version_text``). ``untouched_outdated`` are instances the run never changed that are
    OUTDATED (the first ``NAMES_KEPT``, ``untouched_outdated_total`` in all);
    ``restored_outdated`` are instances the rollback put back that still are not CURRENT
    with what the stack set holds (the run's waves ran different versions before, and the
    stack set holds the last one restored).
    """

    holds: str
    before: str = ""
    instances: int = 0
    current: int = 0
    untouched_outdated: tuple[str, ...] = ()
    untouched_outdated_total: int = 0
    restored_outdated: tuple[str, ...] = ()
    restored_outdated_total: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "holds": self.holds,
            "before": self.before,
            "instances": self.instances,
            "current": self.current,
            "untouched_outdated": list(self.untouched_outdated),
            "untouched_outdated_total": self.untouched_outdated_total,
            "restored_outdated": list(self.restored_outdated),
            "restored_outdated_total": self.restored_outdated_total,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StackSetStanding:
        """The inverse of ``to_dict``."""
        return cls(
            holds=str(data["holds"]),
            before=str(data.get("before") or ""),
            instances=int(data["instances"]),
            current=int(data["current"]),
            untouched_outdated=tuple(str(name) for name in data.get("untouched_outdated", ())),
            untouched_outdated_total=int(data.get("untouched_outdated_total", 0)),
            restored_outdated=tuple(str(name) for name in data.get("restored_outdated", ())),
            restored_outdated_total=int(data.get("restored_outdated_total", 0)),
        )


def version_text(parameters: Mapping[str, str]) -> str:
    """What a set of the package template's parameter values installs, in words:
    ``ExamplePackage 1.0.2``; after a forward restore ``ExamplePackage 1.0.2 (package
    document at 1.1.0)``; after an uninstall ``the uninstall of ExamplePackage (package
    document at 1.1.0)``."""
    package = parameters.get("PackageName", "")
    document = parameters.get("Version", "")
    installs = parameters.get("AssociationVersion") or document
    if parameters.get("Action") == "Uninstall":
        return f"the uninstall of {package or 'the package'} (package document at {document})"
    text = f"{package} {installs}".strip() or "no package version"
    if document and installs != document:
        text += f" (package document at {document})"
    return text


def stack_set_standing(
    parameters: Mapping[str, str],
    previous: Mapping[str, str] | None,
    instances: Iterable[InstanceStatus],
    *,
    changed: Set[Target],
    failed: Set[Target],
) -> StackSetStanding:
    """The standing of a stack set holding ``parameters`` (``previous`` before the run;
    None when the run created it) with these ``instances``, after a rollback of the
    ``changed`` targets of which ``failed`` could not be restored (those are reported as
    failed already, whatever their status)."""
    listed = sorted(instances, key=lambda item: item.target)
    untouched = [i.target for i in listed if i.target not in changed and i.status == OUTDATED]
    restored = [
        i.target
        for i in listed
        if i.target in changed and i.target not in failed and i.status != CURRENT
    ]
    return StackSetStanding(
        holds=version_text(parameters),
        before=version_text(previous) if previous is not None else "",
        instances=len(listed),
        current=sum(1 for item in listed if item.status == CURRENT),
        untouched_outdated=tuple(str(target) for target in untouched[:NAMES_KEPT]),
        untouched_outdated_total=len(untouched),
        restored_outdated=tuple(str(target) for target in restored[:NAMES_KEPT]),
        restored_outdated_total=len(restored),
    )
