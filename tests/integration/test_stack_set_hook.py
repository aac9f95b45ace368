"""StackSetHook.delete_stack_set against awssim: what a retire's last StackSets call finds.

A stack set without instances is deleted; one already gone is ``absent``; one that still
has instances is ``not_empty`` and stays; one with an operation running raises
``OperationInProgress``. awssim's stack sets (``sim.stacksets.state()``) are the ground
truth.
"""

from __future__ import annotations

import pytest
from stack_set_support import CALL_AS, REGION, STACK_SET, cfn, create_stack_set, template_ref

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.hooks.errors import OperationInProgress
from distributor_rollout.hooks.stack_set import StackSetHook


def status(sim: Simulator) -> str | None:
    """Ground truth: the test stack set's status (None when awssim never had it)."""
    found = [s["status"] for s in sim.stacksets.state().values() if s["name"] == STACK_SET]
    return found[-1] if found else None


def instance_count(sim: Simulator) -> int:
    """Ground truth: how many stack instances the test stack set has."""
    return sum(
        len(s["instances"]) for s in sim.stacksets.state().values() if s["name"] == STACK_SET
    )


def deploy_sandbox(sim: Simulator, aws: AwsClients) -> str:
    """Start one CreateStackInstances over /Sandbox in the administration Region."""
    response = cfn(aws).create_stack_instances(
        StackSetName=STACK_SET,
        DeploymentTargets={"OrganizationalUnitIds": [sim.org.ou_ids_by_path["/Sandbox"]]},
        Regions=[REGION],
        CallAs=CALL_AS,
    )
    return str(response["OperationId"])


@pytest.fixture
def hook(aws_conn: str) -> StackSetHook:
    """The hook as the retire's delete_stack_set task makes it: in the stack set's Region."""
    return StackSetHook(aws_conn_id=aws_conn, region_name=REGION)


def test_an_empty_stack_set_is_deleted_and_a_second_delete_finds_it_absent(
    sim: Simulator, aws: AwsClients, hook: StackSetHook
) -> None:
    create_stack_set(aws, template_ref(aws, "1.0.0"))

    assert hook.delete_stack_set(STACK_SET, call_as=CALL_AS) == "deleted"

    assert status(sim) == "DELETED"
    assert hook.describe_stack_set(STACK_SET, call_as=CALL_AS) is None
    assert hook.delete_stack_set(STACK_SET, call_as=CALL_AS) == "absent"
    accepted = sim.ledger.calls(service="cloudformation", operation="DeleteStackSet", ok=True)
    assert [call.params.get("CallAs") for call in accepted] == [CALL_AS]


def test_a_stack_set_never_created_is_absent(sim: Simulator, hook: StackSetHook) -> None:
    assert hook.delete_stack_set(STACK_SET, call_as=CALL_AS) == "absent"
    assert status(sim) is None


def test_a_stack_set_with_instances_is_not_empty_and_stays(
    sim: Simulator, aws: AwsClients, hook: StackSetHook
) -> None:
    create_stack_set(aws, template_ref(aws, "1.0.0"))
    deploy_sandbox(sim, aws)
    sim.settle()
    instances = instance_count(sim)
    assert instances > 0

    assert hook.delete_stack_set(STACK_SET, call_as=CALL_AS) == "not_empty"

    assert status(sim) == "ACTIVE"
    assert instance_count(sim) == instances


def test_a_running_operation_raises_operation_in_progress_until_it_ends(
    sim: Simulator, aws: AwsClients, hook: StackSetHook
) -> None:
    create_stack_set(aws, template_ref(aws, "1.0.0"))
    deploy_sandbox(sim, aws)
    sim.settle()
    deleting = cfn(aws).delete_stack_instances(
        StackSetName=STACK_SET,
        DeploymentTargets={"OrganizationalUnitIds": [sim.org.ou_ids_by_path["/Sandbox"]]},
        Regions=[REGION],
        RetainStacks=False,
        CallAs=CALL_AS,
    )["OperationId"]

    with pytest.raises(OperationInProgress) as raised:
        hook.delete_stack_set(STACK_SET, call_as=CALL_AS)

    assert raised.value.stack_set_name == STACK_SET
    assert status(sim) == "ACTIVE"
    sim.settle()
    operation = hook.describe_operation(STACK_SET, deleting, call_as=CALL_AS)
    assert operation is not None
    assert operation["Status"] == "SUCCEEDED"
    assert hook.delete_stack_set(STACK_SET, call_as=CALL_AS) == "deleted"
    assert status(sim) == "DELETED"
