"""Association settings from requests: parsed, defaulted and validated as State Manager does."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, NoReturn

from moto.ssm.models import Document, Documents

from awssim.document_access import visible_documents
from awssim.statemanager.errors import (
    InvalidDocument,
    InvalidDocumentVersion,
    InvalidOutputLocation,
    InvalidParameters,
    InvalidSchedule,
    ValidationException,
)
from awssim.statemanager.models import Settings
from awssim.statemanager.schedule import parse_schedule
from awssim.statemanager.targets import validate_targets

CONFIGURE_PACKAGE = "AWS-ConfigureAWSPackage"
# AWS-owned documents an association may name; they live in no account's document list.
AWS_DOCUMENTS = frozenset(
    {
        CONFIGURE_PACKAGE,
        "AWS-RunShellScript",
        "AWS-RunPowerShellScript",
        "AWS-UpdateSSMAgent",
        "AWS-GatherSoftwareInventory",
        "AWS-RunPatchBaseline",
        "AWS-RunRemoteScript",
        "AWS-ApplyAnsiblePlaybooks",
        "AWS-ConfigureCloudWatchOnEC2Instance",
        "AmazonCloudWatch-ManageAgent",
    }
)
_PACKAGE_PARAMETERS = {
    "action": ("Install", "Uninstall"),
    "installationType": ("Uninstall and reinstall", "In-place update"),
    "name": None,
    "version": None,
    "additionalArguments": None,
}
# Request member -> Settings field.
FIELDS = {
    "Name": "document",
    "DocumentVersion": "document_version",
    "Parameters": "parameters",
    "Targets": "targets",
    "InstanceId": "instance_id",
    "ScheduleExpression": "schedule",
    "AssociationName": "association_name",
    "OutputLocation": "output_location",
    "MaxConcurrency": "max_concurrency",
    "MaxErrors": "max_errors",
    "ComplianceSeverity": "compliance_severity",
    "SyncCompliance": "sync_compliance",
    "ApplyOnlyAtCronInterval": "apply_only_at_cron_interval",
    "CalendarNames": "calendar_names",
    "ScheduleOffset": "schedule_offset",
    "Duration": "duration",
}
_PATTERNS = {
    "association_name": ("associationName", r"^[a-zA-Z0-9_\-.]{3,128}$"),
    "max_concurrency": ("maxConcurrency", r"^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$"),
    "max_errors": ("maxErrors", r"^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$"),
}
_ENUMS = {
    "compliance_severity": (
        "complianceSeverity",
        ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNSPECIFIED"),
    ),
    "sync_compliance": ("syncCompliance", ("AUTO", "MANUAL")),
}


def settings_from_request(values: dict[str, Any]) -> Settings:
    """Settings for CreateAssociation from its request members (absent ones default)."""
    fields = {FIELDS[key]: value for key, value in values.items() if key in FIELDS}
    fields = {key: value for key, value in fields.items() if value is not None}
    return _normalized(Settings(**fields))


def updated_settings(old: Settings, changes: dict[str, Any]) -> Settings:
    """UpdateAssociation: the members present replace the old values; None clears one."""
    fields = {FIELDS[key]: value for key, value in changes.items() if key in FIELDS}
    defaults = Settings(document=old.document)
    for name, value in list(fields.items()):
        if value is None:
            fields[name] = getattr(defaults, name)
    return _normalized(replace(old, **fields))


def _normalized(settings: Settings) -> Settings:
    parameters = {
        str(name): [str(v) for v in (value if isinstance(value, list) else [value])]
        for name, value in (settings.parameters or {}).items()
    }
    targets = settings.targets
    if not targets and settings.instance_id:
        targets = [{"Key": "InstanceIds", "Values": [settings.instance_id]}]
    apply_only = settings.apply_only_at_cron_interval
    if isinstance(apply_only, str):
        apply_only = apply_only.strip().lower() == "true"
    return replace(
        settings,
        parameters=parameters,
        targets=validate_targets(targets),
        document_version=settings.document_version or "$DEFAULT",
        apply_only_at_cron_interval=bool(apply_only),
    )


def validate_settings(settings: Settings, account: str, region: str) -> None:
    """Raise the error State Manager would answer for settings it refuses."""
    for name, (member, pattern) in _PATTERNS.items():
        value = getattr(settings, name)
        if value is not None and not re.match(pattern, str(value)):
            _constraint(value, member, f"Member must satisfy regular expression pattern: {pattern}")
    for name, (member, allowed) in _ENUMS.items():
        value = getattr(settings, name)
        if value is not None and value not in allowed:
            _constraint(
                value, member, f"Member must satisfy enum value set: [{', '.join(allowed)}]"
            )
    if settings.schedule is not None:
        schedule = parse_schedule(settings.schedule)
        if settings.apply_only_at_cron_interval and not schedule.is_cron:
            msg = "ApplyOnlyAtCronInterval is supported only with cron expressions."
            raise InvalidSchedule(msg)
    elif settings.apply_only_at_cron_interval:
        msg = "ApplyOnlyAtCronInterval requires a cron ScheduleExpression."
        raise InvalidSchedule(msg)
    location = settings.output_location
    if location is not None and not (location.get("S3Location") or {}).get("OutputS3BucketName"):
        msg = "OutputLocation needs S3Location.OutputS3BucketName."
        raise InvalidOutputLocation(msg)
    if settings.document in AWS_DOCUMENTS:
        if not re.match(r"^([$]LATEST|[$]DEFAULT|[1-9][0-9]*)$", settings.document_version):
            raise InvalidDocumentVersion("The document version is not valid or does not exist.")
        if settings.document == CONFIGURE_PACKAGE:
            _check_package_parameters(settings.parameters)
        return
    document = find_document(settings.document, settings.document_version, account, region)
    _check_document_parameters(document, settings.parameters)


def find_documents(name: str, account: str, region: str) -> Documents | None:
    """A document (all its versions) by name or ARN, as ``account`` in ``region`` sees it:
    its own, an AWS-provided one, or one shared with it (``awssim.document_access``)."""
    return visible_documents(name, account, region)


def find_document(name: str, document_version: str, account: str, region: str) -> Document:
    """One document version; raises InvalidDocument / InvalidDocumentVersion."""
    documents = find_documents(name, account, region)
    if documents is None:
        msg = f"Document with name {name} does not exist."
        raise InvalidDocument(msg)
    if document_version in ("$DEFAULT", ""):
        return documents.get_default_version()
    if document_version == "$LATEST":
        return documents.get_latest_version()
    found = documents.find_by_version(document_version)
    if found is None:
        raise InvalidDocumentVersion("The document version is not valid or does not exist.")
    return found


def _check_package_parameters(parameters: dict[str, list[str]]) -> None:
    for name, values in parameters.items():
        if name not in _PACKAGE_PARAMETERS:
            msg = f'Parameter "{name}" is not defined in document {CONFIGURE_PACKAGE}.'
            raise InvalidParameters(msg)
        allowed = _PACKAGE_PARAMETERS[name]
        if len(values) != 1 or (allowed is not None and values[0] not in allowed):
            msg = f'Parameter "{name}" has an invalid value {values}.'
            raise InvalidParameters(msg)
    for required in ("action", "name"):
        if not parameters.get(required, [""])[0]:
            msg = f'Parameter "{required}" is required by document {CONFIGURE_PACKAGE}.'
            raise InvalidParameters(msg)


def _check_document_parameters(document: Document, parameters: dict[str, list[str]]) -> None:
    declared = {p["Name"]: p for p in document.parameter_list or []}
    for name in parameters:
        if name not in declared:
            msg = f'Parameter "{name}" is not defined in document {document.name}.'
            raise InvalidParameters(msg)
    for name, declaration in declared.items():
        if name not in parameters and "DefaultValue" not in declaration:
            msg = f'Parameter "{name}" is required by document {document.name}.'
            raise InvalidParameters(msg)


def _constraint(value: Any, member: str, constraint: str) -> NoReturn:
    msg = (
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}"
    )
    raise ValidationException(msg)
