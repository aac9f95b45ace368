"""The simulated SSM Agent: what applying an association's document does to one node.

``AWS-ConfigureAWSPackage`` installs or uninstalls a Distributor package and is the only
document that changes ``node.installed``; any other document succeeds without changing it.
An install may start an outage of the node's agent (a scenario's ``offline_nodes`` with
``after_install``); what it installed stays installed while it is offline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    name = parameters.get("name", "")
    if parameters.get("action", "Install") == "Uninstall":
        # Uninstalling a package that is not there succeeds, as the agent reports it.
        node.installed.pop(name, None)
        return None
    org_id = sim.org.org_id if sim.org.is_member(node.account_id) else None
    try:
        version = resolve_package(node, name, parameters.get("version", ""), org_id)
    except PackageFailure as failure:
        return str(failure)
    if node.installed.get(name) == version:
        return None
    reason = sim.faults.package_failure(node, name, version)
    if reason is not None:
        return reason
    node.installed[name] = version
    moment = sim.now() if at is None else at
    for outage in sim.faults.after_install(node, moment):
        sim.reachability.watch(node, outage)
    return None
