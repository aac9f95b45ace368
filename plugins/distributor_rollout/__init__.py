"""Distributor Rollout for Airflow: staged, gated Distributor rollouts across an AWS Organization.

``core`` holds every decision as pure functions (no Airflow, no AWS SDK); the other
subpackages wire those decisions to AWS and to Airflow.
"""

from __future__ import annotations

__version__ = "0.1.0"
