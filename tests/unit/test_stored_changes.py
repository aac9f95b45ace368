"""A wave's change record stored apart from XCom: the document, its reference, and the
deploy result that carries the reference instead of the record."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.changes import TargetChange, TemplateRef, WaveChanges
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.release import run_tag_value
from distributor_rollout.core.stored_changes import (
    StoredChanges,
    changes_document,
    changes_key,
    read_changes,
    stored,
)
from distributor_rollout.core.targets import Target
from distributor_rollout.core.wave_result import WaveResult

pytestmark = pytest.mark.unit

OU, ACCOUNT = "ou-abcd-12345678", "000000000001"
PREVIOUS = TemplateRef("https://b.s3.us-east-1.amazonaws.com/templates/s/0.yaml", {"Version": "1"})
_changes = st.builds(
    TargetChange,
    target=st.builds(
        Target,
        st.integers(1, 10**6).map(lambda n: f"{n:012d}"),
        st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2"]),
    ),
    ou_id=st.just("ou-abcd-12345678"),
    kind=st.just("updated"),
    previous=st.just(PREVIOUS),
) | st.builds(
    TargetChange,
    target=st.builds(
        Target, st.integers(1, 10**6).map(lambda n: f"{n:012d}"), st.just("us-west-2")
    ),
    ou_id=st.just("ou-abcd-87654321"),
    kind=st.just("created"),
)
_wave_changes = st.lists(_changes, max_size=30, unique_by=lambda c: c.target).map(
    lambda changes: WaveChanges("prod", tuple(changes))
)


@given(_wave_changes)
def test_a_stored_record_reads_back_as_it_was_written(changes: WaveChanges) -> None:
    document, reference = stored(changes, "artifacts", "runs/s/t/waves/prod/changes.json")

    assert reference.sha256 == hashlib.sha256(document.encode()).hexdigest()
    kinds = [change.kind for change in changes.changes]
    assert (reference.created, reference.updated) == (
        kinds.count("created"),
        kinds.count("updated"),
    )
    assert read_changes(document, reference) == changes
    assert StoredChanges.from_dict(json.loads(json.dumps(reference.to_dict()))) == reference


@given(_wave_changes)
def test_a_deploy_result_carries_the_reference_and_no_per_target_record(
    changes: WaveChanges,
) -> None:
    _, reference = stored(changes, "artifacts", "runs/s/t/waves/prod/changes.json")
    result = WaveResult("prod", changes, ("op-1",), targets=("000000000001/us-east-1",))

    kept = result.storing(reference)
    written = json.loads(json.dumps(kept.to_dict()))

    assert "changes" not in written
    assert written["stored_changes"] == reference.to_dict()
    assert WaveResult.from_dict(written) == kept
    assert kept.changes == WaveChanges("prod")
    # Its size does not depend on how many instances the wave changed.
    assert len(json.dumps(written)) < 600


def test_records_written_before_keep_their_inline_changes() -> None:
    changes = WaveChanges(
        "canary",
        (TargetChange(Target("000000000001", "us-east-1"), "ou-abcd-12345678", "created"),),
    )
    earlier = {"wave": "canary", "operations": ["op"], "changes": changes.to_dict()}

    result = WaveResult.from_dict(earlier)

    assert (result.changes, result.stored_changes) == (changes, None)


def test_a_document_that_does_not_match_its_reference_is_refused() -> None:
    changes = WaveChanges(
        "canary",
        (TargetChange(Target("000000000001", "us-east-1"), "ou-abcd-12345678", "created"),),
    )
    _, reference = stored(changes, "artifacts", "key")

    with pytest.raises(ValidationError, match="holds 0 changes, the reference says 1"):
        read_changes(changes_document(WaveChanges("canary")), reference)
    with pytest.raises(ValidationError, match="not a change record"):
        read_changes("[]", reference)
    with pytest.raises(ValidationError, match="sha256"):
        StoredChanges.from_dict({"bucket": "artifacts", "key": "key"})


def test_the_record_lives_beside_the_run_release() -> None:
    tag = run_tag_value("manual__2026-11-27T08:00:00+00:00")
    assert changes_key("distributor-pkg", tag, "prod") == (
        f"runs/distributor-pkg/{tag}/waves/prod/changes.json"
    )
