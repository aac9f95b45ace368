"""The StackSets calls a rollback makes, and how each is shaped from what the run changed.

Each action reaches accounts × Regions through OUs (``INTERSECTION``): ``target_scopes``
groups targets so that the cross products cover them exactly. ``forward_restore`` and
``uninstall_by_template`` adapt restores and uninstalls to the package template, whose
package document may only move forward.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.errors import ValidationError, wrong
from distributor_rollout.core.targets import Target

MAX_OUS_PER_ACTION = 50
"""StackSets accept at most 50 OU ids in one call's ``DeploymentTargets``."""
UNINSTALL_PARAMETER = "Action"
"""The template parameter that feeds ``AWS-ConfigureAWSPackage``'s ``action``."""
UNINSTALL_VALUE = "Uninstall"


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


def action_templates(actions: Iterable[RollbackAction]) -> list[TemplateRef]:
    """The stored templates the actions pass to ``UpdateStackSet`` (each once, in order):
    what a rollback reads back and checks before its first call."""
    templates: list[TemplateRef] = []
    for action in actions:
        if not isinstance(action, RestoreTemplate | UninstallByTemplate):
            continue
        if action.template not in templates:
            templates.append(action.template)
    return templates


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


def narrowed(action: RollbackAction, targets: Iterable[Target]) -> list[RollbackAction]:
    """The action restricted to ``targets`` (those of its targets only): one action per
    group of accounts sharing the same Regions, so each call reaches exactly its targets.

    The OU ids are kept: with ``INTERSECTION`` the accounts narrow the call. Used to try
    again only where a rollback call failed, and to delete only where an uninstall ran.
    """
    wanted = set(targets) & action.targets()
    regions_of: dict[str, set[str]] = {}
    for target in wanted:
        regions_of.setdefault(target.account_id, set()).add(target.region)
    groups: dict[tuple[str, ...], list[str]] = {}
    for account, account_regions in regions_of.items():
        order = tuple(r for r in action.regions if r in account_regions)
        groups.setdefault(order, []).append(account)
    return [
        replace(action, accounts=tuple(sorted(accounts)), regions=regions)
        for regions, accounts in sorted(groups.items())
    ]


ASSOCIATION_VERSION_PARAMETER = "AssociationVersion"
"""The template parameter that pins the package version the association installs."""
DOCUMENT_PARAMETERS = frozenset(
    {
        "PackageName",
        "PackageOwnerAccount",
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
    identity = ("PackageName", "PackageOwnerAccount")
    same_package = all(old.get(key) == new.get(key) for key in identity)
    if not installed or not pinnable or not same_package:
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
