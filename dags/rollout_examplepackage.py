"""Airflow DAGs for include/rollouts/examplepackage.yaml (one thin file per plan): its
rollout DAG, and its retire DAG that removes the package from the organization."""

from __future__ import annotations

from distributor_rollout.dag_factory import rollout_dag
from distributor_rollout.retire_factory import retire_dag

dag = rollout_dag("examplepackage")
retire = retire_dag("examplepackage")
