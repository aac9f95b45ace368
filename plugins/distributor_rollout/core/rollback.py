"""What to undo when a rollout fails: the exact targets this run changed, and only those.

Operators record, wave by wave, every stack instance they created or updated and the
template it ran before. From that record this module plans the StackSets calls that put
each target back. A StackSets call applies to accounts × Regions, so targets are grouped
by account into sets with identical changed Regions: the cross products of one kind of
action then cover the changed targets exactly, and a target the run never touched is
never touched by the rollback either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from distributor_rollout.core import rules
from distributor_rollout.core.errors import Problem, ValidationError, wrong
from distributor_rollout.core.targets import Target

RollbackMode = Literal["previous_version", "uninstall", "none"]
ChangeKind = Literal["created", "updated"]
ROLLBACK_MODES: tuple[RollbackMode, ...] = ("previous_version", "uninstall", "none")
MAX_OUS_PER_ACTION = 50
"""StackSets accept at most 50 OU ids in one call's ``DeploymentTargets``."""
UNINSTALL_PARAMETER = "Action"
"""The template parameter that feeds ``AWS-ConfigureAWSPackage``'s ``action``."""
UNINSTALL_VALUE = "Uninstall"


@dataclass(frozen=True, slots=True)
class TemplateRef:
    """A template as it was deployed: its immutable S3 URL and the parameter values."""

    template_url: str
    parameters: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A read-only sorted copy: the caller's dict may change, this record must not.
        frozen = MappingProxyType(dict(sorted(self.parameters.items())))
        object.__setattr__(self, "parameters", frozen)

    def __hash__(self) -> int:
        return hash((self.template_url, tuple(self.parameters.items())))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"template_url": self.template_url, "parameters": dict(self.parameters)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TemplateRef:
        """The inverse of ``to_dict``."""
        return cls(data["template_url"], dict(data.get("parameters", {})))


@dataclass(frozen=True, slots=True)
class TargetChange:
    """One stack instance a wave created or updated; ``previous`` is what ran before.

    ``ou_id`` is the OU the wave deployed through (it may be a parent of the account's
    own OU): the rollback targets the account through the same OU.
    """

    target: Target
    ou_id: str
    kind: ChangeKind
    previous: TemplateRef | None = None

    def __post_init__(self) -> None:
        problems = []
        if (message := rules.ou_id(self.ou_id)) is not None:
            problems.append(Problem("ou_id", message))
        if self.kind not in ("created", "updated"):
            problems.append(wrong("kind", "unknown change", self.kind, "created | updated"))
        if self.kind == "created" and self.previous is not None:
            problems.append(Problem("previous", "a created instance has no previous template"))
        if problems:
            raise ValidationError(f"change of {self.target}", problems)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "target": self.target.to_dict(),
            "ou_id": self.ou_id,
            "kind": self.kind,
            "previous": self.previous.to_dict() if self.previous else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetChange:
        """The inverse of ``to_dict``."""
        previous = data.get("previous")
        return cls(
            target=Target.from_dict(data["target"]),
            ou_id=data["ou_id"],
            kind=data["kind"],
            previous=TemplateRef.from_dict(previous) if previous else None,
        )


