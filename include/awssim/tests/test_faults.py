"""Scenarios make their faults happen, deterministically."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from awssim.faults import FaultInjector
from awssim.fleet import generate_fleet
from awssim.orgspec import load_org
from awssim.pytest_plugin import AwsClients
from awssim.scenario import Scenario, load_scenario
from awssim.simulator import Simulator

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def _scenario_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _throttled(call: object) -> bool:
    try:
        call()  # type: ignore[operator]
    except ClientError as error:
        return error.response["Error"]["Code"] in {"ThrottlingException", "Throttling"}
    return False


def test_throttling_hits_about_thirty_percent_of_reads(aws: AwsClients, sim: Simulator) -> None:
    sim.set_scenario("throttling")
    ssm = aws.client("ssm", config=NO_RETRIES)
    cfn = aws.client("cloudformation", config=NO_RETRIES)
    ssm_hits = sum(_throttled(ssm.describe_parameters) for _ in range(100))
    cfn_hits = sum(_throttled(cfn.list_stack_sets) for _ in range(100))
    assert 15 <= ssm_hits <= 45
    assert 15 <= cfn_hits <= 45
    writes = [
        _throttled(lambda i=i: ssm.put_parameter(Name=f"w{i}", Value="v", Type="String"))
        for i in range(30)
    ]
    assert not any(writes)


def test_throttling_is_the_code_each_service_uses(aws: AwsClients, sim: Simulator) -> None:
    sim.set_scenario("throttling")
    codes = set()
    for client, call in (
        (aws.client("ssm", config=NO_RETRIES), "describe_parameters"),
        (aws.client("cloudformation", config=NO_RETRIES), "list_stack_sets"),
    ):
        for _ in range(40):
            try:
                getattr(client, call)()
            except ClientError as error:
                codes.add((client.meta.service_model.service_name, error.response["Error"]["Code"]))
    assert codes == {("ssm", "ThrottlingException"), ("cloudformation", "Throttling")}


def test_botocore_retries_ride_out_the_throttling_scenario(aws: AwsClients, sim: Simulator) -> None:
    sim.set_scenario("throttling")
    ssm = aws.client("ssm", config=Config(retries={"mode": "standard", "total_max_attempts": 10}))
    for _ in range(5):
        ssm.describe_parameters()


def test_the_same_seed_throttles_the_same_calls(aws: AwsClients, sim: Simulator) -> None:
    def pattern() -> list[bool]:
        sim.set_scenario("throttling")
        ssm = aws.client("ssm", config=NO_RETRIES)
        return [_throttled(ssm.describe_parameters) for _ in range(40)]

    assert pattern() == pattern()


def test_server_errors_and_latency(aws: AwsClients, sim: Simulator, tmp_path: Path) -> None:
    sim.set_scenario(
        _scenario_file(
            tmp_path,
            "name: flaky\n"
            "server_errors:\n  - {services: [ssm], operations: [DescribeParameters], rate: 1.0}\n"
            "latency:\n  - {services: [sts], seconds: 0.2}\n",
        )
    )
    with pytest.raises(ClientError) as unavailable:
        aws.client("ssm", config=NO_RETRIES).describe_parameters()
    assert unavailable.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert unavailable.value.response["Error"]["Code"] == "ServiceUnavailable"
    started = time.monotonic()
    aws.client("sts").get_caller_identity()
    assert time.monotonic() - started >= 0.2


def test_stack_instance_failures_hit_the_named_targets_the_given_number_of_times() -> None:
    org = load_org("demo")
    faults = FaultInjector(load_scenario("stackset-failure"), org, generate_fleet(org, 0))
    assert faults.stack_instance_failure("300333333334", "us-west-2", "CREATE") is not None
    assert faults.stack_instance_failure("300333333334", "us-west-2", "UPDATE") is None  # once
    assert faults.stack_instance_failure("300555555556", "us-west-2", "UPDATE") is not None
    assert faults.stack_instance_failure("300555555556", "us-east-1", "CREATE") is None
    assert faults.stack_instance_failure("300222222223", "us-west-2", "CREATE") is None
    assert faults.stack_instance_failure("300444444445", "us-west-2", "DELETE") is None


def test_package_failures_hit_most_canary_nodes_for_new_versions_only() -> None:
    org = load_org("demo")
    fleet = generate_fleet(org, 0)
    canary = [node for node in fleet if node.account_id in {"300000000001", "300111111112"}]
    for node in canary[:5]:
        node.installed["ExamplePackage"] = "1.0.0"
    faults = FaultInjector(load_scenario("canary-failure"), org, fleet)
    failing = [n for n in canary if faults.package_failure(n, "ExamplePackage", "1.0.2")]
    assert 0.6 <= len(failing) / len(canary) <= 0.95
    assert not any(faults.package_failure(n, "ExamplePackage", "1.0.0") for n in canary)
    others = [node for node in fleet if node not in canary]
    assert not any(faults.package_failure(n, "ExamplePackage", "1.0.2") for n in others)


def test_unmanaged_nodes_scenario_takes_a_third_of_nonprod_offline(sim: Simulator) -> None:
    sim.set_scenario("unmanaged-nodes")
    nonprod = set(sim.org.accounts_under(sim.org.ou_ids_by_path["/NonProd"]))
    offline = [node for node in sim.fleet if not node.managed]
    assert offline
    assert {node.account_id for node in offline} <= nonprod
    share = len(offline) / sum(1 for node in sim.fleet if node.account_id in nonprod)
    assert 0.2 <= share <= 0.5
    sim.set_scenario("happy")
    assert all(node.managed for node in sim.fleet)


def test_scenarios_validate_their_rules() -> None:
    with pytest.raises(ValueError, match="fraction"):
        Scenario.model_validate({"name": "x", "package_failures": [{"fraction": 2}]})
