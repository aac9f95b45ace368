"""awssim over HTTP: identities, the organization, the call ledger and the control API."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator

MEMBER = "300000000001"
MANAGEMENT = "111111111111"
ADMIN = "222222222222"


def _control(aws: AwsClients, name: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 - loopback URL built by the fixture
        f"{aws.endpoint_url}/_awssim/{name}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def test_unknown_credentials_act_as_the_delegated_admin(aws: AwsClients) -> None:
    assert aws.client("sts").get_caller_identity()["Account"] == ADMIN


def test_a_twelve_digit_access_key_acts_as_that_account(aws: AwsClients) -> None:
    assert aws.client("sts", account=MEMBER).get_caller_identity()["Account"] == MEMBER


def test_assume_role_needs_an_existing_role_that_trusts_the_caller(aws: AwsClients) -> None:
    org_role = f"arn:aws:iam::{MEMBER}:role/OrganizationAccountAccessRole"
    member = aws.assumed_client("sts", org_role, account=MANAGEMENT)
    identity = member.get_caller_identity()
    assert identity["Account"] == MEMBER
    assert identity["Arn"].endswith(":assumed-role/OrganizationAccountAccessRole/awssim-test")

    with pytest.raises(ClientError) as untrusted:
        aws.assumed_client("sts", org_role)  # the delegated admin is not trusted by this role
    assert untrusted.value.response["Error"]["Code"] == "AccessDenied"
    assert untrusted.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"on resource: {org_role}" in untrusted.value.response["Error"]["Message"]

    missing = f"arn:aws:iam::{MEMBER}:role/DistributorRolloutComplianceReader"
    with pytest.raises(ClientError, match="AccessDenied"):
        aws.assumed_client("sts", missing)


def test_the_delegated_admin_reads_the_organization(aws: AwsClients, sim: Simulator) -> None:
    org = aws.client("organizations")
    root = org.list_roots()["Roots"][0]["Id"]
    assert root == sim.org.root_id
    names = {
        unit["Name"]
        for unit in org.list_organizational_units_for_parent(ParentId=root)["OrganizationalUnits"]
    }
    assert names == {"Sandbox", "NonProd", "Prod", "Security"}
    nonprod = sim.org.ou_ids_by_path["/NonProd"]
    accounts = org.list_accounts_for_parent(ParentId=nonprod)["Accounts"]
    assert {a["Status"] for a in accounts} == {"ACTIVE", "SUSPENDED"}
    admins = org.list_delegated_administrators()["DelegatedAdministrators"]
    assert [admin["Id"] for admin in admins] == [ADMIN]


def test_a_plain_member_cannot_list_the_organization(aws: AwsClients) -> None:
    member = aws.client("organizations", account=MEMBER)
    assert member.describe_organization()["Organization"]["MasterAccountId"] == MANAGEMENT
    with pytest.raises(ClientError, match="AccessDeniedException"):
        member.list_roots()


def test_mutating_calls_are_logged_with_caller_and_outcome(aws: AwsClients, sim: Simulator) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="ledger-test-bucket")
    s3.put_object(Bucket="ledger-test-bucket", Key="a/b.txt", Body=b"x")
    s3.get_object(Bucket="ledger-test-bucket", Key="a/b.txt")
    aws.client("ssm", account=MEMBER).put_parameter(Name="p", Value="v", Type="String")
    with pytest.raises(ClientError):
        aws.client("ssm", account=MEMBER).put_parameter(Name="p", Value="v", Type="String")

    calls = _control(aws, "calls")
    assert [(c["service"], c["operation"], c["account"], c["ok"]) for c in calls] == [
        ("s3", "CreateBucket", ADMIN, True),
        ("s3", "PutObject", ADMIN, True),
        ("ssm", "PutParameter", MEMBER, True),
        ("ssm", "PutParameter", MEMBER, False),
    ]
    assert calls[1]["params"] == {"Bucket": "ledger-test-bucket", "Key": "a/b.txt"}
    assert calls[3]["error"] == "ParameterAlreadyExists"
    assert len(sim.ledger.calls(service="ssm", ok=True)) == 1


def test_every_call_is_counted_by_operation(aws: AwsClients) -> None:
    before = _control(aws, "operations")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="counted-bucket")
    s3.list_objects(Bucket="counted-bucket")
    ssm = aws.client("ssm", account=MEMBER)
    ssm.put_parameter(Name="counted", Value="v", Type="String")
    with pytest.raises(ClientError):  # refused calls count too: AWS received them
        ssm.put_parameter(Name="counted", Value="v", Type="String")
    ssm.describe_parameters()
    _control(aws, "health")  # the control API is not AWS: never counted

    after = _control(aws, "operations")
    gained = {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}
    assert gained == {
        "s3.CreateBucket": 1,
        "s3.ListObjects": 1,
        "ssm.PutParameter": 2,
        "ssm.DescribeParameters": 1,
    }
    _control(aws, "reset", {"org": "demo"})
    assert _control(aws, "operations") == {}


def test_control_api_reports_state_and_moves_the_clock(aws: AwsClients) -> None:
    health = _control(aws, "health")
    assert health["org"] == "demo"
    assert health["scenario"] == "happy"
    moved = _control(aws, "advance", {"seconds": 7200})
    assert moved["sim_seconds"] >= health["sim_seconds"] + 7200
    state = _control(aws, "state")
    assert state["org"]["ou_ids"]["/Prod/EU"].startswith("ou-")
    assert len(state["nodes"]) > 100
    assert all(node["installed"] == {} for node in state["nodes"])
    assert _control(aws, "scenario", {"name": "throttling"})["scenario"] == "throttling"


def test_control_api_rejects_bad_requests_with_the_reason(aws: AwsClients) -> None:
    with pytest.raises(urllib.error.HTTPError) as bad:
        _control(aws, "scenario", {"name": "nope"})
    with bad.value:
        assert bad.value.code == 400
        assert "one of" in json.loads(bad.value.read())["error"]
    with pytest.raises(urllib.error.HTTPError) as missing:
        _control(aws, "teleport", {})
    with missing.value:
        assert missing.value.code == 404


def test_reset_starts_over_with_an_empty_aws(aws: AwsClients, sim: Simulator) -> None:
    aws.client("s3").create_bucket(Bucket="gone-after-reset")
    _control(aws, "reset", {"org": "demo", "seed": 3})
    assert aws.client("s3").list_buckets()["Buckets"] == []
    assert sim.seed == 3
    assert len(sim.ledger) == 0
