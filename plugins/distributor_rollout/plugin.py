"""The Airflow plugin of Distributor Rollout, registered by the ``airflow.plugins`` entry point.

Installing the ``distributor-rollout`` distribution is what makes Airflow load this plugin,
in every component (API server, scheduler, dag-processor, triggerer, workers): nothing in a
plugins folder needs to import it. What it does not need to register, by Airflow 3 design:

- the operators' console links (``links/console.py``): each task pushes its formatted link
  to XCom after running, and the API server serves links from XCom by the operator's
  serialized ``{name: xcom_key}``; registering link classes here would instead make the API
  server rebuild them, overriding what the task stored;
- the triggers: the triggerer imports them by the class path each deferral serializes.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class DistributorRolloutPlugin(AirflowPlugin):
    """Distributor Rollout's registration with Airflow (shown by ``airflow plugins``)."""

    name = "distributor_rollout"
