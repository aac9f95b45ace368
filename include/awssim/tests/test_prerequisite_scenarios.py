"""The scenarios where a StackSets prerequisite is missing: trusted access off, and the
account the rollout runs as not registered as delegated administrator."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError
from stacksets_support import ADMIN, AS_ADMIN, MANAGEMENT, admin_cfn, create_service_managed

from awssim.identity import STACKSETS_PRINCIPAL
from awssim.pytest_plugin import AwsClients
from awssim.scenario import AwsConfigSetup, OrganizationSetup, Scenario, load_scenario
from awssim.simulator import Simulator

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _code(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def _admins(aws: AwsClients) -> list[str]:
    organizations = aws.client("organizations", account=MANAGEMENT)
    listed = organizations.list_delegated_administrators(ServicePrincipal=STACKSETS_PRINCIPAL)
    return [admin["Id"] for admin in listed["DelegatedAdministrators"]]


def test_each_scenario_says_what_a_preflight_should_report() -> None:
    trusted = load_scenario("trusted-access-off")
    assert trusted.organization == OrganizationSetup(stacksets_trusted_access=False)
    assert "activate-organizations-access" in trusted.description
    unregistered = load_scenario("not-delegated-admin")
    assert unregistered.organization == OrganizationSetup(stacksets_delegated_admin=False)
    assert "register-delegated-administrator" in unregistered.description
    for scenario in (trusted, unregistered):
        faults = scenario.model_dump(
            exclude={"name", "description", "seed", "organization", "aws_config"}
        )
        assert not any(faults.values()), "nothing else is faulty"
        assert scenario.aws_config == AwsConfigSetup(), "Config delivers as by default"


def test_trusted_access_off(aws: AwsClients, sim: Simulator) -> None:
    sim.load("demo", "trusted-access-off", speed=1.0, seed=0)
    cfn = admin_cfn(aws)
    assert cfn.describe_organizations_access(**AS_ADMIN)["Status"] == "DISABLED"
    management = aws.client("cloudformation", account=MANAGEMENT)
    assert management.describe_organizations_access()["Status"] == "DISABLED"
    assert _code(create_service_managed, cfn=cfn, name="rollout") == (
        "ValidationError",
        "You must enable organizations access to operate a service managed stack set",
    )
    assert _admins(aws) == [ADMIN], "the delegated administrator is still registered"

    sim.set_scenario("happy")
    assert cfn.describe_organizations_access(**AS_ADMIN)["Status"] == "ENABLED"
    create_service_managed(cfn, "rollout")


def test_not_delegated_admin(aws: AwsClients, sim: Simulator) -> None:
    sim.load("demo", "not-delegated-admin", speed=1.0, seed=0)
    assert aws.client("sts").get_caller_identity()["Account"] == ADMIN, "still the runner"
    assert _admins(aws) == []
    cfn = admin_cfn(aws)
    assert _code(cfn.describe_organizations_access, **AS_ADMIN) == (
        "ValidationError",
        "Account used is not a delegated administrator",
    )
    assert _code(create_service_managed, cfn=cfn, name="rollout") == (
        "ValidationError",
        "Account used is not a delegated administrator",
    )
    assert _code(aws.client("organizations").list_delegated_administrators)[0] == (
        "AccessDeniedException"
    )
    management = aws.client("cloudformation", account=MANAGEMENT)
    assert management.describe_organizations_access()["Status"] == "ENABLED"

    sim.set_scenario("happy")
    assert _admins(aws) == [ADMIN]
    assert cfn.describe_organizations_access(**AS_ADMIN)["Status"] == "ENABLED"


def test_a_switch_changes_only_what_the_setups_disagree_on(aws: AwsClients, sim: Simulator) -> None:
    management = aws.client("cloudformation", account=MANAGEMENT)
    management.deactivate_organizations_access()
    sim.set_scenario("canary-failure")  # agrees with happy: trusted access stays as the test set it
    assert management.describe_organizations_access()["Status"] == "DISABLED"
    sim.set_scenario(
        Scenario(
            name="both-off",
            organization=OrganizationSetup(
                stacksets_trusted_access=False, stacksets_delegated_admin=False
            ),
        )
    )
    assert _admins(aws) == []
    sim.set_scenario("trusted-access-off")
    assert (_admins(aws), management.describe_organizations_access()["Status"]) == (
        [ADMIN],
        "DISABLED",
    )
    sim.load("demo", None, speed=1.0, seed=0)  # a reload starts from the seeded org
    assert management.describe_organizations_access()["Status"] == "ENABLED"


def test_the_readme_organization_example_is_a_valid_setup() -> None:
    block = re.findall(r"```yaml\n(.*?)```", README, flags=re.DOTALL)[2]
    scenario = Scenario.model_validate({"name": "readme", **yaml.safe_load(block)})
    assert scenario.organization == OrganizationSetup(
        stacksets_trusted_access=False, stacksets_delegated_admin=False
    )
