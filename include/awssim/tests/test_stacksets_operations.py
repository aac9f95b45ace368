"""awssim StackSets: operations run on simulated time as AWS runs them (preferences, stops)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiobotocore.session
import pytest
from stacksets_support import (
    AS_ADMIN,
    KEEP,
    NONPROD_ACTIVE,
    NONPROD_SUSPENDED,
    admin_cfn,
    create_service_managed,
    instances,
    operation,
    parameter_template,
    results,
    watch,
)

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from awssim.stacksets.model import RegionRun
from awssim.stacksets.preferences import Preferences


def _nonprod(sim: Simulator) -> dict[str, Any]:
    return {"OrganizationalUnitIds": [sim.org.ou_ids_by_path["/NonProd"]]}


def test_percentages_round_down_and_strict_concurrency_shrinks_with_failures() -> None:
    prefs = Preferences.parse({"MaxConcurrentPercentage": 30, "FailureTolerancePercentage": 30})
    assert (prefs.max_concurrent(10), prefs.tolerance(10)) == (3, 3)
    assert (prefs.max_concurrent(3), prefs.tolerance(3)) == (1, 0)  # at least one at a time
    assert Preferences.parse(None).max_concurrent(50) == 1
    assert prefs.ordered_regions(["a", "b"]) == ["a", "b"]
    ordered = Preferences.parse({"RegionOrder": ["eu-west-1", "ap-south-1"]})
    assert ordered.ordered_regions(["us-east-1", "eu-west-1"]) == ["eu-west-1", "us-east-1"]

    run = RegionRun("us-east-1", [], max_concurrent=5, tolerance=2, strict=True)
    seen = []
    for failures in range(3):
        run.failures = failures
        seen.append(run.concurrency())
    assert seen == [3, 2, 1]
    soft = RegionRun("us-east-1", [], max_concurrent=5, tolerance=2, strict=False)
    soft.failures = 2
    assert soft.concurrency() == 5


def test_an_operation_runs_asynchronously_then_succeeds(aws: AwsClients, sim: Simulator) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "async")
    op_id = cfn.create_stack_instances(
        StackSetName="async",
        DeploymentTargets=_nonprod(sim),
        Regions=["us-east-1"],
        OperationId="first-deploy",
        **AS_ADMIN,
    )["OperationId"]
    assert op_id == "first-deploy"
    described = operation(cfn, "async", op_id)
    assert described["Status"] == "RUNNING"
    assert described["Action"] == "CREATE"
    assert "EndTimestamp" not in described
    pending = instances(cfn, "async")[(NONPROD_ACTIVE[1], "us-east-1")]
    assert pending["Status"] == "OUTDATED"
    assert pending["StackInstanceStatus"]["DetailedStatus"] == "PENDING"
    assert "StackId" not in pending

    timeline = watch(sim, cfn, "async", op_id)
    assert timeline.status == "SUCCEEDED"
    done = operation(cfn, "async", op_id)
    assert done["EndTimestamp"] > done["CreationTimestamp"]
    assert done["StatusDetails"]["FailedStackInstancesCount"] == 0
    summaries = cfn.list_stack_set_operations(StackSetName="async", **AS_ADMIN)["Summaries"]
    assert [(s["OperationId"], s["Status"]) for s in summaries] == [(op_id, "SUCCEEDED")]


def test_max_concurrent_count_one_deploys_one_account_after_another(
    aws: AwsClients, sim: Simulator
) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "serial")
    op_id = cfn.create_stack_instances(
        StackSetName="serial",
        DeploymentTargets=_nonprod(sim),
        Regions=["us-east-1"],
        OperationPreferences={"MaxConcurrentCount": 1},
        **AS_ADMIN,
    )["OperationId"]
    timeline = watch(sim, cfn, "serial", op_id)
    assert timeline.status == "SUCCEEDED"
    assert timeline.max_running == 1
    keys = [(account, "us-east-1") for account in NONPROD_ACTIVE]
    for earlier, later in itertools.pairwise(keys):
        assert timeline.started[later] >= timeline.finished[earlier]
    # The suspended account is skipped, not failed, and takes no time.
    skipped = results(cfn, "serial", op_id)[(NONPROD_SUSPENDED, "us-east-1")]
    assert skipped["Status"] == "SUCCEEDED"
    instance = instances(cfn, "serial")[(NONPROD_SUSPENDED, "us-east-1")]
    assert instance["StackInstanceStatus"]["DetailedStatus"] == "SKIPPED_SUSPENDED_ACCOUNT"
    assert instance["Status"] == "OUTDATED"
    assert "suspended" in instance["StatusReason"]


def test_sequential_regions_follow_region_order(aws: AwsClients, sim: Simulator) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "ordered")
    op_id = cfn.create_stack_instances(
        StackSetName="ordered",
        DeploymentTargets=_nonprod(sim),
        Regions=["us-east-1", "us-west-2", "eu-west-1"],
        OperationPreferences={
            "MaxConcurrentPercentage": 100,
            "RegionOrder": ["eu-west-1"],
            "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
        },
        **AS_ADMIN,
    )["OperationId"]
    timeline = watch(sim, cfn, "ordered", op_id)
    assert timeline.status == "SUCCEEDED"

    def span(region: str) -> tuple[float, float]:
        keys = [(account, region) for account in NONPROD_ACTIVE]
        return min(timeline.started[k] for k in keys), max(timeline.finished[k] for k in keys)

    eu, east, west = span("eu-west-1"), span("us-east-1"), span("us-west-2")
    assert eu[1] <= east[0]
    assert east[1] <= west[0]
    # 100% of 5 targets: every account of a Region at once (the suspended one takes no time).
    assert timeline.max_running == 4


def test_strict_tolerance_caps_concurrency_at_tolerance_plus_one(
    aws: AwsClients, sim: Simulator
) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "strict")
    op_id = cfn.create_stack_instances(
        StackSetName="strict",
        DeploymentTargets=_nonprod(sim),
        Regions=["us-east-1"],
        OperationPreferences={"MaxConcurrentPercentage": 100},  # tolerance 0: one at a time
        **AS_ADMIN,
    )["OperationId"]
    assert watch(sim, cfn, "strict", op_id).max_running == 1


def test_parallel_regions_run_at_once(aws: AwsClients, sim: Simulator) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "parallel")
    op_id = cfn.create_stack_instances(
        StackSetName="parallel",
        DeploymentTargets=_nonprod(sim),
        Regions=["us-east-1", "us-west-2"],
        OperationPreferences={"RegionConcurrencyType": "PARALLEL", "MaxConcurrentCount": 1},
        **AS_ADMIN,
    )["OperationId"]
    first = results(cfn, "parallel", op_id)
    running = sorted(key for key, r in first.items() if r["Status"] == "RUNNING")
    assert running == [(NONPROD_ACTIVE[0], "us-east-1"), (NONPROD_ACTIVE[0], "us-west-2")]
    assert watch(sim, cfn, "parallel", op_id).max_running == 2


def test_failures_beyond_tolerance_fail_the_operation_and_cancel_the_rest(
    aws: AwsClients, sim: Simulator
) -> None:
    sim.set_scenario("stackset-failure")  # 2 NonProd accounts fail once in us-west-2
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "tolerance")
    op_id = cfn.create_stack_instances(
        StackSetName="tolerance",
        DeploymentTargets=_nonprod(sim),
        Regions=["us-east-1", "us-west-2", "eu-west-1"],
        OperationPreferences={"FailureToleranceCount": 1, "MaxConcurrentCount": 4},
        **AS_ADMIN,
    )["OperationId"]
    timeline = watch(sim, cfn, "tolerance", op_id)
    assert timeline.status == "FAILED"
    described = operation(cfn, "tolerance", op_id)
    assert described["StatusDetails"]["FailedStackInstancesCount"] == 2
    assert "us-west-2" in described["StatusReason"]
    # STRICT_FAILURE_TOLERANCE: at most tolerance + 1 = 2 accounts at once.
    assert timeline.max_running == 2

    final = results(cfn, "tolerance", op_id)
    failed = sorted(k for k, r in final.items() if r["Status"] == "FAILED")
    assert failed == [("300333333334", "us-west-2"), ("300555555556", "us-west-2")]
    assert "Rate exceeded" in final[("300333333334", "us-west-2")]["StatusReason"]
    assert {final[(a, "us-east-1")]["Status"] for a in NONPROD_ACTIVE} == {"SUCCEEDED"}
    eu = {final[(a, "eu-west-1")]["Status"] for a in NONPROD_ACTIVE}
    assert eu == {"CANCELLED"}
    assert "failure tolerance" in final[(NONPROD_ACTIVE[0], "eu-west-1")]["StatusReason"]
    listed = instances(cfn, "tolerance")
    failed_instance = listed[("300333333334", "us-west-2")]
    assert failed_instance["Status"] == "OUTDATED"
    assert failed_instance["StackInstanceStatus"]["DetailedStatus"] == "FAILED"
    cancelled = listed[(NONPROD_ACTIVE[0], "eu-west-1")]
    assert cancelled["StackInstanceStatus"]["DetailedStatus"] == "CANCELLED"

    # Each target fails once: retrying with a new operation id succeeds.
    retry = cfn.create_stack_instances(
        StackSetName="tolerance",
        DeploymentTargets=_nonprod(sim),
        Regions=["us-west-2", "eu-west-1"],
        OperationPreferences={"MaxConcurrentCount": 4, "FailureToleranceCount": 3},
        **AS_ADMIN,
    )["OperationId"]
    assert watch(sim, cfn, "tolerance", retry).status == "SUCCEEDED"
    statuses = {
        i["Status"] for key, i in instances(cfn, "tolerance").items() if key[0] != NONPROD_SUSPENDED
    }
    assert statuses == {"CURRENT"}


def test_soft_failure_tolerance_keeps_full_concurrency(aws: AwsClients, sim: Simulator) -> None:
    sim.set_scenario("stackset-failure")
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "soft")
    op_id = cfn.create_stack_instances(
        StackSetName="soft",
        DeploymentTargets=_nonprod(sim),
        Regions=["us-west-2"],
        OperationPreferences={
            "FailureTolerancePercentage": 50,  # 50% of 5 targets rounds down to 2
            "MaxConcurrentCount": 4,
            "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
        },
        **AS_ADMIN,
    )["OperationId"]
    timeline = watch(sim, cfn, "soft", op_id)
    assert timeline.max_running == 4
    assert timeline.status == "SUCCEEDED"  # 2 failures are within a tolerance of 2
    assert operation(cfn, "soft", op_id)["StatusDetails"]["FailedStackInstancesCount"] == 2


def test_stop_lets_running_targets_finish_and_cancels_the_rest(
    aws: AwsClients, sim: Simulator
) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "stoppable")
    op_id = cfn.create_stack_instances(
        StackSetName="stoppable",
        DeploymentTargets=_nonprod(sim),
        Regions=["us-east-1", "us-west-2"],
        OperationPreferences={"MaxConcurrentCount": 1},
        **AS_ADMIN,
    )["OperationId"]
    sim.advance(5)
    cfn.stop_stack_set_operation(StackSetName="stoppable", OperationId=op_id, **AS_ADMIN)
    assert operation(cfn, "stoppable", op_id)["Status"] == "STOPPING"
    with pytest.raises(cfn.exceptions.OperationInProgressException):
        cfn.update_stack_set(
            StackSetName="stoppable", UsePreviousTemplate=True, Parameters=KEEP, **AS_ADMIN
        )
    sim.settle()
    assert operation(cfn, "stoppable", op_id)["Status"] == "STOPPED"
    final = results(cfn, "stoppable", op_id)
    assert final[(NONPROD_ACTIVE[0], "us-east-1")]["Status"] == "SUCCEEDED"
    cancelled = [k for k, r in final.items() if r["Status"] == "CANCELLED"]
    assert len(cancelled) == 7  # 3 accounts left in us-east-1, 4 in us-west-2
    with pytest.raises(cfn.exceptions.InvalidOperationException):
        cfn.stop_stack_set_operation(StackSetName="stoppable", OperationId=op_id, **AS_ADMIN)


def test_one_operation_at_a_time_unless_managed_execution_queues(
    aws: AwsClients, sim: Simulator
) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "single")
    single = cfn.create_stack_instances(
        StackSetName="single", DeploymentTargets=_nonprod(sim), Regions=["us-east-1"], **AS_ADMIN
    )["OperationId"]
    with pytest.raises(cfn.exceptions.OperationInProgressException) as busy:
        cfn.create_stack_instances(
            StackSetName="single",
            DeploymentTargets=_nonprod(sim),
            Regions=["us-west-2"],
            **AS_ADMIN,
        )
    assert "Another Operation on StackSet arn:aws:cloudformation:us-east-1:222222222222:" in str(
        busy.value
    )
    assert watch(sim, cfn, "single", single).status == "SUCCEEDED"

    create_service_managed(
        cfn,
        "queued",
        TemplateBody=parameter_template("/rollout/queued"),
        ManagedExecution={"Active": True},
    )
    ops = [
        cfn.create_stack_instances(
            StackSetName="queued",
            DeploymentTargets=_nonprod(sim),
            Regions=[region],
            OperationPreferences={"MaxConcurrentCount": 4, "FailureToleranceCount": 3},
            **AS_ADMIN,
        )["OperationId"]
        for region in ("us-east-1", "us-west-2", "eu-west-1")
    ]
    assert [operation(cfn, "queued", op)["Status"] for op in ops] == [
        "RUNNING",
        "QUEUED",
        "QUEUED",
    ]
    assert results(cfn, "queued", ops[1])[(NONPROD_ACTIVE[0], "us-west-2")]["Status"] == "PENDING"
    first = watch(sim, cfn, "queued", ops[0])
    assert first.status == "SUCCEEDED"
    assert operation(cfn, "queued", ops[1])["Status"] == "RUNNING"
    assert operation(cfn, "queued", ops[2])["Status"] == "QUEUED"
    with pytest.raises(cfn.exceptions.InvalidOperationException):
        cfn.update_stack_set(
            StackSetName="queued",
            UsePreviousTemplate=True,
            Parameters=KEEP,
            ManagedExecution={"Active": False},
            **AS_ADMIN,
        )
    second = watch(sim, cfn, "queued", ops[1])
    assert min(second.started.values()) >= max(first.finished.values())
    assert watch(sim, cfn, "queued", ops[2]).status == "SUCCEEDED"
    assert len(instances(cfn, "queued")) == 15

    # A queued operation stops at once, with every target CANCELLED.
    running = cfn.update_stack_set(
        StackSetName="queued", UsePreviousTemplate=True, Parameters=KEEP, **AS_ADMIN
    )
    waiting = cfn.update_stack_set(
        StackSetName="queued", UsePreviousTemplate=True, Parameters=KEEP, **AS_ADMIN
    )
    cfn.stop_stack_set_operation(
        StackSetName="queued", OperationId=waiting["OperationId"], **AS_ADMIN
    )
    assert operation(cfn, "queued", waiting["OperationId"])["Status"] == "STOPPED"
    stopped = results(cfn, "queued", waiting["OperationId"]).values()
    assert {r["Status"] for r in stopped} == {"CANCELLED"}
    assert watch(sim, cfn, "queued", running["OperationId"]).status == "SUCCEEDED"


def test_aiobotocore_polls_an_operation_to_completion(aws: AwsClients, sim: Simulator) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "polled")
    op_id = cfn.create_stack_instances(
        StackSetName="polled",
        DeploymentTargets=_nonprod(sim),
        Regions=["us-east-1"],
        OperationPreferences={"MaxConcurrentCount": 4, "FailureToleranceCount": 3},
        **AS_ADMIN,
    )["OperationId"]

    async def poll() -> list[str]:
        session = aiobotocore.session.get_session()
        async with session.create_client(
            "cloudformation",
            endpoint_url=aws.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="y",
        ) as client:
            seen: list[str] = []
            while not seen or seen[-1] == "RUNNING":
                answer = await client.describe_stack_set_operation(
                    StackSetName="polled", OperationId=op_id, CallAs="DELEGATED_ADMIN"
                )
                seen.append(answer["StackSetOperation"]["Status"])
                sim.advance(20)
            return seen

    seen = asyncio.run(poll())
    assert seen[0] == "RUNNING"
    assert seen[-1] == "SUCCEEDED"


def test_an_account_pending_closure_is_skipped_as_a_suspended_one(
    aws: AwsClients, sim: Simulator
) -> None:
    # The field org's /Suspended OU: two SUSPENDED accounts and one PENDING_CLOSURE.
    sim.load("field", None, speed=1.0, seed=0)
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "closing")
    op_id = cfn.create_stack_instances(
        StackSetName="closing",
        DeploymentTargets={"OrganizationalUnitIds": [sim.org.ou_ids_by_path["/Suspended"]]},
        Regions=["us-east-1"],
        **AS_ADMIN,
    )["OperationId"]
    assert watch(sim, cfn, "closing", op_id).status == "SUCCEEDED"
    statuses = {account.id: account.status for _path, account in sim.org_spec.accounts()}
    found = instances(cfn, "closing")
    assert {statuses[account] for account, _region in found} == {"SUSPENDED", "PENDING_CLOSURE"}
    assert len(found) == 3
    for instance in found.values():
        assert instance["StackInstanceStatus"]["DetailedStatus"] == "SKIPPED_SUSPENDED_ACCOUNT"
        assert instance["Status"] == "OUTDATED"
