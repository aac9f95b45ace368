"""A wave's change record kept in the artifacts bucket, and the small reference to it that
crosses XCom.

The change record lists every stack instance a wave created or updated
(``core.changes.WaveChanges``): about a hundred bytes per account/Region, so hundreds of
kilobytes for a wave of thousands of accounts, which XCom should not carry (issue 14: XComs
hold summaries; an S3 object holds the detail). The deploy task stores it as JSON under
``changes_key`` in the artifacts bucket (beside the run's release record) and returns a
``StoredChanges``: where it is, the sha256 of its bytes (the rollback acts on the object
only if what it reads hashes to it) and how many instances it holds of each kind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from distributor_rollout.core.artifacts import sha256_hex, stored_object_problems
from distributor_rollout.core.changes import WaveChanges
from distributor_rollout.core.errors import ValidationError, wrong


@dataclass(frozen=True, slots=True)
class StoredChanges:
    """Where a wave's change record is stored, its digest and its counts."""

    bucket: str
    key: str
    sha256: str
    created: int = 0
    updated: int = 0

    @property
    def changed(self) -> int:
        """How many instances the wave changed."""
        return self.created + self.updated

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "bucket": self.bucket,
            "key": self.key,
            "sha256": self.sha256,
            "created": self.created,
            "updated": self.updated,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoredChanges:
        """The inverse of ``to_dict``."""
        problems = stored_object_problems(data, "stored record")
        if problems:
            raise ValidationError("stored changes", problems)
        return cls(
            bucket=data["bucket"],
            key=data["key"],
            sha256=data["sha256"],
            created=int(data.get("created") or 0),
            updated=int(data.get("updated") or 0),
        )


def changes_key(stack_set_name: str, run_tag: str, wave: str) -> str:
    """``runs/<stack set>/<run tag>/waves/<wave>/changes.json``, beside the run's release
    record (``core.release.release_key``; ``run_tag`` is ``core.release.run_tag_value``)."""
    return f"runs/{stack_set_name}/{run_tag}/waves/{wave}/changes.json"


def changes_document(changes: WaveChanges) -> str:
    """The record as stored: compact JSON of ``WaveChanges.to_dict()``."""
    return json.dumps(changes.to_dict(), sort_keys=True, separators=(",", ":"))


def stored(changes: WaveChanges, bucket: str, key: str) -> tuple[str, StoredChanges]:
    """The document to store for ``changes`` at ``bucket``/``key``, and its reference."""
    document = changes_document(changes)
    kinds = [change.kind for change in changes.changes]
    return document, StoredChanges(
        bucket=bucket,
        key=key,
        sha256=sha256_hex(document),
        created=kinds.count("created"),
        updated=kinds.count("updated"),
    )


def read_changes(document: str, reference: StoredChanges) -> WaveChanges:
    """The record a stored document holds (checked against its reference's counts; the
    caller has checked its digest)."""
    try:
        changes = WaveChanges.from_dict(json.loads(document))
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise ValidationError(
            "stored changes",
            [wrong("document", f"not a change record ({error})", reference.key, "WaveChanges")],
        ) from None
    if len(changes.changes) != reference.changed:
        raise ValidationError(
            "stored changes",
            [
                wrong(
                    "document",
                    f"holds {len(changes.changes)} changes, the reference says {reference.changed}",
                    reference.key,
                    "the record the deploy task stored",
                )
            ],
        )
    return changes
