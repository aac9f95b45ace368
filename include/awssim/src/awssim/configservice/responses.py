"""``SelectAggregateResourceConfig`` as a moto Config handler, over the recorder's CIs.

The aggregator must exist in the caller's account and Region (``PutConfigurationAggregator``,
moto's): else ``NoSuchConfigurationAggregatorException``. It collects from the accounts and
Regions its source names: an organization source covers every account of the simulated
organization in its ``AwsRegions`` (or all, with ``AllAwsRegions``); an account source, its
``AccountIds``. ``Limit`` (or ``MaxResults``) is 0-100, 0 or absent meaning 25 as AWS
documents for queries without aggregation; above 100 is ``InvalidLimitException``. A
NextToken names the query and the as-of time of its first page, so every page of one query
reads the same snapshot; a token of another query, a malformed one, or one older than the
recorder keeps (``TOKEN_LIFETIME``) is ``InvalidNextTokenException``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from moto.config.exceptions import (
    InvalidLimitException,
    InvalidNextTokenException,
    NoSuchConfigurationAggregatorException,
)
from moto.config.models import ConfigAggregator, config_backends
from moto.config.responses import ConfigResponse
from moto.core.exceptions import JsonRESTError

from awssim import runtime
from awssim.configservice.query import (
    ExpressionError,
    Query,
    epoch_micros,
    epoch_ms_text,
    parse,
)
from awssim.configservice.recorder import RESOURCE_TYPE, ConfigItem, Scope

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


class InvalidExpressionException(JsonRESTError):
    """The expression is not valid SQL for Config, or outside what awssim simulates."""

    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidExpressionException", message)


def _scope(aggregator: ConfigAggregator) -> Scope:
    """Every CI comes from an organization account, so an organization source is its Regions."""
    source = aggregator.organization_aggregation_source
    if source is not None:
        return Scope(None, None if source.all_aws_regions else frozenset(source.aws_regions or ()))
    accounts: set[str] = set()
    regions: set[str] = set()
    every_region = False
    for account_source in aggregator.account_aggregation_sources or []:
        accounts.update(account_source.account_ids)
        every_region = every_region or bool(account_source.all_aws_regions)
        regions.update(account_source.aws_regions or ())
    return Scope(frozenset(accounts), None if every_region else frozenset(regions))


def _identity(aggregator: ConfigAggregator, scope: Scope) -> str:
    """The aggregator as it is now: put again with other sources, it answers anew."""
    return f"{aggregator.configuration_aggregator_arn}:{hash(scope)}"


def _query_id(aggregator: str, expression_key: tuple[object, ...]) -> str:
    text = json.dumps([aggregator, repr(expression_key)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode_token(query_id: str, as_of: int, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([query_id, as_of, offset]).encode()).decode()


def _decode_token(token: str, query_id: str, oldest: float) -> tuple[int, int]:
    try:
        issued_for, as_of, offset = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise InvalidNextTokenException() from None
    if (
        issued_for != query_id
        or not isinstance(as_of, int)
        or not isinstance(offset, int)
        or offset < 0
        or as_of < oldest
    ):
        raise InvalidNextTokenException()
    return as_of, offset


def _limit(params: dict[str, Any]) -> int:
    limit = params.get("Limit") or params.get("MaxResults") or 0
    if int(limit) > MAX_LIMIT:
        raise InvalidLimitException(int(limit))
    return int(limit) or DEFAULT_LIMIT


def _row(item: ConfigItem, fields: tuple[str, ...], clock: Callable[[float], datetime]) -> str:
    values: dict[str, Any] = {}
    for field in fields:
        if field == "accountId":
            values[field] = item.account
        elif field == "awsRegion":
            values[field] = item.region
        elif field == "resourceId":
            values[field] = item.resource_id
        elif field == "resourceType":
            values[field] = RESOURCE_TYPE
        elif field == "configurationItemCaptureTime":
            values[field] = epoch_ms_text(item.capture_ms)
        else:
            values[field] = _configuration(item, clock)
    return json.dumps(values, separators=(",", ":"))


def _configuration(item: ConfigItem, clock: Callable[[float], datetime]) -> dict[str, Any]:
    """The node's association compliance, in ListComplianceItems' item shape."""
    statuses = {state.status for state in item.items}
    return {
        "ResourceId": item.resource_id,
        "ResourceType": "ManagedInstance",
        "ComplianceType": "Association",
        "Status": "NON_COMPLIANT" if "NON_COMPLIANT" in statuses else "COMPLIANT",
        "ComplianceItems": [
            {
                "Id": state.association_id,
                "Title": state.title,
                "Status": state.status,
                "Severity": state.severity,
                "ExecutionSummary": {
                    "ExecutionTime": epoch_ms_text(_ms(clock(state.execution_time))),
                    "ExecutionId": state.execution_id,
                    "ExecutionType": "Command",
                },
                "Details": {
                    "DocumentName": state.document,
                    "DocumentVersion": state.document_version,
                },
            }
            for state in item.items
        ],
    }


def _ms(moment: datetime) -> int:
    return epoch_micros(moment) // 1000


def select_aggregate_resource_config(self: ConfigResponse) -> str:
    """SelectAggregateResourceConfig over the aggregator's accounts and Regions."""
    params = json.loads(self.body or "{}")
    sim = runtime.current()
    name = params.get("ConfigurationAggregatorName", "")
    aggregator = config_backends[self.current_account][self.region].config_aggregators.get(name)
    if aggregator is None:
        raise NoSuchConfigurationAggregatorException()
    try:
        query: Query = parse(str(params.get("Expression", "")))
    except ExpressionError as error:
        raise InvalidExpressionException(str(error)) from None
    limit = _limit(params)
    scope = _scope(aggregator)
    identity = _identity(aggregator, scope)
    recorder = sim.config
    query_id = _query_id(identity, query.key())
    token = params.get("NextToken")
    if token:
        as_of, offset = _decode_token(token, query_id, recorder.compacted_before)
    else:
        as_of, offset = recorder.as_of_now(), 0
    rows = recorder.select(identity, scope, query, as_of)
    if offset > len(rows):
        raise InvalidNextTokenException()
    page = rows[offset : offset + limit]
    response: dict[str, Any] = {
        "Results": [_row(item, query.fields, sim.clock.at) for item in page],
        "QueryInfo": {"SelectFields": [{"Name": field} for field in query.fields]},
    }
    if offset + limit < len(rows):
        response["NextToken"] = _encode_token(query_id, as_of, offset + limit)
    return json.dumps(response)


def install_handlers() -> None:
    """Add the handler to moto's Config responses (idempotent)."""
    ConfigResponse.select_aggregate_resource_config = select_aggregate_resource_config  # type: ignore[attr-defined]
