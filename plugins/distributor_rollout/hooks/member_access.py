"""Member-account access: a role assumed per account, its credentials cached, clients built.

The delegated administrator reads what happens in member accounts through a role there
(for compliance, the plan's ``compliance_reader.role_name``). AssumeRole costs a call and
its credentials last an hour, so they are cached per role ARN and renewed
``REFRESH_MARGIN_SECONDS`` before they expire: once cached, a poll of N targets costs only
its N reads. STS is called with the connection's credentials and endpoint; member clients
get the connection's endpoint for their service, so awssim (or a VPC endpoint) works the
same as AWS.

Clients are shared, one per (service, Region), and each call is signed with the member
account's credentials through botocore's per-request signing credentials
(``request_credentials`` in the request's signing context). Building a botocore client
costs milliseconds of CPU and an open aiobotocore client holds hundreds of KB, so a
client per target made a poll over hundreds of targets CPU-bound; a handful of shared
clients keeps its wall time near N × latency / concurrency.

aiobotocore is imported only where an async client is built (``aio_config``,
``signing_async``): every DAG file imports this module, and aiobotocore with aiohttp cost a
parse about 120 ms.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from asgiref.sync import sync_to_async
from botocore.credentials import Credentials  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from distributor_rollout.core.regions import partition_of
from distributor_rollout.hooks.errors import MemberAccessDenied
from distributor_rollout.hooks.retries import RetryingAwsHook, error_code

REFRESH_MARGIN_SECONDS = 300.0
"""Renew cached credentials this long before they expire (a poll must not start with
credentials that lapse halfway through it)."""
_SIGNING_CREDENTIALS: ContextVar[Any] = ContextVar("member_signing_credentials", default=None)
"""The member credentials the current call is signed with: set around each call, per
thread and per asyncio task, so concurrent calls on one shared client never mix them."""
_CLIENT_SCOPE: ContextVar[Any] = ContextVar("member_client_scope", default=None)
"""The ``shared_clients`` block the current task runs in (inherited by the tasks of a
poll's ``gather``), or None."""
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})
DEFAULT_SESSION_NAME = "distributor-rollout"


def access_denied(error: ClientError, account_id: str, role_arn: str) -> MemberAccessDenied | None:
    """The domain error for an AccessDenied answer in (or into) a member account, or None."""
    if error_code(error) not in ACCESS_DENIED_CODES:
        return None
    message = str(error.response.get("Error", {}).get("Message", "")) or error_code(error)
    return MemberAccessDenied(account_id, role_arn, message)


def sign_as_member(context: dict[str, Any], **_: Any) -> None:
    """``before-call`` handler of shared member clients: sign with the call's member
    credentials, and refuse to sign with the client's own (the connection's) ones."""
    credentials = _SIGNING_CREDENTIALS.get()
    if credentials is None:
        msg = "a shared member-account client was called without member credentials"
        raise RuntimeError(msg)
    context.setdefault("signing", {})["request_credentials"] = credentials


class _SigningClientContext:
    """Enter an aiobotocore client and register the member-signing handler on it."""

    def __init__(self, context: Any) -> None:
        self._context = context

    async def __aenter__(self) -> Any:
        client = await self._context.__aenter__()
        client.meta.events.register("before-call", sign_as_member)
        return client

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._context.__aexit__(*exc_info)


class _ClientScope:
    """The shared async clients of one ``shared_clients`` block."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._lock = asyncio.Lock()

    async def client(self, service: str, region: str, create: Any) -> Any:
        """The block's client for (service, Region), created on first use."""
        async with self._lock:
            if (service, region) not in self._clients:
                context = create(service, region)
                self._clients[(service, region)] = (context, await context.__aenter__())
            return self._clients[(service, region)][1]

    async def close(self) -> None:
        """Close every client of the block."""
        clients, self._clients = list(self._clients.values()), {}
        for context, _client in clients:
            await context.__aexit__(None, None, None)


class _MemberClient:
    """A shared client whose every call is signed as one member account (sync)."""

    def __init__(self, client: Any, credentials: MemberCredentials) -> None:
        self._client = client
        self._credentials = credentials

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            token = _SIGNING_CREDENTIALS.set(self._credentials.signing)
            try:
                return attribute(*args, **kwargs)
            finally:
                _SIGNING_CREDENTIALS.reset(token)

        return call


