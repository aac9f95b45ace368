# The image every service of docker-compose.yaml runs: Airflow, this repository's pinned
# requirements, and its code. The tag's Airflow version must equal the apache-airflow pin in
# requirements.txt and its Python the project's (3.11); tests/dags/test_compose.py checks both.
FROM apache/airflow:3.3.2-python3.11

# requirements.txt is a complete lock: install it exactly, without resolving (as `make install`
# does), so the containers run the versions the tests ran. The image's own extras (celery,
# postgres, redis, fab providers) stay; `pip check` fails the build if the lock breaks them.
# Naming apache-airflow at the image's version makes pip refuse a lock for another Airflow.
COPY --chown=airflow:0 requirements.txt /requirements.txt
RUN pip install --no-cache-dir --no-deps "apache-airflow==${AIRFLOW_VERSION}" -r /requirements.txt \
    && pip check

# The code, so the image runs on its own; docker-compose.yaml also mounts these folders
# over it for live edits. plugins/ holds the distributor_rollout package, include/ awssim
# and the plans and templates.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 include/ /opt/airflow/include/
ENV PYTHONPATH=/opt/airflow/plugins:/opt/airflow/include
