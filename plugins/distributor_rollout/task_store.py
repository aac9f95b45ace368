"""A running task's own state store and its series of tries, as Airflow hands them over.

Sensors and operators both keep records across tries (``core.tries``); this is the one
place that reads them from the task context.
"""

from __future__ import annotations

from typing import Any


def state_store(context: Any) -> Any | None:
    """Airflow's ``task_state_store`` (kept across tries, shared by every worker through
    the metadata DB), or None where a bare context has none."""
    return context.get("task_state_store")


def max_tries(context: Any) -> int:
    """The task instance's ``max_tries`` (0 where a bare context has none)."""
    value = getattr(context["ti"], "max_tries", 0)
    return value if isinstance(value, int) else 0
