"""A test-only auth manager: Airflow's SimpleAuthManager, with its users, roles, login form
and tokens, that also refuses each user the DAGs ``TEST_DENIED_DAGS`` names for them
(``user=dag_a|dag_b,...``). SimpleAuthManager alone cannot deny a user one DAG and not
another, which the UI's 403 checks need. The integration layer imports it in-process
(``tests/support`` is on pytest's path), the live stack's components by their PYTHONPATH
(``live_stack.LiveStack.env``)."""

from __future__ import annotations

import os
from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

DENIED_ENV = "TEST_DENIED_DAGS"


def denied() -> dict[str, set[str]]:
    """``TEST_DENIED_DAGS`` parsed: user → the DAG ids they may not see."""
    entries = [entry for entry in os.environ.get(DENIED_ENV, "").split(",") if entry]
    return {user: set(dags.split("|")) for user, _, dags in (e.partition("=") for e in entries)}


class DenyingAuthManager(SimpleAuthManager):
    """SimpleAuthManager that also refuses the DAGs ``TEST_DENIED_DAGS`` lists per user."""

    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        if details is not None and details.id in denied().get(user.username, set()):
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
