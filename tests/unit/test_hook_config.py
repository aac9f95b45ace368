"""Hooks layer our retries under the connection's botocore config (``config_kwargs``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from botocore.config import Config

from distributor_rollout.hooks.association_status import AssociationStatusHook
from distributor_rollout.hooks.identity import AccountIdentityHook
from distributor_rollout.hooks.member_access import MemberAccessHook
from distributor_rollout.hooks.organizations import OrganizationsHook
from distributor_rollout.hooks.package_bucket import PackageBucketHook
from distributor_rollout.hooks.retries import RETRIES, with_retries
from distributor_rollout.hooks.stack_set import StackSetHook

TUNED = "tuned_aws"
PLAIN = "plain_aws"
PROXIES = {"https": "http://proxy.example:3128"}
HOOKS = (AccountIdentityHook, OrganizationsHook, PackageBucketHook, StackSetHook)


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """One connection with botocore settings in its extra, one without."""
    for conn_id, extra in (
        (
            TUNED,
            {
                "region_name": "us-east-1",
                "config_kwargs": {
                    "connect_timeout": 7,
                    "read_timeout": 11,
                    "proxies": PROXIES,
                    "retries": {"total_max_attempts": 3},
                },
            },
        ),
        (PLAIN, {"region_name": "us-east-1"}),
    ):
        value = {"conn_type": "aws", "login": "key", "password": "secret", "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))


def client_config(hook: Any) -> Any:
    """The config of the client the hook builds."""
    return hook.conn.meta.config


@pytest.mark.parametrize("hook_class", HOOKS)
def test_the_connections_settings_reach_every_client(hook_class: Any) -> None:
    config = client_config(hook_class(aws_conn_id=TUNED))
    assert (config.connect_timeout, config.read_timeout) == (7, 11)
    assert config.proxies == PROXIES
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}


@pytest.mark.parametrize("hook_class", HOOKS)
def test_a_connection_without_settings_keeps_our_retries(hook_class: Any) -> None:
    config = client_config(hook_class(aws_conn_id=PLAIN))
    assert config.retries == RETRIES
    assert config.connect_timeout == 60  # botocore's default


@pytest.mark.parametrize("hook_class", HOOKS)
def test_an_operators_botocore_config_still_wins(hook_class: Any) -> None:
    config = client_config(hook_class(aws_conn_id=TUNED, config={"read_timeout": 5}))
    # The provider's rule: a hook's own config replaces the connection's config_kwargs.
    assert config.read_timeout == 5
    assert config.retries == RETRIES


def test_member_clients_sync_and_async_honour_the_connection() -> None:
    hook = AssociationStatusHook(role_name="Reader", aws_conn_id=TUNED)
    assert hook.sts.meta.config.connect_timeout == 7
    assert hook.sts.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}

    async def async_config() -> Any:
        await hook.aio_session()
        async with hook._create_client_async("ssm", "eu-west-1") as client:
            return client.meta.config

    config = asyncio.run(async_config())
    assert (config.connect_timeout, config.read_timeout) == (7, 11)
    assert config.proxies == PROXIES
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}


def test_async_member_clients_keep_our_retries_by_default() -> None:
    hook = MemberAccessHook(role_name="Reader", aws_conn_id=PLAIN)

    async def async_config() -> Any:
        await hook.aio_session()
        async with hook._create_client_async("ssm", "eu-west-1") as client:
            return client.meta.config

    assert asyncio.run(async_config()).retries == RETRIES


def test_retries_merge_key_by_key() -> None:
    assert with_retries(None).retries == RETRIES
    assert with_retries(Config(connect_timeout=2)).retries == RETRIES
    assert with_retries({"retries": {"mode": "adaptive"}}).retries == {
        "mode": "adaptive",
        "total_max_attempts": 8,
    }
    # Either way of bounding attempts replaces ours (botocore prefers total_max_attempts).
    assert with_retries({"retries": {"max_attempts": 2}}).retries == {
        "mode": "standard",
        "max_attempts": 2,
    }
