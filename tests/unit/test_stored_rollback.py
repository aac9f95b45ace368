"""The rollback's record bounded for XCom, with the whole record stored apart: the bounded
shape round-trips, counts what the whole record lists, stays the same size however many
targets the rollout had, and gives the report what the whole record gives."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.report import FAILED_TARGETS_CAP
from distributor_rollout.core.rollback_actions import DeleteInstances, UninstallInstances
from distributor_rollout.core.rollback_record import (
    ActionOutcome,
    KeptTarget,
    NarrowedDelete,
    RollbackRecord,
    UntouchedNodes,
)
from distributor_rollout.core.rollback_standing import StackSetStanding
from distributor_rollout.core.run_outcome import RunFacts, WaveRecords, build_report
from distributor_rollout.core.run_view import _actions
from distributor_rollout.core.stored_rollback import (
    SAMPLE_SIZE,
    StoredRollback,
    read_document,
    rollback_key,
    stored_document,
)

pytestmark = pytest.mark.unit

REFERENCE = StoredRollback("artifacts", "runs/s/manual__1/rollback.json", "ab" * 32)
SCOPE = {"wave": "prod", "ou_ids": ("ou-1",), "regions": ("us-east-1", "eu-west-1")}


def account(n: int) -> str:
    return f"{n:012d}"


def target(n: int) -> str:
    return f"{account(n // 2)}/{('us-east-1', 'eu-west-1')[n % 2]}"


def names(count: int, start: int = 0) -> tuple[str, ...]:
    return tuple(sorted(target(n) for n in range(start, start + count)))


def record_of(
    restored: int, failed: int, kept: int, untouched: int, accounts: int = 1
) -> RollbackRecord:
    """A finished record with lists this long (disjoint targets, sorted as the task
    writes them) and actions reaching ``accounts`` accounts."""
    uninstall = UninstallInstances(
        **SCOPE, accounts=tuple(account(n) for n in range(max(accounts, 1)))
    )
    delete = DeleteInstances(**SCOPE, accounts=uninstall.accounts)
    deleted = names(restored)
    return RollbackRecord(
        "uninstall",
        (
            ActionOutcome.ran(uninstall, "op-0", frozenset(), "done"),
            ActionOutcome(
                delete,
                "op-1",
                "failed",
                "part",
                NarrowedDelete(("op-1n1",), deleted, names(failed)),
            ),
        ),
        restored=deleted,
        failed=names(failed, start=10**6),
        kept=tuple(KeptTarget(name, 1) for name in names(kept, start=2 * 10**6)),
        untouched=tuple(UntouchedNodes(name, 3) for name in names(untouched, start=3 * 10**6)),
        note="a note",
        stack_set=StackSetStanding("P 1.0.1", "P 1.0.1", 4, 4),
    )


def json_round_trip(value: dict[str, Any]) -> dict[str, Any]:
    loaded = json.loads(json.dumps(value))
    assert isinstance(loaded, dict)
    return loaded


_lengths = st.integers(0, 3 * SAMPLE_SIZE)


def test_the_sample_holds_as_many_targets_as_the_report_shows() -> None:
    assert SAMPLE_SIZE >= FAILED_TARGETS_CAP


@settings(max_examples=40, deadline=None)
@given(st.tuples(_lengths, _lengths, _lengths, _lengths, _lengths), st.booleans())
def test_a_bounded_record_round_trips_and_counts_the_whole_lists(
    lengths: tuple[int, int, int, int, int], stored: bool
) -> None:
    restored, failed, kept, untouched, accounts = lengths
    whole = record_of(restored, failed, kept, untouched, accounts)
    bounded = whole.bounded(REFERENCE if stored else None)

    assert RollbackRecord.from_dict(json_round_trip(bounded.to_dict())) == bounded
    # Bounding twice changes nothing.
    assert bounded.bounded() == bounded
    # Every count is the whole record's, every list its first entries.
    counts = ("restored_count", "failed_count", "kept_count", "untouched_count")
    for name in (*counts, "untouched_nodes", "actions_run"):
        assert getattr(bounded, name) == getattr(whole, name), name
    assert (bounded.restored_count, bounded.failed_count) == (restored, failed)
    assert (bounded.kept_count, bounded.untouched_count) == (kept, untouched)
    assert bounded.untouched_nodes == 3 * untouched
    for listed in ("restored", "failed", "kept", "untouched"):
        entries = getattr(bounded, listed)
        assert entries == getattr(whole, listed)[:SAMPLE_SIZE]
        assert len(entries) <= SAMPLE_SIZE
    data = bounded.to_dict()
    assert (data["restored_total"], data["failed_total"]) == (restored, failed)
    assert (data["kept_total"], data["untouched_total"]) == (kept, untouched)
    assert data["untouched_nodes"] == 3 * untouched
    assert data.get("stored") == (REFERENCE.to_dict() if stored else None)
    # The actions keep their lines, counts and narrowed totals, with their lists cut.
    for full, cut in zip(whole.actions, bounded.actions, strict=True):
        assert cut.describe() == full.describe()
        assert cut.action is not None
        assert full.action is not None
        assert len(cut.action.accounts) <= SAMPLE_SIZE
        assert (cut.status, cut.operation_id, cut.summary) == (
            full.status,
            full.operation_id,
            full.summary,
        )
        if full.narrowed is not None:
            assert cut.narrowed is not None
            assert cut.narrowed.deleted_count == len(full.narrowed.deleted)
            assert cut.narrowed.lost_count == len(full.narrowed.lost)
            assert len(cut.narrowed.deleted) <= SAMPLE_SIZE
    assert bounded.incomplete_message() == whole.incomplete_message()


@settings(max_examples=20, deadline=None)
@given(_lengths, _lengths, _lengths, _lengths)
def test_a_record_of_short_lists_stays_whole(
    restored: int, failed: int, kept: int, untouched: int
) -> None:
    short = [min(n, SAMPLE_SIZE) for n in (restored, failed, kept, untouched)]
    whole = record_of(*short, accounts=SAMPLE_SIZE)
    assert whole.bounded() == whole
    assert whole.bounded(REFERENCE) == RollbackRecord(
        **{
            **{name: getattr(whole, name) for name in RollbackRecord.__dataclass_fields__},
            "stored": REFERENCE,
        }
    )


def xcom_text(size: int) -> str:
    record = record_of(size, size, size, size, accounts=size)
    return json.dumps(record.bounded(REFERENCE).to_dict())


@settings(max_examples=8, deadline=None)
@given(st.integers(SAMPLE_SIZE + 1, 20_000))
def test_the_xcom_is_the_same_size_however_many_targets_the_rollback_had(size: int) -> None:
    smallest, xcom = xcom_text(SAMPLE_SIZE + 1), xcom_text(size)
    # The same text but for the numbers in it (the counts, and the targets' fixed-width
    # account ids), and no more than their extra digits longer: 11 counts, 3 more digits.
    assert re.sub(r"\d+", "0", xcom) == re.sub(r"\d+", "0", smallest)
    assert len(smallest) <= len(xcom) <= len(smallest) + 11 * 3
    # While the whole record grows with every target.
    whole = len(json.dumps(record_of(size, size, size, size, size).to_dict()))
    assert whole > 25 * 4 * size


def test_a_bounded_record_gives_the_report_the_whole_ones_content(
    example_plan_path: Path,
) -> None:
    plan: Plan = load_plan(example_plan_path)
    failed_wave = WaveRecords(
        name="canary", states={"deploy": "success", "wait_operation": "failed"}
    )

    def report(rollback: dict[str, Any]) -> Any:
        facts = RunFacts(
            run_id="manual__1",
            dag_id="distributor_rollout__examplepackage",
            plan=plan,
            version="1.0.2",
            dry_run=False,
            started_at="2026-11-27T09:00:00+00:00",
            finished_at="2026-11-27T09:05:00+00:00",
            waves=(failed_wave,),
            rollback_state="failed",
            rollback=json_round_trip(rollback),
        )
        return build_report(facts)

    for size in (3, SAMPLE_SIZE, 20_000):
        whole = record_of(size, size, size, size, accounts=size)
        from_whole = report(whole.to_dict())
        from_bounded = report(whole.bounded(REFERENCE).to_dict())
        assert from_bounded == from_whole, size
        rollback = from_bounded.rollback
        assert rollback is not None
        assert (rollback.restored_targets, rollback.failed_targets_total) == (size, size)
        assert (rollback.kept_targets_total, rollback.untouched_nodes) == (size, 3 * size)
        assert len(rollback.failed_targets) == min(size, FAILED_TARGETS_CAP)
        assert rollback.failed_targets[0].target == whole.failed[0]


def test_records_written_before_the_totals_read_as_whole() -> None:
    older = {
        "mode": "uninstall",
        "actions": [{"kind": "uninstall", **SCOPE, "accounts": ["000000000001"]}],
        "restored": list(names(70)),
        "failed": ["1/us-east-1"],
        "kept": [{"target": "2/us-east-1", "offline_nodes": 1}],
        "untouched": [{"target": "3/us-east-1", "nodes": 4}],
        "complete": True,
        "stack_set": None,
    }
    record = RollbackRecord.from_dict(json_round_trip(older))
    assert (record.totals, record.stored) == (None, None)
    assert (record.restored_count, record.failed_count, record.kept_count) == (70, 1, 1)
    assert (record.untouched_count, record.untouched_nodes) == (1, 4)
    # Bounded now, it counts the same.
    assert record.bounded().restored_count == 70
    assert len(record.bounded().restored) == SAMPLE_SIZE


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("failed_total", -1),
        ("failed_total", "many"),
        ("failed_total", True),
        ("restored_total", 0),  # fewer than it lists
        ("untouched_nodes", 1),  # fewer than its listed targets' nodes
    ],
)
def test_totals_that_cannot_be_counts_are_refused(key: str, value: object) -> None:
    data = {
        "restored": ["a"],
        "untouched": [{"target": "b", "nodes": 2}],
        key: value,
    }
    with pytest.raises(ValidationError, match="not a count"):
        RollbackRecord.from_dict(data)


def test_the_stored_document_is_the_whole_record_under_its_digest() -> None:
    whole = record_of(120, 80, 60, 55, accounts=90)
    key = rollback_key("ExamplePackage-rollout", "manual__1")
    assert key == "runs/ExamplePackage-rollout/manual__1/rollback.json"
    document, reference = stored_document(whole.to_dict(), "artifacts", key)

    assert (reference.bucket, reference.key) == ("artifacts", key)
    assert reference.sha256 == hashlib.sha256(document.encode()).hexdigest()
    assert RollbackRecord.from_dict(read_document(document, reference)) == whole
    assert StoredRollback.from_dict(json_round_trip(reference.to_dict())) == reference
    bounded = whole.bounded(reference)
    assert RollbackRecord.from_dict(json_round_trip(bounded.to_dict())).stored == reference
    for broken in ("not json", "[1, 2]"):
        with pytest.raises(ValidationError, match="not a rollback record"):
            read_document(broken, reference)
    with pytest.raises(ValidationError, match="sha256"):
        StoredRollback.from_dict({"bucket": "b", "key": "k"})


def test_the_rollout_tab_describes_each_action_over_all_its_accounts() -> None:
    full = record_of(1, 0, 0, 0, accounts=3 * SAMPLE_SIZE)
    cut = RollbackRecord.from_dict(json_round_trip(full.bounded(REFERENCE).to_dict()))

    shown = [action["description"] for action in _actions(cut, lambda _: None)]

    assert shown == [outcome.describe() for outcome in full.actions]
    assert all(f"{3 * SAMPLE_SIZE} accounts" in line for line in shown)
