"""Airflow DAG of the live tests for tests/live/plans/live-a.yaml (one thin file per plan)."""

from __future__ import annotations

from pathlib import Path

from distributor_rollout.dag_factory import rollout_dag

dag = rollout_dag("live-a", plans_dir=Path(__file__).resolve().parents[1] / "plans")