@dataclass(frozen=True)
class MemberCredentials:
    """Temporary credentials for one member role, and when they expire (epoch seconds).

    The secret key and session token are left out of ``repr`` (and so of ``str``, logs and
    tracebacks that show locals): the access key id and expiry identify them well enough.
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expires_at: float

    def usable(self, now: float) -> bool:
        """Whether they are still worth using at ``now`` (not within the refresh margin)."""
        return now < self.expires_at - REFRESH_MARGIN_SECONDS

    def client_kwargs(self) -> dict[str, str]:
        """The credential arguments of ``create_client``."""
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }

    @cached_property
    def signing(self) -> Any:
        """The credentials as botocore signs with them (sync clients)."""
        return Credentials(self.access_key_id, self.secret_access_key, self.session_token)

    @cached_property
    def signing_async(self) -> Any:
        """The credentials as aiobotocore signs with them (async clients)."""
        # aiobotocore (and aiohttp) only where the triggerer needs them: not at DAG parse.
        from aiobotocore.credentials import AioCredentials  # type: ignore[import-untyped]  # noqa: PLC0415

        return AioCredentials(self.access_key_id, self.secret_access_key, self.session_token)

    @classmethod
    def from_sts(cls, credentials: Mapping[str, Any]) -> MemberCredentials:
        """From AssumeRole's ``Credentials`` (botocore parses ``Expiration`` to a datetime)."""
        return cls(
            credentials["AccessKeyId"],
            credentials["SecretAccessKey"],
            credentials["SessionToken"],
            credentials["Expiration"].timestamp(),
        )


