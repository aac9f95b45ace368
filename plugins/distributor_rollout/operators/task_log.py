"""The logger the operators' helper modules are handed: the task's own, so their lines are
in the task's log."""

from __future__ import annotations

from typing import Any, Protocol


class TaskLog(Protocol):
    """What is used of a task's logger (Airflow's or the standard library's)."""

    def info(self, message: str, /, *args: Any) -> object:
        """Log at INFO."""

    def warning(self, message: str, /, *args: Any) -> object:
        """Log at WARNING."""
