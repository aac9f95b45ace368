"""The plugin's FastAPI app (mounted by Airflow's API server at ``/distributor-rollout``):
the Rollout tab of a run and the organization view, as pages and as JSON.

Every route is behind Airflow's own authentication (the ``_token`` cookie the UI's login
sets, or a Bearer token): no user → 401. Run data needs the DAG's XCom read permission
(``requires_access_dag``, the ``dag_id`` query parameter) → 403 without it; the org view
lists only the rollout DAGs whose XComs the user may read. ``get_auth_manager()`` is used
directly: dependencies built on the API app's state (``AuthManagerDep``) fail in a mounted
app, whose ``request.app`` is this one.

Pages are a server-rendered shell plus ``static/rollout.js``, which polls the JSON while a
run goes on. Every URL in them is relative, so they work behind ``[api] base_url``'s path.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from importlib import resources
from string import Template
from typing import Annotated, Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.models.dag import DagModel
from fastapi import Depends, FastAPI, HTTPException, Query, Response
from fastapi.responses import HTMLResponse

from distributor_rollout import settings
from distributor_rollout.core.errors import RolloutError
from distributor_rollout.core.org_view import org_view
from distributor_rollout.core.recorded_run import report_record, validation_record
from distributor_rollout.core.run_view import planless_view, run_view
from distributor_rollout.ui import console
from distributor_rollout.ui.records import (
    PlanUnavailable,
    StoredRun,
    approval_requests,
    facts_of,
    gate_journals,
    latest_polls,
    plan_name,
    read_run,
    recent_runs,
    rollout_dag_ids,
    run_plan,
)

STATIC = resources.files("distributor_rollout.ui") / "static"
TEMPLATES = resources.files("distributor_rollout.ui") / "templates"
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
NO_STORE = {"Cache-Control": "no-store"}

RunAccess = Depends(requires_access_dag("GET", DagAccessEntity.XCOM))
DagIdQuery = Annotated[str, Query(min_length=1)]
RunIdQuery = Annotated[str, Query(min_length=1)]

app = FastAPI(
    title="Distributor Rollout",
    description="The Rollout tab and the organization view of Distributor Rollout.",
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)


@app.get("/api/run", dependencies=[RunAccess])
def run_data(
    dag_id: DagIdQuery, run_id: RunIdQuery, session: SessionDep, response: Response
) -> dict[str, Any]:
    """One run's tab, as JSON (``core.run_view``; ``planless_view`` for a run whose plan is
    neither recorded nor readable here; 409 for a recorded plan this code cannot read)."""
    response.headers.update(NO_STORE)
    if plan_name(dag_id) is None:
        raise HTTPException(404, f"{dag_id} is not a rollout DAG")
    stored = read_run(session, dag_id, run_id)
    if stored is None:
        raise HTTPException(404, f"no run {run_id} of {dag_id}")
    try:
        plan = run_plan(stored)
    except PlanUnavailable as missing:
        return _planless(stored, str(missing))
    except RolloutError as error:
        raise HTTPException(409, f"cannot read the plan of {run_id}: {error}") from error
    return run_view(
        facts_of(stored, plan),
        run_state=stored.state,
        now=datetime.now(UTC),
        time_scale=settings.time_scale(),
        journals=gate_journals(session, stored, plan.plan),
        polls=latest_polls(stored, plan.plan),
        operation_url=console.operation_url(plan.plan),
        instances_url=console.instances_url(plan.plan),
        approvals=approval_requests(session, stored, plan.plan),
        plan_source=plan.source,
        plan_changed=plan.changed,
    )


def _planless(stored: StoredRun, problem: str) -> dict[str, Any]:
    return planless_view(
        dag_id=stored.dag_id,
        run_id=stored.run_id,
        run_state=stored.state,
        started_at=stored.start_date.isoformat() if stored.start_date else None,
        finished_at=stored.end_date.isoformat() if stored.end_date else None,
        report=report_record(stored.pull),
        validation=validation_record(stored.states, stored.pull),
        problem=problem,
    )


@app.get("/api/org")
def org_data(user: GetUserDep, session: SessionDep, response: Response) -> dict[str, Any]:
    """Every rollout DAG whose run data the user may read, as JSON (``core.org_view``)."""
    response.headers.update(NO_STORE)
    manager = get_auth_manager()
    readable = manager.get_authorized_dag_ids(user=user, method="GET", session=session)
    dag_ids = [
        dag_id
        for dag_id in rollout_dag_ids(session, readable)
        if manager.is_authorized_dag(
            method="GET",
            access_entity=DagAccessEntity.XCOM,
            details=DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id)),
            user=user,
        )
    ]
    return org_view({dag_id: recent_runs(session, dag_id) for dag_id in dag_ids}, datetime.now(UTC))


@app.get("/ui/run", response_class=HTMLResponse, dependencies=[RunAccess])
def run_page(dag_id: DagIdQuery, run_id: RunIdQuery) -> HTMLResponse:
    """The Rollout tab's page (the ``dag_run`` external view's iframe)."""
    return _page("run.html", dag_id=dag_id, run_id=run_id)


@app.get("/ui/", response_class=HTMLResponse)
def org_page(user: GetUserDep) -> HTMLResponse:
    """The organization view's page (the "Distributor rollouts" nav entry)."""
    return _page("org.html")


@app.get("/static/{name}")
def static_file(name: str, user: GetUserDep) -> Response:
    """The pages' script, style sheet and icon (authenticated, as every route)."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    asset = STATIC / name
    if suffix not in CONTENT_TYPES or "/" in name or not asset.is_file():
        raise HTTPException(404, "not found")
    return Response(asset.read_bytes(), media_type=CONTENT_TYPES[suffix])


def _page(template: str, **values: str) -> HTMLResponse:
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    escaped = {name: html.escape(value, quote=True) for name, value in values.items()}
    return HTMLResponse(Template(text).substitute(escaped), headers=NO_STORE)
