"""Stack set templates: where they come from, what parameters they take, what they require.

Everything here runs when a request arrives, so a bad template, parameter or capability is
an error from the API call itself, as in AWS, never a failed operation later.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote, urlparse

import yaml
from moto.cloudformation.models import Stack
from moto.s3.models import s3_backends

from awssim.stacksets.errors import InsufficientCapabilities, ValidationError

NAMED_IAM = "CAPABILITY_NAMED_IAM"
UNNAMED_IAM = "CAPABILITY_IAM"
# IAM resource types whose name property makes the template need CAPABILITY_NAMED_IAM.
_NAME_PROPERTIES = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
}


def template_body(body: str | None, url: str | None) -> str:
    """The template text from exactly one of TemplateBody and TemplateURL."""
    if body and url:
        raise ValidationError(message="Specify exactly one of TemplateBody and TemplateURL")
    if body:
        return body
    if url:
        return read_template_url(url)
    raise ValidationError(message="Either Template URL or Template Body must be specified.")


def read_template_url(url: str) -> str:
    """Read an S3 object URL (path style or virtual-host style) from moto's S3."""
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    path = unquote(parsed.path.lstrip("/"))
    if not host.endswith(".amazonaws.com"):
        raise ValidationError(message="TemplateURL must be a supported URL.")
    if host.startswith(("s3.", "s3-")):
        bucket, _, key = path.partition("/")
    elif ".s3." in host or ".s3-" in host:
        bucket, key = host.split(".s3", 1)[0], path
    else:
        raise ValidationError(message="TemplateURL must be a supported URL.")
    located = s3_backends.bucket_accounts.get(bucket)
    stored = None
    if located is not None and key:
        partition, account_id = located
        stored = s3_backends[account_id][partition].get_object(bucket, key)
    if stored is None:
        raise ValidationError(
            message="TemplateURL must reference a valid S3 object to which you have access."
        )
    return stored.value.decode("utf-8")


def parse_template(body: str) -> dict[str, Any]:
    """The template as a dict; a template error is a ValidationError."""
    try:
        parsed = Stack.parse_template(body)
    except (yaml.YAMLError, ValueError) as error:
        raise ValidationError(message=f"Template format error: {error}") from None
    if not isinstance(parsed, dict):
        raise ValidationError(message="Template format error: JSON not well-formed.")
    if not isinstance(parsed.get("Resources"), dict) or not parsed["Resources"]:
        raise ValidationError(
            message="Template format error: At least one Resources member must be defined."
        )
    return parsed


def declared_parameters(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's Parameters section (name to declaration)."""
    declared = template.get("Parameters") or {}
    return {str(name): dict(spec or {}) for name, spec in declared.items()}


def required_capability(template: dict[str, Any]) -> str | None:
    """The IAM capability a template needs, or None."""
    needed = None
    for resource in template["Resources"].values():
        kind = str((resource or {}).get("Type", ""))
        properties = (resource or {}).get("Properties") or {}
        if _NAME_PROPERTIES.get(kind) in properties:
            return NAMED_IAM
        if kind.startswith("AWS::IAM::"):
            needed = UNNAMED_IAM
    return needed


def check_capabilities(template: dict[str, Any], capabilities: list[str]) -> None:
    """Raise InsufficientCapabilitiesException unless the request acknowledged what is needed."""
    needed = required_capability(template)
    if needed is None or NAMED_IAM in capabilities or needed in capabilities:
        return
    raise InsufficientCapabilities(needed)


def resolve_parameters(
    template: dict[str, Any],
    given: list[dict[str, Any]] | None,
    previous: dict[str, str],
) -> dict[str, str]:
    """The stack set's parameter values: unknown keys and missing values are errors.

    As with UpdateStack, a value is kept only by ``UsePreviousValue``: a parameter left out
    of an update takes its default, or is missing.
    """
    declared = declared_parameters(template)
    values = _given_values(given or [], previous, strict=True)
    _reject_unknown(values, declared)
    missing = [key for key, spec in declared.items() if key not in values and "Default" not in spec]
    if missing:
        raise ValidationError(message=f"Parameters: [{', '.join(missing)}] must have values")
    return values


def resolve_overrides(
    template: dict[str, Any],
    given: list[dict[str, Any]],
    previous: dict[str, str],
) -> dict[str, str]:
    """An instance's parameter overrides; only parameters the template declares."""
    declared = declared_parameters(template)
    values = _given_values(given, previous, strict=False)
    _reject_unknown(values, declared)
    return values


def effective_parameters(
    template: dict[str, Any], parameters: dict[str, str], overrides: dict[str, str]
) -> dict[str, str]:
    """What an instance's stack gets: defaults, then the stack set's values, then overrides."""
    declared = declared_parameters(template)
    values = {key: _as_text(spec["Default"]) for key, spec in declared.items() if "Default" in spec}
    values.update({k: v for k, v in parameters.items() if k in declared})
    values.update({k: v for k, v in overrides.items() if k in declared})
    return values


def _reject_unknown(values: dict[str, str], declared: dict[str, dict[str, Any]]) -> None:
    unknown = [key for key in values if key not in declared]
    if unknown:
        keys = ", ".join(unknown)
        raise ValidationError(message=f"Parameters: [{keys}] do not exist in the template")


def _given_values(
    given: list[dict[str, Any]], previous: dict[str, str], *, strict: bool
) -> dict[str, str]:
    values: dict[str, str] = {}
    for entry in given:
        key = str(entry.get("ParameterKey", ""))
        if entry.get("UsePreviousValue"):
            if entry.get("ParameterValue") is not None:
                raise ValidationError(
                    message=f"Invalid input for parameter key {key}. Cannot specify "
                    "usePreviousValue as true and non empty value for a parameter"
                )
            if key in previous:
                values[key] = previous[key]
            elif strict:
                raise ValidationError(
                    message="Cannot specify usePreviousValue as true for a parameter key not "
                    "in the previous template"
                )
        elif entry.get("ParameterValue") is not None:
            values[key] = str(entry["ParameterValue"])
        else:
            raise ValidationError(message=f"Parameters: [{key}] must have values")
    return values


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, (dict, bool)):
        return json.dumps(value)
    return str(value)
