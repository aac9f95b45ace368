"""What the tasks that start StackSet operations share: waiting between calls (deferred or
polled), starting a call idempotently, and the run's release."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.sdk.exceptions import AirflowException

from distributor_rollout.core.artifacts import (
    object_location,
    template_digest,
    with_template_body,
)
from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.release import Release
from distributor_rollout.hooks.errors import (
    ConfigurationError,
    OperationIdExists,
    OperationInProgress,
    StackSetNotFound,
)
from distributor_rollout.hooks.package_bucket import PackageBucketHook
from distributor_rollout.hooks.stack_set import OperationWaitTimeout, StackSetHook
from distributor_rollout.triggers.deferral import fire_not_before
from distributor_rollout.triggers.stack_set import StackSetOperationTrigger

DEFAULT_WAIT_TIMEOUT = 6 * 3600
"""How long a task waits for operations between its own calls (a busy stack set can take
hours: a foreign operation over thousands of instances)."""


class StackSetOperatorBase(AwsBaseOperator[StackSetHook]):
    """Base of the tasks that start StackSet operations one after another.

    Between two calls the task waits for the operation in flight: deferred on
    ``StackSetOperationTrigger`` (the default, no worker slot held) or by polling. After a
    deferral the task resumes in ``execute_complete`` and decides again from what AWS
    reports, so every subclass must be able to pick up from any point.

    :param deferrable: wait in the triggerer (default) rather than by polling.
    :param poll_interval: seconds between two ``DescribeStackSetOperation`` polls.
    :param wait_timeout: seconds one wait may last before the task fails.
    """

    aws_hook_class = StackSetHook

    def __init__(
        self,
        *,
        deferrable: bool = True,
        poll_interval: float = 30.0,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self._refused_since: float | None = None
        self._checked_templates: dict[str, str] = {}

    def load_release(self, release: Mapping[str, Any] | Release) -> Release:
        """The run's release; the hook then works in the stack set's administration Region
        unless ``region_name`` says otherwise."""
        loaded = release if isinstance(release, Release) else Release.from_dict(release)
        # Before the first use of ``self.hook``, which is built once from region_name.
        self.region_name = self.region_name or loaded.region
        return loaded

    def stored_template(self, template: TemplateRef) -> str:
        """A stored template's text, read back from the artifacts bucket and checked
        against the sha256 its content address names (``ArtifactDigestMismatch``
        otherwise): the text a StackSets call may then pass as ``TemplateBody``."""
        bucket, key = object_location(template.template_url)
        s3 = self.artifacts_hook()
        text = s3.get_checked_text(bucket, key, sha256=template_digest(template.template_url))
        if text is None:
            raise ConfigurationError(
                f"template s3://{bucket}/{key} of this run's release is missing from the "
                "artifacts bucket; the prepare step stores it (clear it to store it again)"
            )
        return text

    def artifacts_hook(self) -> PackageBucketHook:
        """S3 in the stack set's Region, where the artifacts bucket is."""
        return PackageBucketHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    def check_templates(self, templates: Iterable[TemplateRef]) -> None:
        """Read and check every stored template a task's calls will pass (before the first
        call, so a changed one stops the task before it changes anything)."""
        for template in templates:
            if template.template_url not in self._checked_templates:
                text = self.stored_template(template)
                self._checked_templates[template.template_url] = text

    def checked_template(self, template: TemplateRef) -> str:
        """A stored template's checked text (read and checked once per task)."""
        self.check_templates([template])
        return self._checked_templates[template.template_url]

    def with_checked_template(self, request: dict[str, Any]) -> dict[str, Any]:
        """``request`` passing its template as the checked ``TemplateBody`` where it fits
        (``core.artifacts.with_template_body``); a template not checked yet is checked now."""
        url = request.get("TemplateURL")
        if isinstance(url, str) and url not in self._checked_templates:
            self.check_templates([TemplateRef(url)])
        return with_template_body(request, self._checked_templates)

    def describe_stack_set(self, release: Release) -> dict[str, Any]:
        """The stack set, or ``StackSetNotFound`` (before anything is changed)."""
        described = self.hook.describe_stack_set(release.stack_set_name, call_as=release.call_as)
        if described is None:
            raise StackSetNotFound(
                f"stack set {release.stack_set_name} does not exist in {self.region_name} "
                f"for CallAs={release.call_as}; the prepare step creates it"
            )
        return described

    def wait_for(self, context: Any, release: Release, operation_ids: Sequence[str]) -> None:
        """Return once the operations ended: defer (resuming in ``execute_complete``) or poll."""
        self.log.info("Waiting for %s on %s", ", ".join(operation_ids), release.stack_set_name)
        if self.deferrable:
            self.defer(
                trigger=StackSetOperationTrigger(
                    stack_set_name=release.stack_set_name,
                    operation_ids=list(operation_ids),
                    call_as=release.call_as,
                    region_name=self.region_name,
                    aws_conn_id=self.aws_conn_id,
                    poll_interval=self.poll_interval,
                    timeout=self.wait_timeout,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                    not_before=fire_not_before(),
                ),
                method_name="execute_complete",
            )
        self.hook.wait_for_operations(
            release.stack_set_name,
            operation_ids,
            call_as=release.call_as,
            poll_interval=self.poll_interval,
            timeout=self.wait_timeout,
        )

    @staticmethod
    def check_wait_event(event: Mapping[str, Any] | None) -> None:
        """Raise unless the trigger reports the operations ended (how they ended is judged
        by the caller, from AWS)."""
        if not event or "status" not in event:
            raise AirflowException(f"StackSet operation trigger sent no usable event: {event!r}")
        if event["status"] == "timeout":
            raise OperationWaitTimeout(str(event.get("message", "StackSet operations timed out")))
        if event["status"] != "success":
            raise AirflowException(f"waiting for StackSet operations failed: {event['message']}")

    def start(
        self, release: Release, api_call: str, operation_id: str, request: dict[str, Any]
    ) -> bool:
        """Start an operation; True if it is now this run's (started or adopted), False if
        another operation holds the stack set (decide again after a pause)."""
        self.log.info("%s %s on %s", api_call, operation_id, release.stack_set_name)
        try:
            self.hook.start_operation(
                api_call,
                release.stack_set_name,
                call_as=release.call_as,
                operation_id=operation_id,
                request=request,
            )
        except OperationIdExists:
            self.log.info("Operation %s already exists: adopting it", operation_id)
        except OperationInProgress:
            # Started between our look at the stack set and this call: look again shortly,
            # but not forever if the stack set stays busy with operations we cannot see.
            now = time.monotonic()
            self._refused_since = self._refused_since or now
            if now - self._refused_since > self.wait_timeout:
                raise
            self.log.info("Another operation started first; deciding again shortly")
            time.sleep(self.poll_interval)
            return False
        self._refused_since = None
        return True
