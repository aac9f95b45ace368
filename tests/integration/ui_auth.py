"""A test-only auth manager: Airflow's SimpleAuthManager (its users, roles, tokens and login),
plus a list of DAGs each user is denied (``UI_TEST_DENIED``: ``user=dag_a|dag_b,...``), for
the one check SimpleAuthManager cannot make: a user who may read some DAGs but not others."""

from __future__ import annotations

import os
from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

DENIED_ENV = "UI_TEST_DENIED"


def denied() -> dict[str, set[str]]:
    """``UI_TEST_DENIED`` parsed: user → the DAG ids they may not see."""
    entries = [entry for entry in os.environ.get(DENIED_ENV, "").split(",") if entry]
    return {user: set(dags.split("|")) for user, _, dags in (e.partition("=") for e in entries)}


class DenyingAuthManager(SimpleAuthManager):
    """SimpleAuthManager that also refuses the DAGs ``UI_TEST_DENIED`` lists per user."""

    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        if details is not None and details.id in denied().get(user.username, set()):
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
