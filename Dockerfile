# Three stages; the last one is the production image, so a plain `docker build .` gives it.
#
#   wheels   builds the two distributions of this repository as wheels (no dependencies)
#   awssim   the simulated AWS Organization, for rehearsals only (include/awssim/compose.yaml)
#   airflow  Airflow with the runtime lock and the distributor-rollout wheel: no simulator
#
# The Airflow tag must equal the apache-airflow pin of requirements.txt and its Python the
# project's (requires-python in pyproject.toml); tests/dags/test_compose.py checks both, and
# that the production stage installs nothing of awssim.

# --- wheels -------------------------------------------------------------------------------
FROM apache/airflow:3.3.2-python3.11 AS wheels

# Only what the two builds read: each pyproject.toml, the README.md it names as `readme`,
# and its package folders. The image's pip refuses to run as root, so the sources belong to
# the airflow user, who owns /home/airflow.
COPY --chown=airflow:0 pyproject.toml README.md /home/airflow/src/
COPY --chown=airflow:0 plugins/distributor_rollout/ /home/airflow/src/plugins/distributor_rollout/
COPY --chown=airflow:0 include/awssim/pyproject.toml include/awssim/README.md /home/airflow/src/include/awssim/
COPY --chown=airflow:0 include/awssim/src/ /home/airflow/src/include/awssim/src/
# Build isolation installs each project's build backend as its [build-system] pins it
# (hatchling==1.33.0); --no-deps: only the two wheels, whose dependencies the later stages
# take from the locks.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /home/airflow/wheels \
        /home/airflow/src /home/airflow/src/include/awssim

# --- awssim -------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS awssim

# The awssim wheel with its dependencies at the versions of the locks: requirements-dev.txt
# pins moto[server] and the rest of awssim's needs, requirements.txt what the two locks share.
# A dependency neither lock names would be resolved freshly; `pip check` fails the build if
# the result is inconsistent.
COPY requirements.txt requirements-dev.txt /tmp/locks/
COPY --from=wheels /home/airflow/wheels/awssim-*.whl /tmp/wheels/
RUN PIP_ROOT_USER_ACTION=ignore pip install --no-cache-dir \
        -c /tmp/locks/requirements.txt -c /tmp/locks/requirements-dev.txt /tmp/wheels/awssim-*.whl \
    && pip check \
    && rm -rf /tmp/wheels /tmp/locks \
    && useradd --create-home --uid 10001 awssim

USER awssim
WORKDIR /home/awssim
EXPOSE 5000
# Any credentials work on awssim: publish its port on loopback only (see the compose overlay).
# In a container it must listen on all of the container's interfaces to be reachable from
# the other containers. The image has no curl: health checks use Python's urllib.
ENTRYPOINT ["python", "-m", "awssim"]
CMD ["serve", "--host", "0.0.0.0", "--port", "5000"]

# --- airflow (production) -----------------------------------------------------------------
FROM apache/airflow:3.3.2-python3.11 AS airflow

# requirements.txt is a complete lock: install it exactly, without resolving (as `make install`
# does), so the image holds the same versions the test suite ran against (the image itself is
# not what the tests ran). The image's own extras (celery, postgres, redis, fab providers)
# stay; `pip check` fails the build if the lock breaks them. Naming apache-airflow at the
# image's version makes pip refuse a lock for another Airflow. distributor-rollout comes as
# its wheel: Airflow loads the plugin from its `airflow.plugins` entry point, so nothing goes
# to the plugins folder or PYTHONPATH.
COPY --chown=airflow:0 requirements.txt /requirements.txt
COPY --from=wheels --chown=airflow:0 /home/airflow/wheels/distributor_rollout-*.whl /tmp/wheels/
RUN pip install --no-cache-dir --no-deps \
        "apache-airflow==${AIRFLOW_VERSION}" -r /requirements.txt /tmp/wheels/distributor_rollout-*.whl \
    && pip check \
    && rm -rf /tmp/wheels

# The deployment's data: the DAG files, the rollout plans and the package sources, where the
# product looks by default (include/rollouts and include/packages beside the DAGs folder).
# docker-compose.yaml mounts the same folders over them for live edits.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 include/rollouts/ /opt/airflow/include/rollouts/
COPY --chown=airflow:0 include/packages/ /opt/airflow/include/packages/
