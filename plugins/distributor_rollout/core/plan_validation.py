"""Turn raw plan data into a ``Plan``, reporting every problem at once.

Two passes over the same raw data: pydantic checks each field (types, formats, ranges,
unknown keys), then ``_cross_field_problems`` checks the rules that span fields (a count
and a percentage given together, an (OU, Region) pair in two waves, duplicate wave names,
a rate schedule with ApplyOnlyAtCronInterval...). The second pass reads the raw data
defensively, so a broken field elsewhere never hides a cross-field problem.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from distributor_rollout.core import rules, schedule
from distributor_rollout.core.errors import Loc, Problem, ValidationError, path_of, wrong
from distributor_rollout.core.fields import RULE_ERROR
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.regions import partition_of
from distributor_rollout.core.safe_yaml import load_yaml, parse_yaml, read_limited
from distributor_rollout.core.source_location import is_s3


def _unwrap(annotation: Any) -> list[Any]:
    """The types inside Optional/list/dict/Annotated, outermost first."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return [t for arg in inner for t in _unwrap(arg)]
    if origin in (list, dict):
        return [annotation, *_unwrap(typing.get_args(annotation)[-1])]
    return [annotation]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _walk(model: type[BaseModel], loc: Loc) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """Follow ``loc`` through the models: the model reached at its end (``None`` when
    ``loc`` ends on a plain value), and the field of its last named key."""
    current: type[BaseModel] | None = model
    info: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None or part not in current.model_fields:
            return None, None
        info = current.model_fields[part]
        current = _model_in(info.annotation)
    return current, info


def _keys(model: type[BaseModel]) -> str:
    return "a mapping with keys: " + ", ".join(model.model_fields)


def _expected(model: type[BaseModel], loc: Loc) -> str:
    reached, info = _walk(model, loc)
    if reached is not None and (isinstance(loc[-1], int) or info is None or not info.description):
        return _keys(reached)
    if info is not None and info.description:
        return info.description
    return "a valid value"


def _pydantic_problem(model: type[BaseModel], error: ErrorDetails, prefix: str) -> Problem:
    loc: Loc = tuple(error["loc"])
    path = ".".join(p for p in (prefix, path_of(loc)) if p)
    kind, value = error["type"], error.get("input")
    if kind == "invalid_key" or "[key]" in loc:
        # YAML 1.1 reads unquoted on/off/yes/no as booleans, and pydantic shows them as 1/0.
        parent = path_of(tuple(part for part in loc[:-1] if part != "[key]"))
        return wrong(
            ".".join(p for p in (prefix, parent) if p),
            "not a valid key",
            value,
            "a text key (YAML reads unquoted on, off, yes, no as true/false: quote them)",
        )
    if kind == RULE_ERROR:
        return Problem(path, str(error["ctx"]["message"]))
    if kind == "extra_forbidden":
        holder, _ = _walk(model, loc[:-1])
        keys = ", ".join(holder.model_fields) if holder is not None else "none"
        return wrong(path, "unknown key", loc[-1], f"one of: {keys}")
    expected = _expected(model, loc)
    if kind == "missing":
        return Problem(path, f"missing (got nothing; expected {expected})")
    if kind == "literal_error":
        return wrong(path, "not allowed", value, f"one of {error['ctx']['expected']}")
    if kind == "too_short" and not value:
        return wrong(path, "empty", value, f"at least {error['ctx']['min_length']}: {expected}")
    if kind in ("too_short", "too_long"):
        return wrong(path, "wrong length", value, error["msg"].removeprefix("Input should be "))
    if kind.startswith(("greater_than", "less_than")):
        bound = error["msg"].removeprefix("Input should be ")
        return wrong(path, "out of range", value, f"a value {bound}")
    if kind.endswith(("_type", "_parsing")) or kind == "int_from_float":
        return wrong(path, "wrong type", value, expected)
    return wrong(path, "invalid", value, error["msg"].removeprefix("Input should be "))


