"""Airflow rollout DAG for include/rollouts/examplepackage.yaml (one thin file per plan)."""

from __future__ import annotations

from distributor_rollout.dag_factory import rollout_dag

dag = rollout_dag("examplepackage")
