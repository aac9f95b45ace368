"""The simulated SSM Agent: what applying an association's document does to one node.

``AWS-ConfigureAWSPackage`` installs or uninstalls a Distributor package and is the only
document that changes ``node.installed``; any other document succeeds without changing it.
Its ``name`` parameter is the account's own package, an AWS-provided one or the ARN of one
shared with the account; ``version`` empty installs the document's default version, a
version the document does not have fails the node. ``node.installed`` is keyed by the
document name (an ARN's last part), as the agent names installed packages. An install may
start an outage of the node's agent (a scenario's ``offline_nodes`` with
``after_install``); what it installed stays installed while it is offline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from awssim.document_access import document_name
from awssim.fleet import Node
from awssim.statemanager.distributor import PackageFailure, resolve_package
from awssim.statemanager.models import Settings
from awssim.statemanager.settings import CONFIGURE_PACKAGE

if TYPE_CHECKING:
    from awssim.simulator import Simulator


def apply_document(
    sim: Simulator, node: Node, settings: Settings, at: float | None = None
) -> str | None:
    """Run the association's document on ``node`` (at simulated second ``at``, default now):
    None on success, else the failure reason."""
    if settings.document != CONFIGURE_PACKAGE:
        return None
    parameters = {name: values[0] for name, values in settings.parameters.items() if values}
    reference = parameters.get("name", "")
    package = document_name(reference)
    if parameters.get("action", "Install") == "Uninstall":
        # Uninstalling a package that is not there succeeds, as the agent reports it.
        node.installed.pop(package, None)
        return None

    def org_id_of(account: str) -> str | None:
        return sim.org.org_id if sim.org.is_member(account) else None

    try:
        version = resolve_package(node, reference, parameters.get("version", ""), org_id_of)
    except PackageFailure as failure:
        return str(failure)
    if node.installed.get(package) == version:
        return None
    reason = sim.faults.package_failure(node, package, version)
    if reason is not None:
        return reason
    node.installed[package] = version
    moment = sim.now() if at is None else at
    for outage in sim.faults.after_install(node, moment):
        sim.reachability.watch(node, outage)
    return None