def model_problems(model: type[BaseModel], data: object, prefix: str = "") -> list[Problem]:
    """Every field-level problem pydantic finds, in the project's message shape."""
    try:
        model.model_validate(data)
    except PydanticValidationError as error:
        return [_pydantic_problem(model, detail, prefix) for detail in error.errors()]
    return []


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: object) -> list[str]:
    return [item for item in _list(value) if isinstance(item, str)]


def _exclusive_pairs(block: Mapping[str, Any], path: str) -> Iterator[Problem]:
    for count, percentage in (
        ("max_concurrent_count", "max_concurrent_percentage"),
        ("failure_tolerance_count", "failure_tolerance_percentage"),
    ):
        if block.get(count) is not None and block.get(percentage) is not None:
            yield Problem(
                path,
                f"{count} and {percentage} are exclusive (got both; expected one of them)",
            )


def _duplicates(values: list[str], path: str, what: str) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            yield wrong(f"{path}[{index}]", f"duplicate {what}", value, f"each {what} once")
        seen.add(value)


def _wave_problems(waves: list[Any]) -> Iterator[Problem]:
    first_by_name: dict[str, int] = {}
    owner: dict[tuple[str, str], str] = {}
    for index, raw in enumerate(waves):
        wave, path = _mapping(raw), f"waves[{index}]"
        name = wave.get("name")
        if isinstance(name, str):
            key = name.lower()
            if key in first_by_name:
                yield wrong(
                    f"{path}.name",
                    "duplicate wave name",
                    name,
                    f"a name unlike waves[{first_by_name[key]}] (names differ by more than case)",
                )
            first_by_name.setdefault(key, index)
        ous, regions = _strings(wave.get("ous")), _strings(wave.get("regions"))
        yield from _duplicates(ous, f"{path}.ous", "OU")
        yield from _duplicates(regions, f"{path}.regions", "Region")
        for ou in dict.fromkeys(ous):
            for region in dict.fromkeys(regions):
                earlier = owner.setdefault((ou, region), f"{path} ({name!s})")
                if earlier != f"{path} ({name!s})":
                    yield Problem(
                        path,
                        f"targets {ou} in {region} again (got it in {earlier} too; "
                        "expected each (OU, Region) pair in one wave only)",
                    )
        operation = _mapping(wave.get("operation"))
        yield from _exclusive_pairs(operation, f"{path}.operation")
        order = _strings(operation.get("region_order"))
        for position, region in enumerate(order):
            if regions and region not in regions:
                yield wrong(
                    f"{path}.operation.region_order[{position}]",
                    "not one of the wave's Regions",
                    region,
                    "one of " + ", ".join(regions),
                )
        yield from _duplicates(order, f"{path}.operation.region_order", "Region")


BUILT_PACKAGE_FIELDS = ("source", "bucket", "folder", "version")
"""What a package the rollout builds and publishes must name."""
PUBLISHING_FIELDS = ("source", "source_buckets", "publisher", "bucket", "folder", "create_buckets")
"""What only a built package has: an existing package is neither built nor published."""


def _package_problems(package: Mapping[str, Any]) -> Iterator[Problem]:
    """A package is either built from a source (source, bucket, folder and version) or
    an existing one (``existing``, optionally a pinned version), never a mix."""
    existing = package.get("existing")
    if existing is None:
        for field in BUILT_PACKAGE_FIELDS:
            if package.get(field) is None:
                yield Problem(
                    f"package.{field}",
                    "missing (a package the rollout builds needs source, bucket, folder and "
                    "version; for a package that already exists in Distributor, set "
                    "package.existing instead)",
                )
        name = package.get("name")
        if isinstance(name, str) and rules.reserved_document_prefix(name):
            yield wrong(
                "package.name",
                "uses a prefix AWS reserves for its own documents, so it cannot be built",
                name,
                "a name not starting with aws, amazon or amzn; to roll out AWS's own "
                "package, name it in package.existing instead of a source",
            )
        return
    for field in PUBLISHING_FIELDS:
        if field in package:
            yield wrong(
                f"package.{field}",
                "not used with package.existing (an existing package is not built or published)",
                package[field],
                f"no package.{field}, or a built package without package.existing",
            )
    name = package.get("name")
    if isinstance(existing, str) and rules.existing_package(existing) is None:
        document = rules.existing_package_parts(existing)[1]
        if isinstance(name, str) and name != document:
            yield wrong(
                "package.name",
                "is not the existing package's document name",
                name,
                f"{document} (or leave package.name out)",
            )


