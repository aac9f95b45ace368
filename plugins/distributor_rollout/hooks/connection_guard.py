"""Settings that are only safe against a simulator, refused when the connection is real AWS."""

from __future__ import annotations

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from distributor_rollout.core.errors import ValidationError, wrong

TIME_SCALE_FIELD = "distributor_rollout.time_scale"
SIMULATED_SERVICE = "cloudformation"
"""The service whose own ``endpoint_url`` (connection extra ``service_config``) counts as
a simulated connection: it is where the rollout's waves land."""


def simulated_endpoint(aws_conn_id: str | None) -> str | None:
    """The endpoint the connection sends StackSets calls to instead of AWS's, or None.

    The connection's ``endpoint_url``, else the ``endpoint_url`` of its
    ``service_config.cloudformation``. No connection (or one Airflow cannot find) means
    the default AWS endpoints.
    """
    if not aws_conn_id:
        return None
    config = AwsBaseHook(aws_conn_id=aws_conn_id, client_type=SIMULATED_SERVICE).conn_config
    return config.endpoint_url or config.get_service_endpoint_url(SIMULATED_SERVICE) or None


def refuse_scaled_time_on_real_aws(aws_conn_id: str | None, time_scale: float) -> None:
    """Raise ValidationError when ``time_scale`` is not 1 and the connection is real AWS.

    A simulator's clock may run faster than real time, and ``time_scale`` divides every
    gate, bake and wait to match it; against AWS the same setting would cut a one-hour
    bake to seconds. Only a connection with an ``endpoint_url`` (see
    ``simulated_endpoint``) may run with a scale other than 1.
    """
    if time_scale == 1 or simulated_endpoint(aws_conn_id) is not None:
        return
    problem = wrong(
        TIME_SCALE_FIELD,
        f"scales every gate, bake and wait, but AWS connection {aws_conn_id!r} has no "
        "endpoint_url (it reaches real AWS)",
        time_scale,
        "1 against real AWS, or an AWS connection whose extra names the simulator's endpoint_url",
    )
    raise ValidationError("settings", [problem])
