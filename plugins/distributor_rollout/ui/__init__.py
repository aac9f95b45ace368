"""Distributor Rollout in the Airflow UI: the Rollout tab of a run and the organization
view, served by the plugin's FastAPI app (``ui.app``) from what the runs recorded."""

from __future__ import annotations

URL_PREFIX = "/distributor-rollout"
"""Where Airflow's API server mounts the app (``plugin.py``)."""