def _cross_field_problems(data: Mapping[str, Any]) -> Iterator[Problem]:
    package = _mapping(data.get("package"))
    yield from _package_problems(package)
    output_prefix = _mapping(data.get("association")).get("output_s3_prefix")
    if package.get("existing") is not None and output_prefix is not None:
        # The command output goes to the package bucket, and an existing package has none.
        yield wrong(
            "association.output_s3_prefix",
            "not used with package.existing (Run Command output goes to the package "
            "bucket, which an existing package does not have)",
            output_prefix,
            "no association.output_s3_prefix",
        )
    waves = _list(data.get("waves"))
    yield from _wave_problems(waves)
    defaults_operation = _mapping(_mapping(data.get("defaults")).get("operation"))
    yield from _exclusive_pairs(defaults_operation, "defaults.operation")
    all_regions = {r for wave in waves for r in _strings(_mapping(wave).get("regions"))}
    order = _strings(defaults_operation.get("region_order"))
    yield from _duplicates(order, "defaults.operation.region_order", "Region")
    for position, region in enumerate(order):
        if all_regions and region not in all_regions:
            yield wrong(
                f"defaults.operation.region_order[{position}]",
                "not a Region of any wave",
                region,
                "one of " + ", ".join(sorted(all_regions)),
            )

    association = _mapping(data.get("association"))
    if association.get("apply_only_at_cron_interval") is True:
        schedule_text = association.get("schedule", "rate(30 minutes)")
        if isinstance(schedule_text, str) and schedule.is_rate(schedule_text):
            yield wrong(
                "association.apply_only_at_cron_interval",
                "not supported with a rate schedule",
                schedule_text,
                "a cron schedule, or apply_only_at_cron_interval: false",
            )
    has_key = association.get("target_tag_key") is not None
    has_value = association.get("target_tag_value") is not None
    if has_key != has_value:
        missing = "target_tag_value" if has_key else "target_tag_key"
        yield Problem(
            f"association.{missing}",
            "missing (got only one of target_tag_key and target_tag_value; expected both, "
            "or neither to target every managed node)",
        )

    rollback = _mapping(data.get("rollback"))
    if rollback.get("mode") == "uninstall" and association.get("action") == "Uninstall":
        yield wrong(
            "rollback.mode",
            "cannot undo an Uninstall rollout by uninstalling",
            "uninstall",
            "'previous_version' or 'none'",
        )
    yield from _compliance_reader_problems(data, waves)
    yield from _partition_problems(data, waves)


def _partition_problems(data: Mapping[str, Any], waves: list[Any]) -> Iterator[Problem]:
    """A stack set is administered in one Region and deploys only within its partition
    (aws, aws-cn, aws-us-gov...): every Region the plan names must share that partition.

    The partition is the administering Region's; when that Region is not known, the
    first known wave Region's, so a mix is still reported once.
    """
    stack_set = _mapping(data.get("stack_set"))
    named: list[tuple[str, object]] = [("stack_set.region", stack_set.get("region"))]
    reader = _mapping(stack_set.get("compliance_reader"))
    if reader.get("create", True) is True:
        # Only a role the template creates has a home Region that matters.
        named.append(("stack_set.compliance_reader.home_region", reader.get("home_region")))
    # The aggregator is called with the connection's credentials, of the stack set's partition.
    feed_region = _mapping(reader.get("change_feed")).get("region")
    named.append(("stack_set.compliance_reader.change_feed.region", feed_region))
    for index, raw in enumerate(waves):
        for position, region in enumerate(_list(_mapping(raw).get("regions"))):
            named.append((f"waves[{index}].regions[{position}]", region))
    known = [
        (path, region, partition)
        for path, region in named
        if isinstance(region, str) and (partition := partition_of(region)) is not None
    ]
    if not known:
        return
    reference_path, reference, expected = known[0]
    for path, region, partition in known[1:]:
        if partition != expected:
            yield wrong(
                path,
                f"in partition {partition}, not the stack set's",
                region,
                f"a Region of partition {expected}, like {reference_path} ({reference})",
            )