class MemberAccessHook(RetryingAwsHook):
    """Clients in member accounts through a role assumed there, sync and async.

    Both sides share clients per (service, Region) and sign each call with the member
    role's credentials (see the module docstring). The sync side (workers) keeps one boto3
    client per (service, Region) for the hook's life. The async side (triggerer) shares
    aiobotocore clients within a ``shared_clients()`` block, one per poll, and closes them
    when the block ends; outside a block a client lives for one ``member_client_async``.
    Concurrent requests for the same role wait for one AssumeRole rather than each making
    their own.

    :param role_name: the role to assume in each member account.
    :param session_name: the ``RoleSessionName`` (what the members' CloudTrail shows).
    Other arguments (``aws_conn_id``, ``region_name``, ``verify``, ``config``) go to
    ``AwsBaseHook``; ``config`` is layered over ``RETRIES``.
    """

    def __init__(
        self,
        *args: Any,
        role_name: str,
        session_name: str = DEFAULT_SESSION_NAME,
        **kwargs: Any,
    ) -> None:
        kwargs["client_type"] = "sts"
        super().__init__(*args, **kwargs)
        self.role_name = role_name
        self.session_name = session_name
        self._credentials: dict[str, MemberCredentials] = {}
        self._guard = threading.Lock()
        self._role_locks: dict[str, threading.Lock] = {}
        self._async_role_locks: dict[str, asyncio.Lock] = {}
        self._async_session: Any = None
        self._shared: dict[tuple[str, str], Any] = {}

    def member_role_arn(self, account_id: str, region: str) -> str:
        """The role's ARN in a member account, in the partition of ``region``.

        Plans only name known Regions (validated), so the commercial partition is the
        fallback for a Region newer than ``core.regions`` alone.
        """
        partition = partition_of(region) or "aws"
        return f"arn:{partition}:iam::{account_id}:role/{self.role_name}"

    # --- sync (workers) -----------------------------------------------------------------
    @cached_property
    def boto_session(self) -> Any:
        """The one boto3 session STS and member clients are built from (the connection's)."""
        return self.get_session(region_name=self.region_name)

    @cached_property
    def sts(self) -> Any:
        """STS as the connection: the endpoint, config and credentials it names."""
        return self.boto_session.client(
            "sts",
            region_name=self.region_name,
            endpoint_url=self.conn_config.get_service_endpoint_url("sts"),
            config=self.config,
            verify=self.verify,
        )

    def credentials(self, account_id: str, region: str) -> MemberCredentials:
        """The member role's credentials: cached, or from one AssumeRole."""
        role_arn = self.member_role_arn(account_id, region)
        with self._guard:
            lock = self._role_locks.setdefault(role_arn, threading.Lock())
        with lock:
            cached = self._credentials.get(role_arn)
            if cached is not None and cached.usable(time.time()):
                return cached
            with self._guard:
                sts = self.sts
            try:
                response = sts.assume_role(RoleArn=role_arn, RoleSessionName=self.session_name)
            except ClientError as error:
                denied = access_denied(error, account_id, role_arn)
                if denied is not None:
                    raise denied from error
                raise
            fresh = MemberCredentials.from_sts(response["Credentials"])
            self._credentials[role_arn] = fresh
            return fresh

    def member_client(self, service: str, account_id: str, region: str) -> Any:
        """A client for ``service`` in a member account and Region: the shared client of
        that Region, each call signed with the member role's credentials."""
        credentials = self.credentials(account_id, region)
        # A boto3 session is not thread-safe; building clients from it one at a time is.
        with self._guard:
            client = self._shared.get((service, region))
            if client is None:
                client = self.boto_session.client(
                    service,
                    region_name=region,
                    endpoint_url=self.conn_config.get_service_endpoint_url(service),
                    config=self.config,
                    verify=self.verify,
                )
                client.meta.events.register("before-call", sign_as_member)
                self._shared[(service, region)] = client
        return _MemberClient(client, credentials)

    # --- async (triggerer) --------------------------------------------------------------
    async def aio_session(self) -> Any:
        """The one aiobotocore session of this hook, built off the event loop (reading the
        Airflow connection is a blocking call)."""
        if self._async_session is None:
            session = await sync_to_async(self._build_async_session)()
            # Another task may have built one meanwhile: keep the first, so all share it.
            if self._async_session is None:
                self._async_session = session
        return self._async_session

    def _build_async_session(self) -> Any:
        session = self.get_session(region_name=self.region_name, deferrable=True)
        # Resolve what reads the connection now, so the event loop never does.
        self.conn_config.get_service_endpoint_url("sts")
        return session

    @cached_property
    def aio_config(self) -> Any:
        """The config of async clients: ``config`` over a shared-SSL HTTP session."""
        from aiobotocore.config import AioConfig  # type: ignore[import-untyped]  # noqa: PLC0415

        from distributor_rollout.hooks.aio_http import SharedSslHttpSession  # noqa: PLC0415

        return AioConfig(http_session_cls=SharedSslHttpSession).merge(self.config)

    async def credentials_async(self, account_id: str, region: str) -> MemberCredentials:
        """``credentials`` for the event loop."""
        session = await self.aio_session()
        role_arn = self.member_role_arn(account_id, region)
        lock = self._async_role_locks.setdefault(role_arn, asyncio.Lock())
        async with lock:
            cached = self._credentials.get(role_arn)
            if cached is not None and cached.usable(time.time()):
                return cached
            async with session.create_client(
                "sts",
                region_name=self.region_name,
                endpoint_url=self.conn_config.get_service_endpoint_url("sts"),
                config=self.aio_config,
                verify=self.verify,
            ) as sts:
                try:
                    response = await sts.assume_role(
                        RoleArn=role_arn, RoleSessionName=self.session_name
                    )
                except ClientError as error:
                    denied = access_denied(error, account_id, role_arn)
                    if denied is not None:
                        raise denied from error
                    raise
            fresh = MemberCredentials.from_sts(response["Credentials"])
            self._credentials[role_arn] = fresh
            return fresh

    @asynccontextmanager
    async def member_client_async(
        self, service: str, account_id: str, region: str
    ) -> AsyncIterator[Any]:
        """An aiobotocore client for ``service`` in a member account and Region, closed on
        leaving the block."""
        credentials = await self.credentials_async(account_id, region)
        scope = _CLIENT_SCOPE.get()
        # Task-local: concurrent calls on a shared client each sign as their own account.
        token = _SIGNING_CREDENTIALS.set(credentials.signing_async)
        try:
            if scope is not None:
                yield await scope.client(service, region, self._create_client_async)
            else:
                async with self._create_client_async(service, region) as client:
                    yield client
        finally:
            _SIGNING_CREDENTIALS.reset(token)

    @asynccontextmanager
    async def shared_clients(self) -> AsyncIterator[None]:
        """Within the block, member clients of one (service, Region) are one client, closed
        when the block ends (a poll opens one block: its clients never outlive it)."""
        scope = _ClientScope()
        token = _CLIENT_SCOPE.set(scope)
        try:
            yield
        finally:
            _CLIENT_SCOPE.reset(token)
            await scope.close()

    def _create_client_async(self, service: str, region: str) -> Any:
        """An aiobotocore client context (not entered) signing as the call's member."""
        if self._async_session is None:
            msg = "aio_session() must be awaited before clients are created"
            raise RuntimeError(msg)
        client = self._async_session.create_client(
            service,
            region_name=region,
            endpoint_url=self.conn_config.get_service_endpoint_url(service),
            config=self.aio_config,
            verify=self.verify,
        )
        return _SigningClientContext(client)
