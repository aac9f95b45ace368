"""What the rollback task reads: its templated arguments (the release, the deploy tasks'
results, and from those what each wave changed: inline, or stored in the artifacts bucket
by the deploy task), the delete decisions it recorded in an earlier try, and where the
stack set stands once it is done.

The decisions are kept twice: in the task state store (``core.rollback_record.
DeleteJournal``), which survives an Airflow retry, and under ``steps.NARROWING_XCOM_KEY``
for this try's resumes and for anyone reading the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from distributor_rollout.core.changes import WaveChanges
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.params import RunConfig
from distributor_rollout.core.release import Release, stack_set_parameters
from distributor_rollout.core.rollback_record import (
    DeleteDecision,
    DeleteJournal,
    decisions_from_dict,
    decisions_to_dict,
)
from distributor_rollout.core.rollback_standing import (
    InstanceStatus,
    StackSetStanding,
    stack_set_standing,
)
from distributor_rollout.core.steps import NARROWING_XCOM_KEY
from distributor_rollout.core.stored_changes import StoredChanges, read_changes
from distributor_rollout.core.targets import Target
from distributor_rollout.core.wave_result import WaveResult
from distributor_rollout.hooks.errors import AwsRolloutError, ConfigurationError
from distributor_rollout.hooks.package_bucket import PackageBucketHook
from distributor_rollout.hooks.stack_set import StackSetHook
from distributor_rollout.operators.task_log import TaskLog
from distributor_rollout.task_store import max_tries, state_store
from distributor_rollout.templated import rendered_list, rendered_mapping


def release_mapping(value: object) -> Mapping[str, Any]:
    """The ``release`` argument as a mapping (a template may have rendered it to text)."""
    try:
        release = rendered_mapping(value)
    except TypeError:
        release = None
    if release is None:
        raise ConfigurationError(f"release must be a Release.to_dict() (got {value!r})")
    return release


def wave_results(value: object) -> list[WaveResult | None]:
    """The ``wave_results`` argument read, one per plan wave (None where a wave has none;
    a template may have rendered the list to text)."""
    if not value:
        return []
    results = rendered_list(value)
    if results is None or not all(r is None or isinstance(r, Mapping) for r in results):
        raise ConfigurationError(
            "wave_results must be the deploy tasks' results in plan order, None where "
            f"there is none (got {value!r})"
        )
    return [WaveResult.from_dict(result) if result else None for result in results]


def wave_changes(
    results: Sequence[WaveResult | None],
    config: RunConfig,
    recover: Callable[[str], WaveChanges],
    log: TaskLog,
    load: Callable[[StoredChanges], WaveChanges | None] = lambda _: None,
) -> list[WaveChanges]:
    """What the waves changed, from their deploy results in plan order. A result whose
    changes are stored is read back with ``load`` (None: unreadable). A wave this run
    deploys whose task failed after starting an operation left no result, and a stored
    record that cannot be read is no record: ``recover`` rebuilds its changes from this
    run's operations for it (given the wave's name)."""
    waves: list[WaveChanges] = []
    for index, result in enumerate(results):
        recorded = _recorded(result, load, log) if result is not None else None
        if recorded is not None:
            waves.append(recorded)
            continue
        spec = config.plan.waves[index] if index < len(config.plan.waves) else None
        if spec is None or not config.runs_wave(spec.name):
            continue
        recovered = recover(spec.name)
        if recovered.changes:
            log.warning(
                "Wave %s left no record; rebuilt from its operations: %d targets changed",
                spec.name,
                len(recovered.changes),
            )
            waves.append(recovered)
    return waves


def _recorded(
    result: WaveResult, load: Callable[[StoredChanges], WaveChanges | None], log: TaskLog
) -> WaveChanges | None:
    """The changes a deploy result records: inline, or stored and read back with ``load``
    (None, with a warning, when the stored record cannot be read)."""
    if result.stored_changes is None:
        return result.changes
    loaded = load(result.stored_changes)
    if loaded is None:
        log.warning(
            "Wave %s: its stored change record s3://%s/%s cannot be read; rebuilding it "
            "from its operations",
            result.wave,
            result.stored_changes.bucket,
            result.stored_changes.key,
        )
    return loaded


def read_stored_changes(
    s3: PackageBucketHook, reference: StoredChanges, log: TaskLog
) -> WaveChanges | None:
    """A wave's stored change record, read back and checked against the digest its deploy
    task recorded; None (with the reason logged) when it is missing, altered or unreadable:
    the rollback then trusts AWS's record of the operations instead."""
    try:
        document = s3.get_checked_text(reference.bucket, reference.key, sha256=reference.sha256)
        if document is None:
            log.warning("s3://%s/%s does not exist", reference.bucket, reference.key)
            return None
        return read_changes(document, reference)
    except (AwsRolloutError, BotoCoreError, ClientError, ValidationError) as error:
        log.warning("s3://%s/%s: %s", reference.bucket, reference.key, error)
        return None


def recorded_decisions(context: Any, task_id: str) -> dict[int, DeleteDecision]:
    """Delete decisions the task already recorded: in this try (a resume after a
    deferral), or in an earlier try Airflow retried (not one a person cleared)."""
    store = state_store(context)
    stored = store.get(NARROWING_XCOM_KEY) if store is not None else None
    if isinstance(stored, Mapping):
        try:
            journal = DeleteJournal.from_dict(stored)
        except (KeyError, TypeError, ValueError, ValidationError):
            journal = None  # another version's record, or damaged: not acted on
        if journal is not None and journal.resumes(max_tries(context)):
            return dict(journal.decisions)
    recorded = context["ti"].xcom_pull(task_ids=task_id, key=NARROWING_XCOM_KEY)
    return decisions_from_dict(recorded) if isinstance(recorded, Mapping) else {}


def record_decisions(context: Any, decisions: Mapping[int, DeleteDecision]) -> None:
    """Record the delete decisions before acting on them."""
    store = state_store(context)
    if store is not None:
        store.set(NARROWING_XCOM_KEY, DeleteJournal(max_tries(context), decisions).to_dict())
    context["ti"].xcom_push(key=NARROWING_XCOM_KEY, value=decisions_to_dict(decisions))


def read_standing(
    hook: StackSetHook,
    release: Release,
    *,
    changed: Set[Target],
    failed: Set[Target],
    log: TaskLog,
) -> StackSetStanding | None:
    """Where the stack set and its instances stand after the rollback of ``changed`` (of
    which ``failed`` were not restored): one ``DescribeStackSet`` and ``ListStackInstances``.
    None, with a warning, when AWS does not answer: the rollback is done, and a report
    without this is better than a rollback task failed after it restored everything."""
    try:
        described = hook.describe_stack_set(release.stack_set_name, call_as=release.call_as)
        summaries = hook.list_stack_instances(release.stack_set_name, call_as=release.call_as)
    except (AwsRolloutError, BotoCoreError, ClientError) as error:
        log.warning("Could not read the stack set's instances after the rollback: %s", error)
        return None
    if described is None:
        return None
    previous = release.previous.parameters if release.previous else None
    return stack_set_standing(
        stack_set_parameters(described),
        previous,
        [InstanceStatus.from_api(summary) for summary in summaries],
        changed=changed,
        failed=failed,
    )
