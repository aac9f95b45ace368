"""A wave's target list kept in the artifacts bucket, and the small reference to it that
crosses XCom.

A wave's targets (every account/Region it deploys to) are what its compliance gate reads:
about 26 bytes each, so hundreds of kilobytes for a wave of thousands of accounts, which
XCom should not carry (issue 14: XComs hold summaries; an S3 object holds the detail). The
deploy task stores them as a JSON list under ``targets_key`` beside the wave's change record
(``core.stored_changes``) and returns a ``StoredTargets``: where they are, the sha256 of
the document's bytes (the gate reads the object only if it hashes to it) and how many
there are; the result keeps the first ``SAMPLE_SIZE`` inline for the Rollout tab's matrix
(``core.wave_result``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from distributor_rollout.core.artifacts import sha256_hex, stored_object_problems
from distributor_rollout.core.errors import ValidationError, wrong
from distributor_rollout.core.targets import Target

SAMPLE_SIZE = 20
"""Targets a deploy result names inline when the list is stored (the first, sorted)."""


@dataclass(frozen=True, slots=True)
class StoredTargets:
    """Where a wave's target list is stored, its digest and its length."""

    bucket: str
    key: str
    sha256: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "bucket": self.bucket,
            "key": self.key,
            "sha256": self.sha256,
            "count": self.count,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoredTargets:
        """The inverse of ``to_dict``."""
        problems = stored_object_problems(data, "stored list")
        count = data.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            problems.append(wrong("count", "not a count", count, "a whole number ≥ 0"))
        if problems:
            raise ValidationError("stored targets", problems)
        return cls(
            bucket=data["bucket"],
            key=data["key"],
            sha256=data["sha256"],
            count=int(count or 0),
        )


def targets_key(stack_set_name: str, run_tag: str, wave: str) -> str:
    """``runs/<stack set>/<run tag>/waves/<wave>/targets.json``, beside the wave's change
    record (``core.stored_changes.changes_key``)."""
    return f"runs/{stack_set_name}/{run_tag}/waves/{wave}/targets.json"


def stored_targets(targets: Sequence[str], bucket: str, key: str) -> tuple[str, StoredTargets]:
    """The document to store for ``targets`` (``account/region`` text) at ``bucket``/``key``
    (compact JSON, sorted, each once), and its reference."""
    ordered = sorted(set(targets))
    document = json.dumps(ordered, separators=(",", ":"))
    return document, StoredTargets(
        bucket=bucket,
        key=key,
        sha256=sha256_hex(document),
        count=len(ordered),
    )


def read_targets(document: str, reference: StoredTargets) -> tuple[Target, ...]:
    """The targets a stored document holds, parsed (the caller has checked its digest);
    ``ValidationError`` when it is not a list of targets or not as long as the reference
    says."""
    try:
        items = json.loads(document)
        if not isinstance(items, list):
            raise TypeError("not a list")
        targets = tuple(Target.parse(str(item)) for item in items)
    except (TypeError, ValueError, ValidationError) as error:
        expected = "a JSON list of 'account/region'"
        problem = wrong("document", f"not a target list ({error})", reference.key, expected)
        raise ValidationError("stored targets", [problem]) from None
    if len(targets) != reference.count:
        message = f"holds {len(targets)} targets, the reference says {reference.count}"
        problem = wrong("document", message, reference.key, "the list the deploy task stored")
        raise ValidationError("stored targets", [problem])
    return targets
