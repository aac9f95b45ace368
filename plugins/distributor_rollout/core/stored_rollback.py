"""The rollback's whole record kept in the artifacts bucket, and the small reference to it
that crosses XCom with a bounded copy of the record.

A rollback record (``core.rollback_record.RollbackRecord``) lists every account/Region the
rollback restored, failed to restore, kept for offline nodes or left untouched, and every
account each action reached: tens of bytes per target, so about a megabyte for a failed
rollout of 20,000 account/Regions, which XCom should not carry (issue 14: XComs hold
summaries; an S3 object holds the detail). The rollback task stores the whole record as
JSON under ``rollback_key`` in the artifacts bucket, beside the run's release record and
its waves' change records (``core.stored_changes``, ``core.stored_targets``), and pushes
``RollbackRecord.bounded(reference)``: every count, and only the first ``SAMPLE_SIZE`` of
each list, with a ``StoredRollback`` saying where the whole record is and the sha256 of its
bytes (whoever reads it back trusts it only if it hashes to that).

Nothing reads the stored record back to act on it: a retried rollback plans again from
the waves' change records and its recorded delete decisions, and rewrites the record. It
is there for people (and tools) who need every target; ``read_document`` checks one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from distributor_rollout.core.artifacts import sha256_hex, stored_object_problems
from distributor_rollout.core.errors import ValidationError, wrong

SAMPLE_SIZE = 50
"""Entries of each list a bounded record keeps inline (the first, sorted): as many as the
report shows (``core.report.FAILED_TARGETS_CAP``), so the report reads the same from the
bounded record as from the whole one."""


@dataclass(frozen=True, slots=True)
class StoredRollback:
    """Where the rollback's whole record is stored, and the sha256 of its bytes."""

    bucket: str
    key: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"bucket": self.bucket, "key": self.key, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoredRollback:
        """The inverse of ``to_dict``."""
        problems = stored_object_problems(data, "stored record")
        if problems:
            raise ValidationError("stored rollback record", problems)
        return cls(bucket=data["bucket"], key=data["key"], sha256=data["sha256"])


def rollback_key(stack_set_name: str, run_tag: str) -> str:
    """``runs/<stack set>/<run tag>/rollback.json``, beside the run's release record
    (``core.release.release_key``; ``run_tag`` is ``core.release.run_tag_value``) and its
    waves' records (``core.stored_changes.changes_key``)."""
    return f"runs/{stack_set_name}/{run_tag}/rollback.json"


def stored_document(record: Mapping[str, Any], bucket: str, key: str) -> tuple[str, StoredRollback]:
    """The document to store for a whole record (its ``to_dict()``) at ``bucket``/``key``:
    compact JSON, and its reference."""
    document = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return document, StoredRollback(bucket=bucket, key=key, sha256=sha256_hex(document))


def read_document(document: str, reference: StoredRollback) -> dict[str, Any]:
    """The record a stored document holds, as JSON (for ``RollbackRecord.from_dict``; the
    caller has checked its digest); ``ValidationError`` when it is not a JSON object."""
    try:
        data = json.loads(document)
    except ValueError as error:
        data = error
    if not isinstance(data, dict):
        problem = wrong(
            "document", f"not a rollback record ({data})", reference.key, "a JSON object"
        )
        raise ValidationError("stored rollback record", [problem])
    return data
