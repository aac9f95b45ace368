"""hooks.connection_guard: a scaled clock only against a simulator's endpoint."""

from __future__ import annotations

import json

import pytest

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.hooks.connection_guard import (
    TIME_SCALE_FIELD,
    refuse_scaled_time_on_real_aws,
)


def connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, extra: dict[str, object]) -> str:
    """An AWS connection ``conn_id`` with ``extra``, from the environment."""
    value = {"conn_type": "aws", "login": "key", "password": "secret", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))
    return conn_id


def test_a_scale_is_refused_on_a_connection_without_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = connection(monkeypatch, "real_aws", {"region_name": "us-east-1"})
    with pytest.raises(ValidationError) as raised:
        refuse_scaled_time_on_real_aws(conn, 600.0)
    [problem] = raised.value.problems
    assert problem.path == TIME_SCALE_FIELD
    assert "'real_aws'" in problem.message
    assert "600.0" in problem.message
    assert "endpoint_url" in problem.message


def test_no_connection_at_all_is_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match=TIME_SCALE_FIELD):
        refuse_scaled_time_on_real_aws(None, 0.5)


@pytest.mark.parametrize(
    "extra",
    [
        {"endpoint_url": "http://127.0.0.1:5000"},
        {"service_config": {"cloudformation": {"endpoint_url": "http://127.0.0.1:5000"}}},
    ],
)
def test_a_scale_is_allowed_against_a_simulator(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, object]
) -> None:
    refuse_scaled_time_on_real_aws(connection(monkeypatch, "sim", extra), 600.0)


def test_an_unscaled_clock_is_allowed_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_scaled_time_on_real_aws(connection(monkeypatch, "real_aws", {}), 1.0)
    refuse_scaled_time_on_real_aws(None, 1)


def test_another_services_endpoint_alone_is_not_a_simulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = {"service_config": {"s3": {"endpoint_url": "http://127.0.0.1:5000"}}}
    with pytest.raises(ValidationError, match=TIME_SCALE_FIELD):
        refuse_scaled_time_on_real_aws(connection(monkeypatch, "half", extra), 2.0)
