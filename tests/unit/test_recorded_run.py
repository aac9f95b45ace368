"""The Rollout tab's own run records: the plan ``validate`` records for the run (exactly the
plan the run runs, read back through the plan model) and an approval's question as
Airflow's human-in-the-loop keeps it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.standard.operators.hitl import ApprovalOperator
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.params import apply_params
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.recorded_run import (
    APPROVE_OPTION,
    REJECT_OPTION,
    ApprovalRequest,
    RecordedPlan,
    recorded_plan,
)
from distributor_rollout.core.run_policy import ManualRunPolicy

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PACKAGES_ROOT = REPO / "include" / "packages"


@pytest.fixture(scope="module")
def plan(example_plan_path: Path) -> Plan:
    return load_plan(example_plan_path)


def _permissive() -> Plan:
    """The example plan with a ``manual_runs`` policy that lets every param through."""
    plan = load_plan(REPO / "include" / "rollouts" / "examplepackage.yaml")
    policy = ManualRunPolicy(
        waves="any",
        gates="any",
        skip_approvals=True,
        rollback_modes=["previous_version", "uninstall", "none"],
    )
    return plan.model_copy(update={"manual_runs": policy})


PERMISSIVE = _permissive()
_params = st.fixed_dictionaries(
    {},
    optional={
        "version": st.sampled_from(["1.0.2", "2.0.0", "3.1.4-rc1"]),
        "source": st.sampled_from(["examplepackage", ""]),
        "waves": st.sampled_from([["canary"], ["canary", "prod"], ["nonprod"], []]),
        "dry_run": st.booleans(),
        "gate_threshold_percent": st.floats(0, 100) | st.integers(0, 100),
        "gate_timeout": st.sampled_from(["10m", "2h", 900, ""]),
        "gate_bake": st.sampled_from(["0", "5m", 30, ""]),
        "skip_approvals": st.booleans(),
        "rollback_mode": st.sampled_from(["previous_version", "uninstall", "none", ""]),
    },
)


@given(_params)
def test_the_recorded_plan_reads_back_as_the_plan_the_run_runs(params: dict[str, Any]) -> None:
    config = apply_params(PERMISSIVE, params, packages_root=PACKAGES_ROOT)
    recorded = RecordedPlan(config.plan, dry_run=config.dry_run)
    # XCom keeps JSON: the record is read back from its text.
    back = RecordedPlan.from_dict(json.loads(json.dumps(recorded.to_dict())))
    assert back == recorded
    assert back.plan.digest() == config.plan.digest()  # the report's plan_digest


def test_the_record_holds_the_plan_and_dry_run_only(plan: Plan) -> None:
    record = RecordedPlan(plan).to_dict()
    assert set(record) == {"plan", "dry_run"}
    assert record["dry_run"] is False
    assert record["plan"]["package"]["source"] == plan.package.source


def test_a_damaged_record_names_every_field_that_is_wrong(plan: Plan) -> None:
    data = RecordedPlan(plan).to_dict()
    data["plan"]["waves"][0]["regions"] = ["mars-north-1"]
    data["plan"]["package"].pop("name")
    data["dry_run"] = "yes"
    data["extra"] = 1
    with pytest.raises(ValidationError) as raised:
        RecordedPlan.from_dict(data)
    assert "validate's run_plan XCom" in raised.value.subject
    paths = [problem.path for problem in raised.value.problems]
    assert paths == ["extra", "plan.package.name", "plan.waves[0].regions[0]", "dry_run"]
    with pytest.raises(ValidationError, match=r"plan: not a plan \(got 'oops'"):
        RecordedPlan.from_dict({"plan": "oops", "dry_run": False})


def test_a_run_reads_its_recorded_plan_none_or_an_error(plan: Plan) -> None:
    record = RecordedPlan(plan, dry_run=True).to_dict()
    stored: dict[tuple[str, str], Any] = {("validate", "run_plan"): record}
    pull = lambda task_id, key: stored.get((task_id, key))  # noqa: E731
    assert recorded_plan(pull) == RecordedPlan(plan, dry_run=True)
    assert recorded_plan(lambda task_id, key: None) is None
    with pytest.raises(ValidationError, match="not a record"):
        recorded_plan(lambda task_id, key: ["not", "a", "record"])


def test_the_answers_are_airflows_approval_options() -> None:
    assert (APPROVE_OPTION, REJECT_OPTION) == (ApprovalOperator.APPROVE, ApprovalOperator.REJECT)


def test_an_approval_question_reads_the_hitl_detail_columns() -> None:
    at = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    rejected = ApprovalRequest.from_detail(
        assignees=[{"id": "7", "name": "Ada"}, {"id": "8", "name": ""}],
        chosen_options=[REJECT_OPTION],
        responded_by={"id": "9", "name": "Grace"},
        responded_at=at,
    )
    assert rejected == ApprovalRequest(
        assignees=("Ada", "8"),
        chosen=(REJECT_OPTION,),
        responded_by="Grace",
        responded_at="2026-11-27T09:30:00+00:00",
    )
    assert (rejected.answered, rejected.rejected) == (True, True)
    pending = ApprovalRequest.from_detail(
        assignees=None, chosen_options=None, responded_by=None, responded_at=None
    )
    assert pending == ApprovalRequest()
    assert (pending.answered, pending.rejected) == (False, False)
    approved = ApprovalRequest(chosen=(APPROVE_OPTION,), responded_at=at.isoformat())
    assert (approved.answered, approved.rejected) == (True, False)


_junk = st.none() | st.integers() | st.text(max_size=5) | st.lists(st.text(max_size=3), max_size=2)


@given(
    assignees=_junk | st.lists(st.dictionaries(st.sampled_from(["id", "name"]), _junk)),
    chosen_options=_junk,
    responded_by=_junk | st.dictionaries(st.sampled_from(["id", "name"]), _junk),
    responded_at=_junk,
)
def test_an_approval_question_reads_any_columns_without_failing(
    assignees: Any, chosen_options: Any, responded_by: Any, responded_at: Any
) -> None:
    request = ApprovalRequest.from_detail(
        assignees=assignees,
        chosen_options=chosen_options,
        responded_by=responded_by,
        responded_at=responded_at,
    )
    assert all(isinstance(name, str) and name for name in request.assignees)
    assert request.answered == (responded_at is not None)
