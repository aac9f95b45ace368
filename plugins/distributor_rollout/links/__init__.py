"""Console links shown on task instances in the Airflow UI."""
