"""What the tasks framing a run decide: validate's summary, the stack set's gap to the
release, the approval's question, finalize's announcement, and where the report goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from distributor_rollout.core.params import RunConfig
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.report import RunReport
from distributor_rollout.core.report_delivery import (
    delivery,
    notification,
    report_key,
    rollout_succeeded,
)
from distributor_rollout.core.run_outcome import WaveRecords
from distributor_rollout.core.run_steps import (
    announcement_skipped,
    approval_question,
    release_announcement,
    release_not_held,
    rolled_back_refusal,
    run_summary,
)

pytestmark = pytest.mark.unit

TOPIC = "arn:aws:sns:eu-west-1:111111111111:rollouts"
PASSED = {"deploy": "success", "wait_operation": "success", "wait_compliance": "success"}


@pytest.fixture(scope="module")
def plan(example_plan_path: Path) -> Plan:
    return load_plan(example_plan_path)


def config(plan: Plan, waves: tuple[str, ...] | None = None, **changes: object) -> RunConfig:
    names = waves if waves is not None else tuple(wave.name for wave in plan.waves)
    base: dict[str, object] = {"dry_run": False, "skip_approvals": False, "overrides": ()}
    return RunConfig(plan, names, **{**base, **changes})  # type: ignore[arg-type]


def test_validate_returns_the_runs_shape(plan: Plan) -> None:
    summary = run_summary(config(plan, dry_run=True, overrides=("version",)))
    assert summary == {
        "version": plan.package.version,
        "waves": [wave.name for wave in plan.waves],
        "dry_run": True,
        "skip_approvals": False,
        "overrides": ["version"],
    }


def test_a_stack_set_on_another_version_says_which(plan: Plan) -> None:
    described = {"Parameters": [{"ParameterKey": "Version", "ParameterValue": "0.9.0"}]}
    reason = release_not_held(config(plan), described)
    assert reason.startswith(f"stack set {plan.stack_set.name} runs Version=0.9.0, not this")
    assert "Version=?" in release_not_held(config(plan), {})


def test_the_approval_question_shows_each_waves_decision_and_compliance(plan: Plan) -> None:
    gate = {
        "decision": {
            "state": "PASS",
            "reason": "ok",
            "compliant_percent": 97.25,
            "totals": {"expected": 4, "success": 4, "failed": 0, "pending": 0},
            "passing_since": 0.0,
        },
        "decided_at": "2026-12-01T09:00:00+00:00",
    }
    waves = [
        WaveRecords(name="canary", states=PASSED, gate=gate),
        WaveRecords(name="prod", states={}),
    ]
    question = approval_question(config(plan), "canary", waves)
    package = plan.package
    assert question.subject == f"Approve {package.name} {package.version} for wave canary?"
    assert "| canary | passed | 97.2% |" in question.body
    assert "| prod | not_run | - |" in question.body
    assert question.body.endswith("Approve to go on; Reject rolls back this run's changes.")


def test_finalize_announces_only_a_full_real_run(plan: Plan) -> None:
    full = config(plan)
    assert announcement_skipped(full) is None
    assert announcement_skipped(config(plan, dry_run=True)) == "dry run: no release to announce"
    first = plan.waves[0].name
    partial = announcement_skipped(config(plan, (first,)))
    assert partial is not None
    assert partial.endswith("were not in this run: no release to announce")
    assert release_announcement(full, "run-1") == {
        "package": plan.package.name,
        "version": plan.package.version,
        "waves": list(full.waves),
        "run_id": "run-1",
    }
    assert "run run-1 was rolled back (operation op-9)" in rolled_back_refusal("run-1", "op-9")


def report(plan: Plan, status: str) -> RunReport:
    return RunReport(
        run_id="run-1",
        dag_id="dag",
        plan_name=plan.name,
        plan_digest=plan.digest(),
        package_name=plan.package.name,
        package_version=plan.package.version,
        started_at=None,
        status=status,  # type: ignore[arg-type]
        summary="what happened",
    )


def test_the_plan_says_which_statuses_are_sent(plan: Plan) -> None:
    notifying = plan.model_copy(
        update={"notify": plan.notify.model_copy(update={"sns_topic_arn": TOPIC})}
    )
    failed = notification(notifying, report(plan, "failed"))
    assert failed is not None
    assert (failed.topic_arn, failed.region, failed.event) == (TOPIC, "eu-west-1", "failure")
    assert failed.message == "what happened"
    assert failed.subject.startswith("Rollout failed: ")
    assert len(failed.subject) <= 100
    # The default events: failure and rollback, not success; never a dry run.
    assert notification(notifying, report(plan, "succeeded")) is None
    assert notification(notifying, report(plan, "dry_run")) is None
    assert (
        notification(
            plan.model_copy(
                update={"notify": plan.notify.model_copy(update={"sns_topic_arn": None})}
            ),
            report(plan, "failed"),
        )
        is None
    )


def test_where_the_report_goes(plan: Plan) -> None:
    assert report_key("pkg", "run-1") == "rollouts/pkg/run-1.json"
    assert rollout_succeeded(report(plan, "dry_run"))
    assert not rollout_succeeded(report(plan, "rolled_back"))
    nothing = delivery(changed_nothing=True, stopped_in_validate=True)
    assert (nothing.publish, nothing.upload) == (False, False)
    invalid = delivery(changed_nothing=False, stopped_in_validate=True)
    assert (invalid.publish, invalid.upload) == (True, False)
    assert invalid.note is not None
    normal = delivery(changed_nothing=False, stopped_in_validate=False)
    assert (normal.publish, normal.upload, normal.note) == (True, True, None)
