"""AWS Config, as far as the rollout reads it: an aggregator's advanced query over the
organization's ``AWS::SSM::AssociationCompliance`` configuration items.

* ``recorder``: the configuration items State Manager's changes produce, and their delivery
* ``query``: the SQL subset the advanced query accepts
* ``responses``: ``SelectAggregateResourceConfig`` as a moto handler (aggregators themselves
  are moto's ``PutConfigurationAggregator`` / ``DescribeConfigurationAggregators``)
"""

from __future__ import annotations

from awssim.configservice.recorder import ConfigRecorder
from awssim.configservice.responses import install_handlers

__all__ = ["ConfigRecorder", "install"]


def install() -> None:
    """Patch moto's Config with the aggregator's advanced query (idempotent)."""
    install_handlers()
