"""Association and DAG schedule expressions."""

from __future__ import annotations

import pytest

from distributor_rollout.core.schedule import (
    association_schedule_problem,
    dag_schedule_problem,
    is_rate,
)


@pytest.mark.parametrize(
    "expression",
    [
        "rate(30 minutes)",
        "rate(1 hour)",
        "rate(2 hours)",
        "rate(1 day)",
        "rate(14 days)",
        "cron(0 2 ? * SUN *)",
        "cron(0/30 * * * ? *)",
        "cron(0 0 ? * THU#2 *)",
        "cron(15 10 ? * MON-FRI *)",
        "cron(0 8 1 * ? *)",
        "cron(0 8 L * ?)",
        "cron(0 0,12 ? * * 2027)",
        "at(2026-12-01T15:55:00)",
    ],
)
def test_state_manager_accepts(expression: str) -> None:
    assert association_schedule_problem(expression) is None


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("rate(29 minutes)", "at most every 30 minutes"),
        ("rate(0 hours)", "positive"),
        ("rate(1 days)", "singular unit for 1"),
        ("rate(2 hour)", "singular unit for 1"),
        ("rate(30 seconds)", "not a cron, rate or at expression"),
        ("cron(0/15 * * * ? *)", "more often than every 30 minutes"),
        ("cron(0,20 * * * ? *)", "more often than every 30 minutes"),
        ("cron(0 2 ? JAN SUN *)", "Month must be '*'"),
        ("cron(0 2 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 2 ? * ? *)", "exactly one of day-of-month and day-of-week"),
        ("cron(60 2 ? * SUN *)", "minutes 60 is outside 0-59"),
        ("cron(0 24 ? * SUN *)", "hours 24 is outside 0-23"),
        ("cron(0 2 ? * FUNDAY *)", "day-of-week has 'FUNDAY'"),
        ("cron(0 2 ? *)", "5 or 6 fields, has 4"),
        ("cron(0 5-2 ? * * *)", "runs backwards"),
        ("cron(0/0 2 ? * * *)", "step '0'"),
        ("at(2026-13-01T15:55:00)", "not a valid UTC timestamp"),
        ("daily", "not a cron, rate or at expression"),
    ],
)
def test_state_manager_refuses(expression: str, reason: str) -> None:
    problem = association_schedule_problem(expression)
    assert problem is not None
    assert reason in problem
    assert f"(got {expression!r}; expected " in problem


def test_is_rate() -> None:
    assert is_rate(" rate(1 day)")
    assert not is_rate("cron(0 2 ? * SUN *)")


@pytest.mark.parametrize(
    "expression", ["0 6 * * 1", "*/15 9-17 * * MON-FRI", "@daily", "0 0 1 JAN *"]
)
def test_airflow_accepts(expression: str) -> None:
    assert dag_schedule_problem(expression) is None


@pytest.mark.parametrize(
    ("expression", "reason"),
    [("0 6 * *", "5 fields, has 4"), ("61 * * * *", "minute 61"), ("@sometimes", "5 fields")],
)
def test_airflow_refuses(expression: str, reason: str) -> None:
    problem = dag_schedule_problem(expression)
    assert problem is not None
    assert reason in problem