@dataclass(frozen=True, slots=True)
class WaveChanges:
    """Every instance one wave changed, in the order the waves ran."""

    wave: str
    changes: tuple[TargetChange, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "changes", tuple(self.changes))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, each previous template written once.

        A template's parameters hold the whole manifest (up to 64 KB); repeated per target
        they would make a wave's XCom grow with targets × manifest. Changes refer to an
        entry of ``templates`` by index instead.
        """
        templates: list[TemplateRef] = []
        changes = []
        for change in self.changes:
            item = change.to_dict()
            if change.previous is not None:
                if change.previous not in templates:
                    templates.append(change.previous)
                item["previous"] = templates.index(change.previous)
            changes.append(item)
        return {
            "wave": self.wave,
            "templates": [template.to_dict() for template in templates],
            "changes": changes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WaveChanges:
        """The inverse of ``to_dict`` (also reads changes with inline templates)."""
        templates = [TemplateRef.from_dict(t) for t in data.get("templates", [])]
        changes = []
        for item in data["changes"]:
            previous = item.get("previous")
            inline = templates[previous].to_dict() if isinstance(previous, int) else previous
            changes.append(TargetChange.from_dict({**item, "previous": inline}))
        return cls(data["wave"], tuple(changes))


@dataclass(frozen=True, slots=True, kw_only=True)
class _Action:
    """Common to every action: the wave it undoes and the accounts × Regions it reaches."""

    kind: ClassVar[str]
    api_call: ClassVar[str]
    wave: str
    ou_ids: tuple[str, ...]
    accounts: tuple[str, ...]
    regions: tuple[str, ...]

    def targets(self) -> frozenset[Target]:
        """Every target the call reaches (``INTERSECTION``: listed accounts × Regions)."""
        return frozenset(Target(a, r) for a in self.accounts for r in self.regions)

    def api_request(self) -> dict[str, Any]:
        """The call's arguments, short of ``StackSetName``, ``CallAs``, ``OperationId`` and
        ``OperationPreferences`` (the operator owns those)."""
        return {
            "DeploymentTargets": {
                "OrganizationalUnitIds": list(self.ou_ids),
                "Accounts": list(self.accounts),
                "AccountFilterType": "INTERSECTION",
            },
            "Regions": list(self.regions),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, tagged with ``kind``."""
        return {
            "kind": self.kind,
            "wave": self.wave,
            "ou_ids": list(self.ou_ids),
            "accounts": list(self.accounts),
            "regions": list(self.regions),
        }

    def _scope_text(self) -> str:
        accounts, regions = len(self.accounts), len(self.regions)
        return (
            f"{accounts} account{'s' * (accounts != 1)} x {regions} "
            f"Region{'s' * (regions != 1)} ({', '.join(self.regions)})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreTemplate(_Action):
    """``UpdateStackSet`` back to an earlier template and parameters, on these targets."""

    kind: ClassVar[str] = "restore_template"
    api_call: ClassVar[str] = "UpdateStackSet"
    template: TemplateRef

    @property
    def template_url(self) -> str:
        """The template to restore."""
        return self.template.template_url

    @property
    def parameters(self) -> Mapping[str, str]:
        """The parameter values to restore."""
        return self.template.parameters

    def api_request(self) -> dict[str, Any]:
        """``UpdateStackSet`` arguments (see ``_Action.api_request``)."""
        # Not super(): zero-argument super() breaks in slots dataclasses before 3.14.
        request = _Action.api_request(self)
        request["TemplateURL"] = self.template_url
        request["Parameters"] = [
            {"ParameterKey": key, "ParameterValue": value} for key, value in self.parameters.items()
        ]
        return request

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {**_Action.to_dict(self), **self.template.to_dict()}

    def describe(self) -> str:
        """One line for logs and reports."""
        count = len(self.parameters)
        return (
            f"restore {self.template_url} ({count} parameter{'s' * (count != 1)}) "
            f"on {self._scope_text()}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class UninstallInstances(_Action):
    """``UpdateStackInstances`` with ``Action=Uninstall``: the association removes the
    package from the nodes. Wait for the association's compliance before going on."""

    kind: ClassVar[str] = "uninstall"
    api_call: ClassVar[str] = "UpdateStackInstances"
    wait_for_compliance: ClassVar[bool] = True

    def api_request(self) -> dict[str, Any]:
        """``UpdateStackInstances`` arguments (see ``_Action.api_request``)."""
        request = _Action.api_request(self)
        request["ParameterOverrides"] = [
            {"ParameterKey": UNINSTALL_PARAMETER, "ParameterValue": UNINSTALL_VALUE}
        ]
        return request

    def describe(self) -> str:
        """One line for logs and reports."""
        return f"uninstall the package on {self._scope_text()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteInstances(_Action):
    """``DeleteStackInstances``: remove instances this run created (after uninstalling)."""

    kind: ClassVar[str] = "delete"
    api_call: ClassVar[str] = "DeleteStackInstances"

    def api_request(self) -> dict[str, Any]:
        """``DeleteStackInstances`` arguments (see ``_Action.api_request``)."""
        request = _Action.api_request(self)
        request["RetainStacks"] = False
        return request

    def describe(self) -> str:
        """One line for logs and reports."""
        return f"delete the stack instances on {self._scope_text()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class UninstallByTemplate(_Action):
    """``UpdateStackSet`` to this run's template with ``Action=Uninstall``, on these targets.

    The uninstall a rollback runs when the template lets the stack set's own parameters
    say so: unlike ``UninstallInstances``' parameter override, which every later stack set
    update would keep (overrides survive ``UpdateStackSet``), it leaves nothing behind
    that would make the next rollout uninstall again.
    """

    kind: ClassVar[str] = "uninstall_by_template"
    api_call: ClassVar[str] = "UpdateStackSet"
    wait_for_compliance: ClassVar[bool] = True
    template: TemplateRef

    def api_request(self) -> dict[str, Any]:
        """``UpdateStackSet`` arguments (see ``_Action.api_request``)."""
        request = _Action.api_request(self)
        request["TemplateURL"] = self.template.template_url
        request["Parameters"] = [
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in self.template.parameters.items()
        ]
        return request

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {**_Action.to_dict(self), **self.template.to_dict()}

    def describe(self) -> str:
        """One line for logs and reports."""
        return f"uninstall the package (stack set update) on {self._scope_text()}"


RollbackAction = RestoreTemplate | UninstallInstances | UninstallByTemplate | DeleteInstances
UNINSTALL_ACTIONS = (UninstallInstances, UninstallByTemplate)


def action_from_dict(data: Mapping[str, Any]) -> RollbackAction:
    """The inverse of any action's ``to_dict``, dispatched on ``kind``."""
    scope = {
        "wave": data["wave"],
        "ou_ids": tuple(data["ou_ids"]),
        "accounts": tuple(data["accounts"]),
        "regions": tuple(data["regions"]),
    }
    kind = data.get("kind")
    if kind == RestoreTemplate.kind:
        return RestoreTemplate(**scope, template=TemplateRef.from_dict(data))
    if kind == UninstallInstances.kind:
        return UninstallInstances(**scope)
    if kind == UninstallByTemplate.kind:
        return UninstallByTemplate(**scope, template=TemplateRef.from_dict(data))
    if kind == DeleteInstances.kind:
        return DeleteInstances(**scope)
    expected = "restore_template | uninstall | uninstall_by_template | delete"
    raise ValidationError("rollback action", [wrong("kind", "unknown action", kind, expected)])


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


def target_scopes(
    targets: Iterable[Target], ou_of: Mapping[str, str]
) -> list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    """(OU ids, accounts, Regions) per call reaching exactly ``targets``: accounts grouped
    by their exact set of Regions (a call reaches accounts × Regions), then split so no
    call names more OUs than the API allows. Rollbacks and wave creates both use it."""
    regions_of: dict[str, set[str]] = {}
    for target in targets:
        regions_of.setdefault(target.account_id, set()).add(target.region)
    groups: dict[tuple[str, ...], list[str]] = {}
    for account, account_regions in regions_of.items():
        groups.setdefault(tuple(sorted(account_regions)), []).append(account)

    scopes = []
    for regions in sorted(groups):
        accounts_by_ou: dict[str, list[str]] = {}
        for account in groups[regions]:
            accounts_by_ou.setdefault(ou_of[account], []).append(account)
        ous = sorted(accounts_by_ou)
        for start in range(0, len(ous), MAX_OUS_PER_ACTION):
            chunk = tuple(ous[start : start + MAX_OUS_PER_ACTION])
            accounts = tuple(sorted(a for ou in chunk for a in accounts_by_ou[ou]))
            scopes.append((chunk, accounts, regions))
    return scopes


ASSOCIATION_VERSION_PARAMETER = "AssociationVersion"
"""The template parameter that pins the package version the association installs."""
DOCUMENT_PARAMETERS = frozenset(
    {
        "PackageName",
        "Version",
        "S3PackageBucket",
        "S3PackageBucketFolder",
        "S3PackageUrl",
        "S3PackageBucketPrefix",
        "S3PackageBucketSuffix",
        "ManifestContent",
        *(f"ManifestContentPart{n:02d}" for n in range(2, 17)),
    }
)
"""Parameters that feed the package document (``AWS::SSM::Document``) itself."""


def forward_restore(previous: TemplateRef, current: TemplateRef) -> TemplateRef:
    """What a rollback deploys to put a target back on ``previous``.

    Not ``previous`` itself: its ``Version`` is already in the package document's history,
    and SSM refuses a version name a document has (``DuplicateDocumentVersionName``), so
    the stack update would fail. The package document moves only forward: the restore
    keeps this run's template and document parameters, takes every other parameter
    (association settings, compliance reader) from ``previous``, and pins
    ``AssociationVersion`` to the version ``previous`` installed, which the document still
    holds. A different package (another ``PackageName``), or a template without the
    ``AssociationVersion`` pin, has no such way back and is restored as recorded.
    """
    old, new = previous.parameters, current.parameters
    installed = old.get(ASSOCIATION_VERSION_PARAMETER) or old.get("Version")
    pinnable = ASSOCIATION_VERSION_PARAMETER in new
    if not installed or not pinnable or old.get("PackageName") != new.get("PackageName"):
        return previous
    parameters = {key: value for key, value in old.items() if key not in DOCUMENT_PARAMETERS}
    parameters.update({key: value for key, value in new.items() if key in DOCUMENT_PARAMETERS})
    parameters[ASSOCIATION_VERSION_PARAMETER] = installed
    return TemplateRef(current.template_url, parameters)


def uninstall_by_template(action: UninstallInstances, current: TemplateRef) -> RollbackAction:
    """The uninstall as a stack set update of ``current`` with ``Action=Uninstall`` when
    the template has that parameter; otherwise the parameter-override uninstall as is."""
    if UNINSTALL_PARAMETER not in current.parameters:
        return action
    parameters = {**current.parameters, UNINSTALL_PARAMETER: UNINSTALL_VALUE}
    return UninstallByTemplate(
        wave=action.wave,
        ou_ids=action.ou_ids,
        accounts=action.accounts,
        regions=action.regions,
        template=TemplateRef(current.template_url, parameters),
    )
