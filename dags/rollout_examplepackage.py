"""Airflow DAGs for include/rollouts/examplepackage.yaml (one thin file per plan): its
rollout DAG, and its retire DAG that removes the package from the organization."""

from __future__ import annotations

# For the dag-processor: it imports the airflow.* modules a DAG file names once, in its
# own long-lived process, before it forks a child to parse each file
# ([dag_processor] parsing_pre_import_modules). Naming the provider modules the plugin's
# operators build on (and boto3 with them) lets every plan's file share one import of
# them, instead of each child importing them again. tests/dags/test_parse_cost.py
# checks that the list is complete.
import airflow.providers.amazon.aws.hooks.sns
import airflow.providers.amazon.aws.links.base_aws
import airflow.providers.amazon.aws.operators.base_aws
import airflow.providers.amazon.aws.sensors.base_aws
import airflow.providers.standard.operators.hitl  # noqa: F401

from distributor_rollout.dag_factory import rollout_dag
from distributor_rollout.retire_factory import retire_dag

dag = rollout_dag("examplepackage")
retire = retire_dag("examplepackage")
