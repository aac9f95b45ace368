"""AWS Config aggregator advanced queries: ``SelectAggregateResourceConfig``, every page.

The aggregator lives in the account of the DAGs' AWS connection (the delegated
administrator) and is called in its own Region, the hook's ``region_name``. A query answers
each row as JSON text of the selected fields; ``select`` returns them decoded (a result
that is not a JSON object is left out and logged: the caller treats rows as untrusted).

Throttling is retried twice over, as the compliance reads are: botocore's standard
retries, then a bounded backoff here. A failure that remains is raised as the project's
error naming the aggregator and its Region (``hooks.errors``): ``ConfigurationError``
when the aggregator does not exist, ``AwsRolloutError`` otherwise.

aiobotocore is imported only where ``select_async`` first builds a client: every DAG file
imports the hooks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from functools import cached_property
from typing import Any

from asgiref.sync import sync_to_async
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from distributor_rollout.hooks.association_status import THROTTLE_PAUSE_SECONDS, THROTTLE_RETRIES
from distributor_rollout.hooks.errors import AwsRolloutError, ConfigurationError
from distributor_rollout.hooks.retries import (
    RetryingAwsHook,
    backoff_pause,
    error_code,
    is_throttling,
)

PAGE_LIMIT = 100
"""SelectAggregateResourceConfig's largest page."""
NO_SUCH_AGGREGATOR = "NoSuchConfigurationAggregatorException"
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})


class ConfigAggregatorHook(RetryingAwsHook):
    """Query an AWS Config aggregator (``boto3.client("config")``) with advanced SQL.

    :param region_name: the aggregator's Region. Other arguments (``aws_conn_id``,
        ``verify``, ``config``) go to ``AwsBaseHook``; ``config`` is layered over ``RETRIES``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "config"
        super().__init__(*args, **kwargs)
        self._async_session: Any = None

    def select(self, aggregator: str, expression: str) -> list[dict[str, Any]]:
        """Every row ``expression`` selects through ``aggregator``, decoded."""
        results: list[Any] = []
        request = _request(aggregator, expression)
        while True:
            page = self._retrying(
                aggregator, lambda: self.conn.select_aggregate_resource_config(**request)
            )
            results.extend(page.get("Results", []))
            if not page.get("NextToken"):
                return self._decoded(aggregator, results)
            request["NextToken"] = page["NextToken"]

    async def select_async(self, aggregator: str, expression: str) -> list[dict[str, Any]]:
        """``select`` for the event loop: one aiobotocore client for the query's pages."""
        session = await self._aio_session()
        async with session.create_client(
            "config",
            region_name=self.region_name,
            endpoint_url=self.conn_config.get_service_endpoint_url("config"),
            config=self.aio_config,
            verify=self.verify,
        ) as client:
            results: list[Any] = []
            request = _request(aggregator, expression)
            while True:
                page = await self._retrying_async(
                    aggregator, lambda: client.select_aggregate_resource_config(**request)
                )
                results.extend(page.get("Results", []))
                if not page.get("NextToken"):
                    return self._decoded(aggregator, results)
                request["NextToken"] = page["NextToken"]

    async def _aio_session(self) -> Any:
        """The hook's aiobotocore session, built off the event loop (reading the Airflow
        connection blocks)."""
        if self._async_session is None:
            self._async_session = await sync_to_async(self._build_async_session)()
        return self._async_session

    def _build_async_session(self) -> Any:
        session = self.get_session(region_name=self.region_name, deferrable=True)
        # Resolve what reads the connection now, so the event loop never does.
        self.conn_config.get_service_endpoint_url("config")
        return session

    @cached_property
    def aio_config(self) -> Any:
        """The config of async clients: ``config`` over a shared-SSL HTTP session."""
        from aiobotocore.config import AioConfig  # type: ignore[import-untyped]  # noqa: PLC0415

        from distributor_rollout.hooks.aio_http import SharedSslHttpSession  # noqa: PLC0415

        return AioConfig(http_session_cls=SharedSslHttpSession).merge(self.config)

    def _retrying(self, aggregator: str, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                return call()
            except (ClientError, BotoCoreError) as error:
                if not is_throttling(error) or attempt >= THROTTLE_RETRIES:
                    raise self._translated(aggregator, error) from error
            time.sleep(backoff_pause(attempt, THROTTLE_PAUSE_SECONDS))
            attempt += 1

    async def _retrying_async(
        self, aggregator: str, call: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                return await call()
            except (ClientError, BotoCoreError) as error:
                if not is_throttling(error) or attempt >= THROTTLE_RETRIES:
                    raise self._translated(aggregator, error) from error
            await asyncio.sleep(backoff_pause(attempt, THROTTLE_PAUSE_SECONDS))
            attempt += 1

    def _translated(self, aggregator: str, error: Exception) -> AwsRolloutError:
        """The project's error for a failed query, naming the aggregator and its Region."""
        where = f"Config aggregator {aggregator} in {self.region_name}"
        if not isinstance(error, ClientError):
            return AwsRolloutError(f"{where}: the query failed: {error}")
        code = error_code(error)
        message = str(error.response.get("Error", {}).get("Message", "")) or code
        if code == NO_SUCH_AGGREGATOR:
            return ConfigurationError(
                f"{where} does not exist for the connection's account ({message}): check "
                "stack_set.compliance_reader.change_feed (aggregator, region)"
            )
        if code in ACCESS_DENIED_CODES:
            return AwsRolloutError(
                f"{where}: access denied ({message}): the connection's identity needs "
                "config:SelectAggregateResourceConfig on the aggregator"
            )
        return AwsRolloutError(f"{where}: {code}: {message}")

    def _decoded(self, aggregator: str, results: Iterable[Any]) -> list[dict[str, Any]]:
        """The results that are JSON objects, decoded; the others are counted in the log."""
        rows: list[dict[str, Any]] = []
        dropped = 0
        for text in results:
            try:
                row = json.loads(text)
            except (TypeError, ValueError, RecursionError):
                row = None
            if isinstance(row, dict):
                rows.append(row)
            else:
                dropped += 1
        if dropped:
            self.log.warning(
                "Config aggregator %s: %d of %d results were not JSON objects (left out)",
                aggregator,
                dropped,
                dropped + len(rows),
            )
        return rows


def _request(aggregator: str, expression: str) -> dict[str, Any]:
    return {
        "Expression": expression,
        "ConfigurationAggregatorName": aggregator,
        "Limit": PAGE_LIMIT,
    }
