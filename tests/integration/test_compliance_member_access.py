"""Member-account access and association status hooks against awssim: credentials cached per
account, one status call per target and poll, errors named by account."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from botocore.config import Config
from compliance_support import (
    ASSOCIATION,
    READER,
    SANDBOX,
    client,
    count_calls,
    prepare,
    tagged_nodes,
    targets,
)

from awssim.pytest_plugin import AwsClients
from awssim.scenario import Scenario, Throttling
from awssim.simulator import Simulator
from distributor_rollout.core.targets import Target
from distributor_rollout.hooks import association_status
from distributor_rollout.hooks.aio_http import SharedSslHttpSession
from distributor_rollout.hooks.association_status import AssociationStatusHook, StatusPoll
from distributor_rollout.hooks.errors import MemberAccessDenied
from distributor_rollout.hooks.member_access import (
    REFRESH_MARGIN_SECONDS,
    MemberCredentials,
)
from distributor_rollout.hooks.retries import with_retries

CANARY = targets(SANDBOX, ["us-east-1", "us-west-2"])


def hook(conn: str, **kw: Any) -> AssociationStatusHook:
    """The status hook as the sensor builds it."""
    return AssociationStatusHook(role_name=READER, aws_conn_id=conn, **kw)


def test_second_poll_assumes_no_role_and_makes_one_call_per_target(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)
    status = hook(aws_conn)
    calls = count_calls(fast_sim, monkeypatch)

    first = status.poll(CANARY, ASSOCIATION)
    assert calls == {"sts.AssumeRole": len(SANDBOX), "ssm.ListAssociations": len(CANARY)}
    calls.clear()
    second = status.poll(CANARY, ASSOCIATION)

    assert calls == {"ssm.ListAssociations": len(CANARY)}
    assert first == second
    assert sum(item.success for item in second.compliances) == len(tagged_nodes(fast_sim, CANARY))


def test_async_polls_share_credentials_the_same_way(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)
    status = hook(aws_conn)
    calls = count_calls(fast_sim, monkeypatch)

    async def two_polls() -> tuple[StatusPoll, dict[str, int]]:
        await status.poll_async(CANARY, ASSOCIATION, concurrency=4)
        after_first = dict(calls)
        return await status.poll_async(CANARY, ASSOCIATION, concurrency=4), after_first

    second, after_first = asyncio.run(two_polls())

    assert after_first == {"sts.AssumeRole": len(SANDBOX), "ssm.ListAssociations": len(CANARY)}
    assert calls == {"sts.AssumeRole": len(SANDBOX), "ssm.ListAssociations": 2 * len(CANARY)}
    assert second.unread == ()
    assert {item.target for item in second.statuses} == set(CANARY)


def test_a_read_matches_the_association_as_aws_describes_it(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    target = CANARY[0]
    prepare(aws, [target])
    fast_sim.settle(horizon=600)

    read = hook(aws_conn).read(target, ASSOCIATION)

    ssm = client(aws, "ssm", target.account_id, target.region)
    described = ssm.describe_association(AssociationId=read.association_id)
    counts = described["AssociationDescription"]["Overview"]["AssociationStatusAggregatedCount"]
    assert read.compliance.expected == sum(counts.values())
    assert read.compliance.success == counts.get("Success", 0)


def test_credentials_are_renewed_shortly_before_they_expire(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = CANARY[0]
    prepare(aws, [target])
    status = hook(aws_conn)
    status.read(target, ASSOCIATION)
    role_arn = status.member_role_arn(target.account_id, target.region)
    cached = status._credentials[role_arn]
    # As if an hour had passed: the credentials are within the refresh margin now.
    status._credentials[role_arn] = MemberCredentials(
        cached.access_key_id,
        cached.secret_access_key,
        cached.session_token,
        time.time() + REFRESH_MARGIN_SECONDS - 1,
    )
    calls = count_calls(fast_sim, monkeypatch)

    status.read(target, ASSOCIATION)

    assert calls["sts.AssumeRole"] == 1
    assert status._credentials[role_arn].usable(time.time())


def test_a_missing_role_is_access_denied_naming_account_and_role(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    prepare(aws, CANARY, without_role=[SANDBOX[0]])

    with pytest.raises(MemberAccessDenied) as denied:
        hook(aws_conn).poll(CANARY, ASSOCIATION)

    assert denied.value.account_id == SANDBOX[0]
    assert denied.value.role_arn == f"arn:aws:iam::{SANDBOX[0]}:role/{READER}"
    assert f"in account {SANDBOX[0]}" in str(denied.value)


def test_a_role_that_does_not_trust_the_admin_is_access_denied(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    target = CANARY[0]
    prepare(aws, [target], without_role=[target.account_id])
    client(aws, "iam", target.account_id).create_role(
        RoleName=READER,
        AssumeRolePolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            '"Principal": {"AWS": "111111111111"}, "Action": "sts:AssumeRole"}]}'
        ),
    )

    with pytest.raises(MemberAccessDenied, match=target.account_id):
        asyncio.run(hook(aws_conn).read_async(target, ASSOCIATION))


def test_reads_still_throttled_after_every_retry_are_reported_unread(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(aws, CANARY)
    storm = Throttling(services=["ssm"], operations=["ListAssociations"], rate=1.0)
    fast_sim.set_scenario(Scenario(name="storm", throttling=[storm]))
    monkeypatch.setattr(association_status, "THROTTLE_RETRIES", 1)
    monkeypatch.setattr(association_status, "THROTTLE_PAUSE_SECONDS", 0.01)
    calls = count_calls(fast_sim, monkeypatch)

    poll = hook(aws_conn, config={"retries": {"total_max_attempts": 2}}).poll(CANARY, ASSOCIATION)

    assert poll.statuses == ()
    assert sorted(poll.unread) == sorted(CANARY)
    # botocore's 2 attempts, twice (our one retry): 4 calls per target.
    assert calls["ssm.ListAssociations"] == 4 * len(CANARY)


def test_a_target_without_the_association_reads_as_no_nodes(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    prepare(aws, [CANARY[0]])

    read = hook(aws_conn).read(CANARY[0], "SomeOtherAssociation")

    assert read.association_id is None
    assert (read.compliance.expected, read.compliance.success) == (0, 0)


def test_role_arns_follow_the_partition_of_the_region() -> None:
    status = AssociationStatusHook(role_name=READER, aws_conn_id=None)

    assert status.member_role_arn("123456789012", "cn-north-1") == (
        f"arn:aws-cn:iam::123456789012:role/{READER}"
    )
    assert status.member_role_arn("123456789012", "us-gov-west-1").startswith("arn:aws-us-gov:")
    assert status.member_role_arn("123456789012", "eu-west-1").startswith("arn:aws:")


def test_every_client_retries_throttling_and_keeps_the_callers_settings() -> None:
    ours = {"mode": "standard", "total_max_attempts": 8}
    merged = with_retries({"read_timeout": 7, "retries": {"mode": "adaptive"}})
    assert merged.read_timeout == 7
    # Key by key: the caller's mode, our attempts where the caller names none.
    assert merged.retries == {"mode": "adaptive", "total_max_attempts": 8}
    assert with_retries(None).retries == ours
    assert with_retries(Config(connect_timeout=2)).retries == ours
    status = AssociationStatusHook(role_name=READER, aws_conn_id=None)
    assert status.config.retries == ours


def test_credentials_are_usable_until_the_refresh_margin() -> None:
    credentials = MemberCredentials("AKIA", "secret", "token", expires_at=10_000.0)

    assert credentials.usable(10_000.0 - REFRESH_MARGIN_SECONDS - 1)
    assert not credentials.usable(10_000.0 - REFRESH_MARGIN_SECONDS)
    assert credentials.client_kwargs() == {
        "aws_access_key_id": "AKIA",
        "aws_secret_access_key": "secret",
        "aws_session_token": "token",
    }


def test_status_of_a_target_adds_up_associations_sharing_the_name() -> None:
    target = Target("123456789012", "eu-west-1")
    page = [
        {"AssociationId": "a-1", "Overview": {"AssociationStatusAggregatedCount": {"Success": 3}}},
        {"AssociationId": "a-2", "Overview": {"AssociationStatusAggregatedCount": {"Failed": 1}}},
    ]

    status = association_status.status_from_page(target, page)

    assert status.association_id == "a-1"
    assert (status.compliance.expected, status.compliance.failed) == (4, 1)


def test_async_clients_share_one_ssl_context(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(aws, CANARY)
    monkeypatch.setattr(SharedSslHttpSession, "_contexts", {})

    asyncio.run(hook(aws_conn).poll_async(CANARY, ASSOCIATION))

    # One STS client per account and one SSM client per target, one SSL context in all.
    assert len(SharedSslHttpSession._contexts) == 1
