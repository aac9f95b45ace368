"""A small client of Airflow's public REST API v2, authenticated with a JWT from the simple
auth manager (``POST /auth/token``), as a user's script or CI job would drive rollouts."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

TERMINAL_RUN_STATES = frozenset({"success", "failed"})
TI_PAGE = 100


def _q(value: str) -> str:
    """A path segment (run ids hold ':' and '+')."""
    return quote(value, safe="")


class LiveApiError(AssertionError):
    """A REST call that did not answer as expected (the message has the response)."""


class LiveApi:
    """REST v2 on ``base_url`` as ``username``; ``token`` is fetched once and reused."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        response = httpx.post(
            f"{self.base_url}/auth/token",
            json={"username": username, "password": password},
            timeout=30,
        )
        if response.status_code != 201:
            raise LiveApiError(f"POST /auth/token: {response.status_code} {response.text}")
        self.token: str = response.json()["access_token"]
        self.client = httpx.Client(
            base_url=f"{self.base_url}/api/v2",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    def call(self, method: str, path: str, *, expect: int = 200, **kwargs: Any) -> Any:
        """``method path`` under /api/v2; the JSON answer, or LiveApiError on another status."""
        for attempt in range(5):
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TransportError:
                # The API server is a separate process: ride out a momentary hiccup.
                if attempt == 4:
                    raise
                time.sleep(2)
                continue
            break
        if response.status_code != expect:
            raise LiveApiError(
                f"{method} /api/v2{path}: expected {expect}, got {response.status_code}: "
                f"{response.text[:2000]}"
            )
        return response.json() if response.content else None

    # -- DAGs and runs -----------------------------------------------------------------

    def import_errors(self) -> list[dict[str, Any]]:
        """Every DAG file import error."""
        return self.call("GET", "/importErrors", params={"limit": 100})["import_errors"]

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180.0) -> None:
        """Wait until the dag-processor has serialized every DAG; fail fast on import errors."""
        deadline = time.monotonic() + timeout
        missing = list(dag_ids)
        while time.monotonic() < deadline:
            errors = self.import_errors()
            if errors:
                text = "\n".join(f"{e['filename']}: {e['stack_trace']}" for e in errors)
                raise LiveApiError(f"DAG import errors:\n{text}")
            listed = self.call("GET", "/dags", params={"limit": 100})["dags"]
            present = {dag["dag_id"] for dag in listed}
            missing = [dag_id for dag_id in dag_ids if dag_id not in present]
            if not missing:
                return
            time.sleep(1)
        raise LiveApiError(f"DAGs never appeared: {missing}")

    def unpause(self, dag_id: str) -> None:
        """PATCH is_paused=false."""
        self.call("PATCH", f"/dags/{_q(dag_id)}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: Mapping[str, Any], run_id: str | None = None) -> str:
        """POST a manual run with ``conf`` (the trigger params); returns its run id."""
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf)}
        if run_id is not None:
            body["dag_run_id"] = run_id
        run = self.call("POST", f"/dags/{_q(dag_id)}/dagRuns", json=body)
        return str(run["dag_run_id"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """GET one run."""
        return self.call("GET", f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run."""
        answer = self.call(
            "GET",
            f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances",
            params={"limit": TI_PAGE},
        )
        return answer["task_instances"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """task_id → state."""
        return {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of one task instance (history and current)."""
        answer = self.call(
            "GET",
            f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/tries",
        )
        return answer["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        """An XCom value, deserialized."""
        entry = self.call(
            "GET",
            f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
            f"/xcomEntries/{_q(key)}",
            params={"deserialize": True, "stringify": False},
        )
        return entry["value"]

    def event_logs(self, **filters: Any) -> list[dict[str, Any]]:
        """Event log entries matching ``filters`` (e.g. ``event="state mismatch"``)."""
        answer = self.call("GET", "/eventLogs", params={"limit": 1000, **filters})
        return answer["event_logs"]

    # -- human in the loop ---------------------------------------------------------------

    def hitl_detail(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any] | None:
        """The HITL detail of a task, or None while it has none yet."""
        path = f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/-1/hitlDetails"
        response = self.client.get(path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise LiveApiError(f"GET {path}: {response.status_code} {response.text}")
        return response.json()

    def respond(self, dag_id: str, run_id: str, task_id: str, option: str) -> dict[str, Any]:
        """Answer a HITL task (e.g. the approval) with ``option``."""
        return self.call(
            "PATCH",
            f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/-1/hitlDetails",
            json={"chosen_options": [option]},
        )
