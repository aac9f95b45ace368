"""State Manager, compliance and the simulated SSM Agent, on top of moto's SSM.

* ``manager``: associations per account and Region and their lifecycle (StateManager)
* ``runner``: executions on simulated time, MaxConcurrency/MaxErrors, schedules
* ``agent`` / ``distributor``: what applying a document (AWS-ConfigureAWSPackage) does to a node
* ``compliance``, ``instances``, ``views``: the API's answers; ``responses``: moto handlers
* ``cfn``: AWS::SSM::Association and ``UpdateMethod: NewVersion`` for AWS::SSM::Document
"""

from __future__ import annotations

from awssim.statemanager.cfn import install_resources
from awssim.statemanager.manager import StateManager
from awssim.statemanager.responses import install_handlers

__all__ = ["StateManager", "install"]


def install() -> None:
    """Patch moto's SSM and CloudFormation with the State Manager extensions (idempotent)."""
    install_handlers()
    install_resources()
