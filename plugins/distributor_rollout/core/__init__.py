"""Pure rollout logic: plans, waves, packages, gates, rollback sets and reports.

Nothing here imports Airflow, boto3 or botocore (a test enforces it), so every decision
the product makes can be tested alone and reused by the CLI, the operators and the UI.
"""

from __future__ import annotations
