"""The Airflow plugin of Distributor Rollout, registered by the ``airflow.plugins`` entry point.

Installing the ``distributor-rollout`` distribution is what makes Airflow load this plugin,
in every component (API server, scheduler, dag-processor, triggerer, workers): nothing in a
plugins folder needs to import it. It registers the UI:

- ``fastapi_apps``: the app of ``ui.app``, which the API server mounts at
  ``/distributor-rollout`` (pages and JSON, behind Airflow's own authentication);
- ``external_views``: a "Rollout" tab on every DAG run page, and a "Distributor rollouts"
  entry in the navigation (the organization view). The UI shows both as iframes of the
  app's pages; their hrefs are relative, so they follow ``[api] base_url``'s path.

What it does not need to register, by Airflow 3 design:

- the operators' console links (``links/console.py``): each task pushes its formatted link
  to XCom after running, and the API server serves links from XCom by the operator's
  serialized ``{name: xcom_key}``; registering link classes here would instead make the API
  server rebuild them, overriding what the task stored;
- the triggers: the triggerer imports them by the class path each deferral serializes.

Every component loads plugins, each task process too (for macros), but only the API server
serves the app: the plugin hands Airflow a small ASGI stand-in that imports the app on its
first request, so the others do not import the API server's stack (about 1.7 s each).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from distributor_rollout.ui import URL_PREFIX

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_BASE = URL_PREFIX.lstrip("/")
ICON = f"{_BASE}/static/icon.svg"


class LazyApp:
    """An ASGI app that imports ``ui.app`` on its first request and hands every request to it."""

    def __init__(self) -> None:
        self._app: Any = None

    @property
    def app(self) -> Any:
        """The FastAPI app, imported now if it was not yet."""
        if self._app is None:
            from distributor_rollout.ui.app import app  # noqa: PLC0415 - see the module doc

            self._app = app
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class DistributorRolloutPlugin(AirflowPlugin):
    """Distributor Rollout's registration with Airflow (shown by ``airflow plugins``)."""

    name = "distributor_rollout"
    fastapi_apps: list[Any] = [  # noqa: RUF012 (Airflow's own shape)
        {"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "Distributor Rollout"}
    ]
    external_views: list[Any] = [  # noqa: RUF012 (Airflow's own shape)
        {
            "name": "Rollout",
            "url_route": "distributor-rollout",
            "destination": "dag_run",
            # {DAG_ID} and {RUN_ID} are filled in (URL-encoded) by the UI.
            "href": f"{_BASE}/ui/run?dag_id={{DAG_ID}}&run_id={{RUN_ID}}",
            "icon": ICON,
        },
        {
            "name": "Distributor rollouts",
            "url_route": "distributor-rollouts",
            "destination": "nav",
            "href": f"{_BASE}/ui/",
            "icon": ICON,
            "nav_top_level": True,
        },
    ]
