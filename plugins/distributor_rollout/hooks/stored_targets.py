"""Read a wave's stored target list back from the artifacts bucket (``core.stored_targets``)."""

from __future__ import annotations

from distributor_rollout.core.stored_targets import StoredTargets, read_targets
from distributor_rollout.core.targets import Target
from distributor_rollout.hooks.errors import AwsRolloutError
from distributor_rollout.hooks.package_bucket import PackageBucketHook


class StoredTargetsMissing(AwsRolloutError):
    """A wave's stored target list is gone: the gate cannot know what to wait on."""


def read_stored_targets(s3: PackageBucketHook, reference: StoredTargets) -> tuple[Target, ...]:
    """The wave's targets, read and checked against the sha256 its deploy task recorded.

    Unlike the change record (which the rollback can rebuild from the run's operations), a
    missing or altered list is an error: the gate must gate exactly what the wave deployed,
    and a guess could pass a wave that was never checked. ``ArtifactDigestMismatch`` for an
    altered list, ``StoredTargetsMissing`` for a missing one, ``ValidationError`` for one
    that is not a list of ``reference.count`` targets.
    """
    document = s3.get_checked_text(reference.bucket, reference.key, sha256=reference.sha256)
    if document is None:
        raise StoredTargetsMissing(
            f"the wave's target list s3://{reference.bucket}/{reference.key} does not exist "
            "(its deploy task stored it; re-run the wave's deploy task to store it again)"
        )
    return read_targets(document, reference)
