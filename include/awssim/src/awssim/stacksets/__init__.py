"""StackSet operations as AWS runs them: asynchronous, honouring operation preferences.

moto 5.2.5 finishes every stack set operation at once. awssim replaces its StackSets API
with its own: operations run on simulated time, one account/Region after another as the
operation preferences allow, fail as the scenario says, and deploy real stacks (and their
resources) into the member accounts.

Modules: ``model`` (state), ``templates`` (templates, parameters, capabilities), ``targets``
(DeploymentTargets against the organization), ``preferences`` (OperationPreferences),
``operations`` (requests into operations), ``scheduling`` (running them), ``instances``
(member stacks), ``engine`` (the API), ``shapes`` and ``responses`` (moto's handlers),
``state`` (ground truth), ``template_cache`` (each template text parsed once).
"""

from __future__ import annotations

from awssim.stacksets.engine import StackSetEngine
from awssim.stacksets.responses import install

__all__ = ["StackSetEngine", "install"]
