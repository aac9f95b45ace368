"""Where a run's report goes: the S3 key it is uploaded under, whether it is uploaded at
all, and the SNS message the plan asks for.

The report task (``operators.report``) builds the report (``core.run_outcome``) and then
follows these decisions; it only makes the calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from distributor_rollout.core.plan import NotifyEvent, Plan
from distributor_rollout.core.report import RunReport, RunStatus

NOTIFY_EVENT: dict[RunStatus, NotifyEvent] = {
    "succeeded": "success",
    "failed": "failure",
    "rollback_failed": "failure",
    "rolled_back": "rollback",
}
"""The plan's ``notify.events`` name for each run status that sends one."""
SNS_SUBJECT_LIMIT = 100
"""SNS refuses a subject longer than 100 characters."""


def report_key(package: str, run_id: str) -> str:
    """Where a run's report lives in the artifacts bucket."""
    return f"rollouts/{package}/{run_id}.json"


def rollout_succeeded(report: RunReport) -> bool:
    """Whether the run ends well (a dry run included): otherwise the report task fails."""
    return report.status in ("succeeded", "dry_run")


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the report task does with the report besides logging it and pushing it as
    XCom: ``publish`` (upload and notify) and, when publishing, ``upload``; ``note`` says
    why something is left out, for the log."""

    publish: bool
    upload: bool
    note: str | None = None


def delivery(*, changed_nothing: bool, stopped_in_validate: bool) -> Delivery:
    """Dry runs and "nothing to do" runs change nothing: only logged. A run that stopped
    in validate changed nothing either and has no release (nor a bucket to name), so its
    report is not uploaded, but its summary is still sent."""
    if changed_nothing:
        return Delivery(False, False, "Nothing changed in this run: the report is not uploaded")
    if stopped_in_validate:
        return Delivery(
            True,
            False,
            "The run stopped in validate and changed nothing: the report is not uploaded "
            "(it is in this log and in XCom)",
        )
    return Delivery(True, True)


@dataclass(frozen=True, slots=True)
class Notification:
    """One SNS message: the topic, its own Region, the subject and the text."""

    topic_arn: str
    region: str
    subject: str
    message: str
    event: NotifyEvent


def notification(plan: Plan, report: RunReport) -> Notification | None:
    """The message the plan asks for on this report's status, or None."""
    topic = plan.notify.sns_topic_arn
    event = NOTIFY_EVENT.get(report.status)
    if topic is None or event is None or event not in plan.notify.events:
        return None
    subject = f"Rollout {report.status}: {report.package_name} {report.package_version}"
    return Notification(
        topic_arn=topic,
        # The topic's own Region (arn:aws:sns:<region>:<account>:<name>), not the connection's.
        region=topic.split(":")[3],
        subject=subject[:SNS_SUBJECT_LIMIT],
        message=report.summary,
        event=event,
    )