def _compliance_reader_problems(data: Mapping[str, Any], waves: list[Any]) -> Iterator[Problem]:
    """The template creates the (global) reader role in one home Region only, so a wave
    that skips that Region leaves its accounts without the role the gate must assume."""
    stack_set = _mapping(data.get("stack_set"))
    reader = _mapping(stack_set.get("compliance_reader"))
    if reader.get("create", True) is not True:
        return
    home = reader.get("home_region") or stack_set.get("region")
    if not isinstance(home, str):
        return
    for index, raw in enumerate(waves):
        regions = _strings(_mapping(raw).get("regions"))
        if regions and home not in regions:
            yield wrong(
                f"waves[{index}].regions",
                "leaves out the compliance-reader role's home Region",
                regions,
                f"a list that includes {home} (stack_set.compliance_reader.home_region)",
            )


def validate_plan(data: object, *, subject: str = "plan") -> Plan:
    """A ``Plan`` from raw data, or ``ValidationError`` with every problem found."""
    if not isinstance(data, Mapping):
        raise ValidationError(
            subject, [wrong("", "not a plan", data, "a mapping with name, package, stack_set, ...")]
        )
    problems = model_problems(Plan, data)
    problems.extend(_cross_field_problems(data))
    if problems:
        raise ValidationError(subject, dict.fromkeys(problems))
    return Plan.model_validate(data)


def read_yaml(path: Path, subject: str) -> object:
    """Parse a YAML file within ``safe_yaml``'s limits; anything wrong is a ``ValidationError``."""
    return load_yaml(path, subject)


def load_plan(path: str | Path) -> Plan:
    """Read, validate and resolve a plan file: ``read_plan_bytes``, ``parse_plan`` and
    ``resolve_plan`` in turn."""
    plan_path = Path(path)
    return resolve_plan(parse_plan(read_plan_bytes(plan_path), str(plan_path)), plan_path)


def read_plan_bytes(path: Path) -> bytes:
    """A plan file's bytes, within ``safe_yaml``'s limits (else ``ValidationError``)."""
    return read_limited(path, str(path))


def parse_plan(data: bytes, subject: str) -> Plan:
    """The validated ``Plan`` in a plan file's bytes, ``package.source`` as written (it
    depends on where the file is: ``resolve_plan``); else ``ValidationError``."""
    return validate_plan(parse_yaml(data, subject), subject=subject)


def resolve_plan(plan: Plan, plan_path: Path) -> Plan:
    """A built package's ``package.source`` resolved against the plan file's folder, which
    must be a folder, unless it is an S3 prefix (checked against
    ``package.source_buckets`` by the model)."""
    subject = str(plan_path)
    if plan.package.source is None or is_s3(plan.package.source):
        return plan  # an existing package (nothing to build), or a source in S3
    source = (plan_path.parent / plan.package.source).resolve()
    if not source.is_dir():
        raise ValidationError(
            subject,
            [
                wrong(
                    "package.source",
                    "not an existing folder",
                    plan.package.source,
                    f"a folder relative to the plan file ({source} does not exist)",
                )
            ],
        )
    package = plan.package.model_copy(update={"source": str(source)})
    return plan.model_copy(update={"package": package})
