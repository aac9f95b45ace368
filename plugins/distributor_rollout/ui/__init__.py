"""Distributor Rollout in the Airflow UI: the Rollout tab of a run and the organization
view, served by the plugin's FastAPI app (``ui.app``) from what the runs recorded."""
