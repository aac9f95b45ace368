"""A wave's target list stored apart from XCom: the document, its reference, the deploy
result that keeps only a sample inline, and the Rollout tab's matrix built from that sample."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.changes import WaveChanges
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.run_outcome import WaveRecords
from distributor_rollout.core.stored_targets import (
    SAMPLE_SIZE,
    StoredTargets,
    read_targets,
    stored_targets,
    targets_key,
)
from distributor_rollout.core.targets import Target
from distributor_rollout.core.wave_matrix import wave_matrix
from distributor_rollout.core.wave_result import WaveResult

pytestmark = pytest.mark.unit

KEY = "runs/s/t/waves/prod/targets.json"
_targets = st.lists(
    st.builds(
        lambda n, region: f"{n:012d}/{region}",
        st.integers(1, 10**9),
        st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2"]),
    ),
    max_size=60,
)


@given(_targets)
def test_a_stored_list_reads_back_sorted_and_each_once(targets: list[str]) -> None:
    document, reference = stored_targets(targets, "artifacts", KEY)

    assert reference.sha256 == hashlib.sha256(document.encode()).hexdigest()
    assert reference.count == len(set(targets))
    assert [str(t) for t in read_targets(document, reference)] == sorted(set(targets))
    assert StoredTargets.from_dict(reference.to_dict()) == reference


@given(_targets)
def test_a_result_keeps_a_sample_and_the_count_whatever_the_wave(targets: list[str]) -> None:
    result = WaveResult("prod", WaveChanges("prod"), ("op-1",), targets=tuple(targets))
    _, reference = stored_targets(targets, "artifacts", KEY)

    stored = WaveResult.from_dict(result.storing_targets(reference).to_dict())

    assert stored.stored_targets == reference
    assert stored.targets == tuple(sorted(set(targets))[:SAMPLE_SIZE])
    assert stored.target_count == reference.count
    assert stored.complete == (reference.count <= SAMPLE_SIZE)


def test_the_xcom_stays_the_same_size_as_the_wave_grows() -> None:
    def size(accounts: int) -> int:
        targets = [f"{n:012d}/us-east-1" for n in range(1, accounts + 1)]
        _, reference = stored_targets(targets, "artifacts", KEY)
        result = WaveResult("prod", WaveChanges("prod"), targets=tuple(targets))
        return len(json.dumps(result.storing_targets(reference).to_dict()))

    # Only the two counts (the reference's and ``targets_total``) grow, by their digits.
    assert size(20_000) - size(100) == 2 * (len("20000") - len("100"))


def test_a_record_written_before_targets_were_stored_is_complete() -> None:
    old = {"wave": "prod", "operations": ["op-1"], "targets": ["111111111111/us-east-1"]}

    result = WaveResult.from_dict(old)

    assert result.complete
    assert result.target_count == 1
    assert result.stored_targets is None
    assert "targets_total" not in result.to_dict()


def test_a_dry_run_lists_a_sample_and_counts_them_all() -> None:
    targets = tuple(f"{n:012d}/us-east-1" for n in range(1, 51))

    result = WaveResult("prod", WaveChanges("prod"), targets=targets, dry_run=True).sampled()

    assert result.targets == targets[:SAMPLE_SIZE]
    assert result.to_dict()["targets_total"] == 50
    assert not WaveResult.from_dict(result.to_dict()).complete


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ('{"not": "a list"}', "not a target list"),
        ('["not a target"]', "not a target list"),
        ('["111111111111/us-east-1"]', "holds 1 targets, the reference says 2"),
    ],
)
def test_a_document_that_is_not_the_stored_list_is_refused(document: str, reason: str) -> None:
    reference = StoredTargets("artifacts", KEY, "0" * 64, 2)

    with pytest.raises(ValidationError, match=reason):
        read_targets(document, reference)


@pytest.mark.parametrize(
    ("field", "value"), [("bucket", ""), ("sha256", None), ("count", -1), ("count", True)]
)
def test_a_reference_names_its_bad_field(field: str, value: object) -> None:
    data = StoredTargets("artifacts", KEY, "0" * 64, 2).to_dict() | {field: value}

    with pytest.raises(ValidationError, match=field):
        StoredTargets.from_dict(data)


def test_the_key_sits_beside_the_change_record() -> None:
    assert targets_key("agents", "run-1", "prod") == "runs/agents/run-1/waves/prod/targets.json"


def test_a_stored_waves_matrix_shows_its_sample_and_every_failed_target() -> None:
    targets = [f"{n:012d}/us-east-1" for n in range(1, 101)]
    failed = "000000000100/us-east-1"  # sorts last: not in the sample
    _, reference = stored_targets(targets, "artifacts", KEY)
    deployed = WaveResult("prod", WaveChanges("prod"), ("op-1",), targets=tuple(targets))
    wave = WaveRecords(
        name="prod",
        states={"deploy": "success", "wait_operation": "failed"},
        deployed=deployed.storing_targets(reference).to_dict(),
        operation={
            "operations": {
                "op-1": {
                    "status": "FAILED",
                    "outcome": "failed",
                    "failed": [{"target": failed, "reason": "Internal Failure"}],
                }
            }
        },
    )

    matrix = wave_matrix(wave, None, operation_url=lambda _: None)

    assert matrix["cells"][0]["target"] == failed
    assert matrix["cells"][0]["reason"] == "Internal Failure"
    assert len(matrix["cells"]) == SAMPLE_SIZE + 1
    assert matrix["cells_total"] == 100
    assert matrix["failed"] == 1
    assert Target.parse(failed).account_id == matrix["accounts"][0]
