"""Deployment-wide settings read from Airflow's configuration (never from AWS, connections
or Variables, so reading them while a DAG file is parsed is fine).

``[distributor_rollout] time_scale`` (env ``AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE``)
divides every wait the rollout measures itself: gate timeouts, bake times and poll
intervals. It exists for simulators whose clock runs faster than real time (awssim's
``--speed``): with both set to the same factor, a gate's "5 minutes of bake" still means
5 minutes of the simulated fleet's time. Against real AWS it must stay 1 (the default).
Tasks read it when they run; the DAG factory reads it at parse time for the operators'
poll intervals, so set it alike for the DAG processor, workers and triggerer.

``[distributor_rollout] min_deferral_seconds`` (env
``AIRFLOW__DISTRIBUTOR_ROLLOUT__MIN_DEFERRAL_SECONDS``, default 30) is the fewest real
seconds between a task deferring and its trigger's event, whatever the time scale. Airflow
3.2-3.3's scheduler can fail a task whose trigger fires before it has processed the
executor's "success" for the process that deferred (the "state mismatch" race, apache/airflow
issues 66374, 67287, 71580, 72716; only the ``scheduled`` variant is fixed in 3.3.2): by
the time a trigger may fire, that event has long been handled. 0 turns the floor off, which
is safe only without a scheduler (``dag.test()``, as ``make demo`` runs).

``[distributor_rollout] plans_dir`` (default ``include/rollouts`` beside the DAGs folder)
is where the DAG files find their plans, so a deployment may keep plans anywhere.

``[distributor_rollout] packages_root`` (env ``AIRFLOW__DISTRIBUTOR_ROLLOUT__PACKAGES_ROOT``,
default ``include/packages`` beside the DAGs folder) is the one folder a run's ``source``
param may name package folders under: the user who triggers a run is not trusted with the
worker's file system. An S3 source (``s3://bucket/prefix/``) does not depend on it.
"""

from __future__ import annotations

import math
from pathlib import Path

from airflow.providers.common.compat.sdk import conf

from distributor_rollout.core.errors import ValidationError, wrong

SECTION = "distributor_rollout"


def time_scale() -> float:
    """The configured time scale (1.0 when unset); a clear error when it is not > 0."""
    raw = conf.get(SECTION, "time_scale", fallback="1")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValidationError(
            "Airflow configuration",
            [wrong(f"{SECTION}.time_scale", "not a positive number", raw, "a number > 0, e.g. 1")],
        )
    return value


DEFAULT_MIN_DEFERRAL_SECONDS = 30.0


def min_deferral_seconds() -> float:
    """The configured floor between a deferral and its trigger's event (real seconds)."""
    raw = conf.get(SECTION, "min_deferral_seconds", fallback=str(DEFAULT_MIN_DEFERRAL_SECONDS))
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValidationError(
            "Airflow configuration",
            [
                wrong(
                    f"{SECTION}.min_deferral_seconds",
                    "not a duration",
                    raw,
                    "seconds ≥ 0, e.g. 30 (0 only without a scheduler)",
                )
            ],
        )
    return value


def scaled_seconds(seconds: float) -> float:
    """A duration in the fleet's time, in real seconds under the configured time scale."""
    return seconds / time_scale()


def _beside_dags(name: str) -> Path:
    """``<dags folder>/../include/<name>``: the deployment repository's layout (dags/ and
    include/ side by side), wherever the repository is installed."""
    dags = Path(conf.get("core", "dags_folder", fallback="dags")).expanduser()
    return dags.parent / "include" / name


def _absolute_folder(key: str, default: Path) -> Path:
    raw = conf.get(SECTION, key, fallback="") or str(default)
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise ValidationError(
            "Airflow configuration",
            [wrong(f"{SECTION}.{key}", "not an absolute path", raw, "an absolute folder")],
        )
    return path


def plans_dir() -> Path:
    """Where the rollout plans are (``[distributor_rollout] plans_dir``; by default the
    ``include/rollouts`` folder beside the DAGs folder)."""
    return _absolute_folder("plans_dir", _beside_dags("rollouts"))


def packages_root() -> Path:
    """The folder a run's ``source`` param is confined to (``[distributor_rollout]
    packages_root``; by default the ``include/packages`` folder beside the DAGs folder)."""
    return _absolute_folder("packages_root", _beside_dags("packages"))
