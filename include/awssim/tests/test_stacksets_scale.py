"""What keeps StackSets fast at thousands of instances: the next target to launch found
without rescanning, each template text parsed once, and list pages shaped a page at a time."""

from __future__ import annotations

import json

from moto.cloudformation.models import Stack
from stacksets_support import AS_ADMIN, SANDBOX, admin_cfn, create_service_managed

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from awssim.stacksets import template_cache
from awssim.stacksets.model import CANCELLED, PENDING, RUNNING, SUCCEEDED, RegionRun, Target


def _run(statuses: list[str]) -> RegionRun:
    targets = [
        Target(f"{index:012d}", "us-east-1", "", status=status)
        for index, status in enumerate(statuses)
    ]
    return RegionRun("us-east-1", targets, max_concurrent=2, tolerance=0, strict=False)


def test_the_next_pending_target_skips_those_already_started_or_settled() -> None:
    run = _run([SUCCEEDED, RUNNING, PENDING, CANCELLED, PENDING])

    assert run.next_pending() is run.targets[2]
    assert run.pending() == [run.targets[2], run.targets[4]]
    run.targets[2].status = RUNNING
    assert run.next_pending() is run.targets[4]
    run.targets[4].status = SUCCEEDED
    assert run.next_pending() is None
    assert run.pending() == []


def test_a_template_text_is_parsed_once_and_each_stack_gets_its_own_copy() -> None:
    body = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    template_cache.install()  # as the simulator does (idempotent)
    parses = template_cache.parse_count()

    first = Stack.parse_template(body)
    first["Resources"]["Topic"]["Type"] = "changed by its stack"
    second = Stack.parse_template(body)

    assert second == {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    assert second is not first
    assert template_cache.parse_count() == parses + 1


def test_instances_are_listed_page_by_page_in_order(aws: AwsClients, sim: Simulator) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "baseline")
    cfn.create_stack_instances(
        StackSetName="baseline",
        DeploymentTargets={"OrganizationalUnitIds": [sim.org.ou_ids_by_path["/Sandbox"]]},
        Regions=["us-east-1", "us-west-2", "eu-west-1"],
        **AS_ADMIN,
    )
    sim.settle()

    pages = [
        page["Summaries"]
        for page in cfn.get_paginator("list_stack_instances").paginate(
            StackSetName="baseline", PaginationConfig={"PageSize": 4}, **AS_ADMIN
        )
    ]

    assert [len(page) for page in pages] == [4, 2]
    listed = [(summary["Account"], summary["Region"]) for page in pages for summary in page]
    assert sorted(listed) == sorted(
        (account, region)
        for account in SANDBOX
        for region in ("us-east-1", "us-west-2", "eu-west-1")
    )
    assert len(set(listed)) == len(listed)
