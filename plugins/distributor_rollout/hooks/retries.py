"""How every hook reads a botocore failure and how hard every client retries.

One place for the error code, the HTTP status, "throttled" and "worth asking again":
StackSets waits, compliance polls and S3 checks all classify failures the same way.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
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


ATTEMPT_KEYS = ("total_max_attempts", "max_attempts")
"""botocore's two ways of bounding attempts: a config naming either replaces ours."""


def with_retries(config: Config | Mapping[str, Any] | None) -> Config:
    """``RETRIES`` under the caller's botocore config, whose settings win key by key.

    Everything but ``retries`` is the caller's as given. Inside ``retries``, a key the
    caller sets replaces ours (the mode, the attempts); ours stays where the caller is
    silent, so a connection that only sets ``total_max_attempts`` keeps standard mode. A
    caller bounding attempts either way (``max_attempts`` or ``total_max_attempts``)
    replaces our bound, as botocore would otherwise prefer ours.
    """
    given = config if isinstance(config, Config) or config is None else Config(**config)
    if given is None:
        return Config(retries=dict(RETRIES))
    theirs = dict(getattr(given, "retries", None) or {})
    ours = dict(RETRIES)
    if any(key in theirs for key in ATTEMPT_KEYS):
        ours = {k: v for k, v in ours.items() if k not in ATTEMPT_KEYS}
    return Config().merge(given).merge(Config(retries={**ours, **theirs}))


class RetryingAwsHook(AwsBaseHook):
    """``AwsBaseHook`` whose clients retry as ``RETRIES`` says, under the connection's config.

    The amazon provider reads the connection extra's ``config_kwargs`` (proxies, timeouts,
    retries...) only when the hook is given no ``config`` of its own, so a hook that
    passed ``RETRIES`` as its config would silently drop the connection's settings. Here
    the hook's ``config`` stays what the caller gave (an operator's ``botocore_config``,
    else the connection's ``config_kwargs``, as the provider decides) and ``RETRIES`` is
    layered under it where clients are built (``with_retries``): the connection's
    settings win, ours are the default. Every client the provider builds (``conn``,
    ``get_async_conn``, ``account_id``, sessions) reads this property.
    """

    @property
    def config(self) -> Config:
        """The botocore config of every client: the hook's or connection's over ``RETRIES``."""
        return with_retries(self.conn_config.botocore_config)


def error_code(error: ClientError) -> str:
    """The service error code of a botocore ``ClientError``."""
    return str(error.response.get("Error", {}).get("Code", ""))


def http_status(error: ClientError) -> int:
    """The HTTP status of a botocore ``ClientError`` (0 when unknown)."""
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def is_throttling(error: BaseException) -> bool:
    """Whether AWS refused a call for its rate."""
    return isinstance(error, ClientError) and error_code(error) in THROTTLING_CODES


def backoff_pause(attempt: int, first_pause: float) -> float:
    """Seconds to wait before retry ``attempt`` (0-based) of our own retries after
    botocore's: exponential from ``first_pause``, with full jitter so that many readers
    throttled together do not retry together."""
    return random.uniform(0, first_pause * 2**attempt)  # noqa: S311 - jitter, not secrets


def is_transient(error: BaseException) -> bool:
    """Whether a failed call is worth repeating: throttling, a 5xx or a dropped connection.

    Long waits poll thousands of times and botocore's own retries give up after a few
    attempts: a throttling storm must delay a wait, not fail it.
    """
    if isinstance(error, ClientError):
        return error_code(error) in TRANSIENT_CODES or http_status(error) >= 500
    return isinstance(error, BotoConnectionError | HTTPClientError)
