"""Anonymous requests to the DAG and run routes of the REST API are refused.

The routes come from the running API server's own OpenAPI document, so a route Airflow
adds is checked without editing this file. ``PROTECTED`` lists path prefixes and the
OpenAPI document that describes them: when the project mounts a FastAPI app of its own
(an ``AirflowPlugin`` ``fastapi_apps`` entry at ``/<prefix>``), add
``("/<prefix>", "/<prefix>/openapi.json")`` here and every route of it is checked too.
"""

from __future__ import annotations

import re

import httpx
import pytest
from live_api import LiveApi
from live_stack import LiveStack

# One Airflow stack per session: every live test runs in the same xdist worker.
pytestmark = pytest.mark.xdist_group("live")

PROTECTED: tuple[tuple[str, str], ...] = (("/api/v2/dags", "/openapi.json"),)
# Routes the issue names, which must be among those checked: list and get DAGs, trigger and
# get a run, its task instances and XComs, and the human-in-the-loop detail and answer.
MUST_CHECK = {
    ("GET", "/api/v2/dags"),
    ("GET", "/api/v2/dags/{dag_id}"),
    ("PATCH", "/api/v2/dags/{dag_id}"),
    ("POST", "/api/v2/dags/{dag_id}/dagRuns"),
    ("GET", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}"),
    ("GET", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances"),
    (
        "GET",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}",
    ),
    (
        "GET",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}/hitlDetails",
    ),
    (
        "PATCH",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}/hitlDetails",
    ),
}
# Path parameters: a DAG that does not exist, so a request that got past authentication
# would answer 404 (a failure here) instead of changing anything a later test uses.
PARAMS = {"dag_id": "live-anonymous-probe", "dag_run_id": "probe-001", "map_index": "-1"}
REFUSED = {401, 403}
METHODS = ("get", "post", "put", "patch", "delete")


def _routes(base_url: str) -> list[tuple[str, str]]:
    """(METHOD, path template) of every operation under the protected prefixes."""
    routes = []
    for prefix, spec_path in PROTECTED:
        spec = httpx.get(f"{base_url}{spec_path}", timeout=60)
        spec.raise_for_status()
        # A mounted app's own document lists paths relative to its mount point.
        relative = spec_path.startswith(f"{prefix}/")
        for path, operations in spec.json()["paths"].items():
            full = f"{prefix}{path}" if relative else path
            if full == prefix or full.startswith(f"{prefix}/"):
                routes += [(m.upper(), full) for m in METHODS if m in operations]
    return sorted(set(routes))


def _url(base_url: str, template: str) -> str:
    return base_url + re.sub(r"\{(\w+)(:path)?\}", lambda m: PARAMS.get(m[1], "probe"), template)


@pytest.fixture(scope="module")
def routes(live_stack: LiveStack, api: LiveApi) -> list[tuple[str, str]]:
    """The protected routes, read from the running API server."""
    return _routes(live_stack.api_url)


def test_every_dag_and_run_route_refuses_anonymous_requests(
    live_stack: LiveStack, routes: list[tuple[str, str]]
) -> None:
    missing = MUST_CHECK - set(routes)
    assert not missing, f"routes the test must check are not in the OpenAPI document: {missing}"
    allowed = []
    with httpx.Client(timeout=60) as client:
        for method, template in routes:
            body = {"json": {}} if method in {"POST", "PUT", "PATCH"} else {}
            response = client.request(method, _url(live_stack.api_url, template), **body)
            if response.status_code not in REFUSED:
                allowed.append(f"{method} {template}: {response.status_code} {response.text[:200]}")
    assert not allowed, f"{len(allowed)} of {len(routes)} routes answered anonymously:\n" + (
        "\n".join(allowed)
    )


def test_a_forged_token_is_refused_and_a_real_one_is_accepted(
    live_stack: LiveStack, api: LiveApi
) -> None:
    forged = {"Authorization": "Bearer " + api.token[:-8] + "AAAAAAAA"}
    for template in ("/api/v2/dags", "/api/v2/dags/{dag_id}/dagRuns"):
        url = _url(live_stack.api_url, template)
        assert httpx.get(url, headers=forged, timeout=60).status_code in REFUSED
    # The same requests with the admin's token get through: the refusals above are the
    # auth layer's, not a broken route's.
    real = {"Authorization": f"Bearer {api.token}"}
    listed = httpx.get(_url(live_stack.api_url, "/api/v2/dags"), headers=real, timeout=60)
    assert listed.status_code == 200
    missing = httpx.get(_url(live_stack.api_url, "/api/v2/dags/{dag_id}"), headers=real, timeout=60)
    assert missing.status_code == 404
