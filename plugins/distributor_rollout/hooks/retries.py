"""How every hook reads a botocore failure and how hard every client retries.

One place for the error code, the HTTP status, "throttled" and "worth asking again":
StackSets waits, compliance polls and S3 checks all classify failures the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    ClientError,
    HTTPClientError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

RETRIES: dict[str, Any] = {"mode": "standard", "total_max_attempts": 8}
"""botocore's retries on every client: standard mode backs off on throttling (up to 20 s
between attempts). Adaptive mode would not help: its rate limiter lives in one client,
and member clients are short-lived."""
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
    }
)
TRANSIENT_CODES = THROTTLING_CODES | {"ServiceUnavailable", "InternalFailure", "InternalError"}
"""Codes that mean "ask again later" (throttling, service hiccups), never "failed"."""


def with_retries(config: Config | Mapping[str, Any] | None) -> Config:
    """``RETRIES`` under the caller's botocore config (whose settings win)."""
    base = Config(retries=RETRIES)
    if config is None:
        return base
    return base.merge(config if isinstance(config, Config) else Config(**config))


def error_code(error: ClientError) -> str:
    """The service error code of a botocore ``ClientError``."""
    return str(error.response.get("Error", {}).get("Code", ""))


def http_status(error: ClientError) -> int:
    """The HTTP status of a botocore ``ClientError`` (0 when unknown)."""
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def is_throttling(error: BaseException) -> bool:
    """Whether AWS refused a call for its rate."""
    return isinstance(error, ClientError) and error_code(error) in THROTTLING_CODES


def is_transient(error: BaseException) -> bool:
    """Whether a failed call is worth repeating: throttling, a 5xx or a dropped connection.

    Long waits poll thousands of times and botocore's own retries give up after a few
    attempts: a throttling storm must delay a wait, not fail it.
    """
    if isinstance(error, ClientError):
        return error_code(error) in TRANSIENT_CODES or http_status(error) >= 500
    return isinstance(error, BotoConnectionError | HTTPClientError)
