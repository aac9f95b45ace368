"""The rollback task's records: what it did, how far it got, and its delete decisions."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.operation_ids import rollback_operation_id
from distributor_rollout.core.rollback import RollbackPlan
from distributor_rollout.core.rollback_actions import (
    DeleteInstances,
    RestoreTemplate,
    RollbackAction,
    UninstallByTemplate,
    UninstallInstances,
)
from distributor_rollout.core.rollback_record import (
    ActionOutcome,
    DeleteDecision,
    DeleteJournal,
    KeptTarget,
    NarrowedDelete,
    RollbackProgress,
    RollbackRecord,
    UntouchedNodes,
    decisions_from_dict,
    decisions_to_dict,
)
from distributor_rollout.core.rollback_standing import StackSetStanding
from distributor_rollout.core.targets import Target
from distributor_rollout.core.uninstall import UninstallCheck

pytestmark = pytest.mark.unit

RUN = "manual__2026-12-01T00:00:00+00:00"
A = Target("000000000001", "us-east-1")
B = Target("000000000002", "us-east-1")
C = Target("000000000003", "us-east-1")
SCOPE = {"wave": "canary", "ou_ids": ("ou-1",), "regions": ("us-east-1",)}
TEMPLATE = TemplateRef("s3://bucket/t.yaml", {"Version": "1.0.0"})


def uninstall(*accounts: str) -> UninstallInstances:
    return UninstallInstances(**SCOPE, accounts=accounts)


def delete(*accounts: str) -> DeleteInstances:
    return DeleteInstances(**SCOPE, accounts=accounts)


def json_round_trip(value: object) -> object:
    return json.loads(json.dumps(value))


# --- Strategies --------------------------------------------------------------------------

_accounts = st.lists(
    st.integers(1, 9).map(lambda n: f"{n:012d}"), min_size=1, max_size=3, unique=True
).map(lambda a: tuple(sorted(a)))
_regions = st.lists(
    st.sampled_from(["us-east-1", "eu-west-1"]), min_size=1, max_size=2, unique=True
).map(tuple)
_template = st.builds(
    TemplateRef,
    st.sampled_from(["s3://b/1.yaml", "s3://b/2.yaml"]),
    st.dictionaries(st.sampled_from(["Version", "Action"]), st.text(max_size=5), max_size=2),
)


def _scoped(cls: type, **extra: st.SearchStrategy[object]) -> st.SearchStrategy[RollbackAction]:
    return st.builds(
        cls,
        wave=st.sampled_from(["canary", "prod"]),
        ou_ids=st.just(("ou-1",)),
        accounts=_accounts,
        regions=_regions,
        **extra,
    )


_actions = st.one_of(
    _scoped(UninstallInstances),
    _scoped(DeleteInstances),
    _scoped(RestoreTemplate, template=_template),
    _scoped(UninstallByTemplate, template=_template),
)
_names = st.lists(st.sampled_from([str(A), str(B), str(C)]), unique=True, max_size=3).map(tuple)
_outcomes = st.builds(
    ActionOutcome,
    action=_actions,
    operation_id=st.text(max_size=10),
    status=st.sampled_from(["succeeded", "failed", "pending", "skipped"]),
    summary=st.text(max_size=20),
    narrowed=st.none()
    | st.builds(NarrowedDelete, st.lists(st.text(max_size=5)).map(tuple), _names, _names),
)
_records = st.builds(
    RollbackRecord,
    mode=st.sampled_from(["previous_version", "uninstall", "none"]),
    actions=st.lists(_outcomes, max_size=4).map(tuple),
    restored=_names,
    failed=_names,
    kept=st.lists(st.builds(KeptTarget, st.sampled_from([str(A), str(B)]), st.integers(0, 9))).map(
        tuple
    ),
    untouched=st.lists(
        st.builds(UntouchedNodes, st.sampled_from([str(A), str(B)]), st.integers(0, 9))
    ).map(tuple),
    note=st.text(max_size=20),
    complete=st.booleans(),
    stack_set=st.none()
    | st.builds(
        StackSetStanding,
        holds=st.text(max_size=10),
        before=st.text(max_size=10),
        instances=st.integers(0, 9),
        current=st.integers(0, 9),
        untouched_outdated=_names,
        untouched_outdated_total=st.integers(0, 9),
        restored_outdated=_names,
        restored_outdated_total=st.integers(0, 9),
    ),
)
_target_sets = st.frozensets(st.sampled_from([A, B, C]))
_counts = st.dictionaries(st.sampled_from([A, B, C]), st.integers(0, 9), max_size=3)
_decisions = st.builds(DeleteDecision, _target_sets, _target_sets, _counts, _counts)


@given(_records)
def test_a_rollback_record_round_trips_through_json(record: RollbackRecord) -> None:
    data = json_round_trip(record.to_dict())
    assert isinstance(data, dict)
    assert RollbackRecord.from_dict(data) == record


@given(_decisions)
def test_a_delete_decision_round_trips_through_json(decision: DeleteDecision) -> None:
    data = json_round_trip(decision.to_dict())
    assert isinstance(data, dict)
    assert DeleteDecision.from_dict(data) == decision


@given(st.dictionaries(st.integers(0, 9), _decisions, max_size=3), st.integers(1, 5))
def test_delete_decisions_round_trip_as_xcom_and_as_the_journal(
    decisions: dict[int, DeleteDecision], max_tries: int
) -> None:
    assert decisions_from_dict(json_round_trip(decisions_to_dict(decisions))) == decisions  # type: ignore[arg-type]
    journal = DeleteJournal(max_tries, decisions)
    assert DeleteJournal.from_dict(json_round_trip(journal.to_dict())) == journal  # type: ignore[arg-type]
    assert journal.resumes(max_tries)
    # A cleared task (a higher max_tries) decides afresh.
    assert not journal.resumes(max_tries + 2)


def test_the_record_keeps_the_json_shape_the_report_and_demo_read() -> None:
    outcome = ActionOutcome.ran(uninstall(A.account_id), "op-1", frozenset(), "1 succeeded")
    record = RollbackRecord("uninstall", (outcome,), restored=(str(A),))

    assert record.to_dict() == {
        "mode": "uninstall",
        "note": "",
        "actions": [
            {
                "kind": "uninstall",
                "wave": "canary",
                "ou_ids": ["ou-1"],
                "accounts": [A.account_id],
                "regions": ["us-east-1"],
                "operation_id": "op-1",
                "status": "succeeded",
                "summary": "1 succeeded",
            }
        ],
        "restored": [str(A)],
        "restored_total": 1,
        "failed": [],
        "failed_total": 0,
        "kept": [],
        "kept_total": 0,
        "untouched": [],
        "untouched_total": 0,
        "untouched_nodes": 0,
        "complete": True,
        "stack_set": None,
    }


def test_where_the_stack_set_stands_is_read_back_and_absent_or_damaged_reads_as_none() -> None:
    standing = StackSetStanding(
        "ExamplePackage 1.0.2", "ExamplePackage 1.0.2", 3, 1, (str(B), str(C)), 2
    )
    record = RollbackRecord("previous_version", restored=(str(A),), stack_set=standing)
    data = json_round_trip(record.to_dict())
    assert isinstance(data, dict)
    assert data["stack_set"]["untouched_outdated"] == [str(B), str(C)]
    assert RollbackRecord.from_dict(data).stack_set == standing
    # Records from before the standing was recorded, and damaged ones, still read.
    for older in ({k: v for k, v in data.items() if k != "stack_set"}, {**data, "stack_set": {}}):
        assert RollbackRecord.from_dict(older) == RollbackRecord(
            "previous_version", restored=(str(A),)
        )
    damaged = {**data, "stack_set": {"holds": "x", "instances": "many", "current": 0}}
    assert RollbackRecord.from_dict(damaged).stack_set is None


def test_partial_records_read_with_what_they_say() -> None:
    record = RollbackRecord.from_dict(
        {"actions": [{}, {"kind": "restore", "status": "pending"}], "failed": ["x"]}
    )
    assert record.mode is None
    assert [(o.action, o.status) for o in record.actions] == [(None, None), (None, "pending")]
    assert record.actions_run == 1
    assert record.failed == ("x",)
    assert record.complete is True
    with pytest.raises(ValidationError, match="unknown rollback mode"):
        RollbackRecord.from_dict({"mode": "sideways"})
    with pytest.raises(ValidationError, match="unknown status"):
        ActionOutcome.from_dict({"status": "maybe"})


def test_a_narrowed_delete_names_what_it_deleted_and_what_stayed() -> None:
    action = delete(A.account_id, B.account_id, C.account_id)
    outcome = ActionOutcome.narrowed_delete(
        action, ["op-n1", "op-n2"], {A, B}, {B}, ["part 1", "part 2"]
    )
    assert (outcome.operation_id, outcome.status) == ("op-n1", "failed")
    assert outcome.summary == "part 1; part 2; 1 targets' instances kept"
    data = outcome.to_dict()
    assert (data["operation_ids"], data["deleted"], data["lost"]) == (
        ["op-n1", "op-n2"],
        [str(A), str(B)],
        [str(B)],
    )
    kept_all = ActionOutcome.all_kept(action, "op-3")
    assert (kept_all.status, kept_all.summary) == ("skipped", "kept all 3 targets' instances")
    assert kept_all.to_dict()["lost"] == []


def test_a_delete_keeps_failed_unconfirmed_and_offline_targets() -> None:
    check = UninstallCheck(unconfirmed=frozenset({A}), kept={C: 2}, untouched={B: 1})
    decision = DeleteDecision.after_wait({A, B, C}, check, uninstall_failed={B})

    assert decision.delete == frozenset()
    # B's earlier uninstall failed: it stays, not restored, like an unconfirmed one.
    assert decision.unconfirmed == {A, B}
    assert decision.kept == {C: 2}
    assert decision.untouched == {B: 1}
    assert decision.narrows({A, B, C})
    assert not DeleteDecision.whole({A, B}).narrows({A, B})
    # A target kept for offline nodes is not also unconfirmed.
    kept_wins = DeleteDecision.after_wait({C}, UninstallCheck(frozenset({C}), {C: 1}), set())
    assert (kept_wins.delete, kept_wins.unconfirmed, kept_wins.kept) == (
        frozenset(),
        frozenset(),
        {C: 1},
    )


def test_progress_records_an_unfinished_then_a_finished_rollback() -> None:
    actions = (
        uninstall(A.account_id, B.account_id, C.account_id),
        delete(A.account_id, B.account_id),
    )
    plan = RollbackPlan("uninstall", actions)
    progress = RollbackProgress().ran(
        ActionOutcome.ran(actions[0], "op-0", {B}, "2 of 3"), frozenset({B})
    )
    assert progress.uninstall_failed == {B}

    unfinished = progress.unfinished(plan, RUN)
    assert unfinished.complete is False
    assert [o.status for o in unfinished.actions] == ["failed", "pending"]
    assert unfinished.actions[1].operation_id == rollback_operation_id(RUN, 1)
    assert unfinished.restored == ()
    assert unfinished.failed == (str(A), str(B), str(C))

    decision = DeleteDecision.after_wait(
        actions[1].targets(),
        UninstallCheck(kept={A: 1}, untouched={C: 4}),
        progress.uninstall_failed,
    )
    progress = progress.decided(decision)
    progress = progress.ran(
        ActionOutcome.narrowed_delete(actions[1], ["op-1"], decision.delete, frozenset(), ["x"]),
        frozenset(),
    )
    progress = progress.confirmed(UninstallCheck(unconfirmed=frozenset({C})))
    finished = progress.finished(plan)

    assert finished.complete is True
    assert finished.failed == (str(B), str(C))
    assert finished.kept == (KeptTarget(str(A), 1),)
    assert finished.restored == ()
    assert finished.untouched == (UntouchedNodes(str(C), 4),)
    message = finished.incomplete_message()
    assert message is not None
    assert message.startswith("rollback (uninstall) could not restore 2 targets: ")
    assert RollbackRecord("none").incomplete_message() is None


def test_a_failed_target_is_not_also_reported_kept() -> None:
    plan = RollbackPlan("uninstall", (uninstall(A.account_id, B.account_id),))
    progress = RollbackProgress(kept={A: 1, B: 2}).ran(
        ActionOutcome.ran(plan.actions[0], "op", {A}, ""), frozenset({A})
    )
    finished = progress.finished(plan)
    assert finished.kept == (KeptTarget(str(B), 2),)
    assert finished.failed == (str(A),)
    assert finished.restored == ()
