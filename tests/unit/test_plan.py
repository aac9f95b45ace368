"""Plan models, effective per-wave settings, loading and the problems no corpus file pins."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan import Plan, wave_gate, wave_operation
from distributor_rollout.core.plan_validation import load_plan, path_of, validate_plan


@pytest.fixture
def raw(example_plan_path: Path) -> dict[str, Any]:
    data = yaml.safe_load(example_plan_path.read_text())
    data["package"]["source"] = str(example_plan_path.parent / data["package"]["source"])
    return data


def _problems(data: object) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        validate_plan(data)
    return [str(problem) for problem in raised.value.problems]


def test_example_plan_loads_with_its_source_resolved(example_plan_path: Path) -> None:
    plan = load_plan(example_plan_path)
    assert plan.name == "examplepackage"
    assert [wave.name for wave in plan.waves] == ["canary", "nonprod", "prod"]
    assert Path(plan.package.source).is_absolute()
    assert Path(plan.package.source).is_dir()
    assert plan.schedule is None  # "schedule: none" in YAML
    assert plan.stack_set.compliance_home_region == "us-east-1"


def test_wave_operation_layers_builtins_defaults_and_wave(raw: dict[str, Any]) -> None:
    plan = validate_plan(raw)
    canary, _, prod = plan.waves
    assert wave_operation(plan, canary).to_aws() == {
        "RegionConcurrencyType": "SEQUENTIAL",
        "RegionOrder": ["us-east-1"],
        "ConcurrencyMode": "STRICT_FAILURE_TOLERANCE",
        "MaxConcurrentPercentage": 50,
        "FailureToleranceCount": 0,
    }
    # The wave's percentage tolerance replaces the default count: they are exclusive.
    prod_preferences = wave_operation(plan, prod).to_aws()
    assert prod_preferences["FailureTolerancePercentage"] == 10
    assert "FailureToleranceCount" not in prod_preferences
    assert prod_preferences["ConcurrencyMode"] == "SOFT_FAILURE_TOLERANCE"
    assert prod_preferences["RegionOrder"] == ["us-east-1", "us-west-2", "eu-west-1"]


def test_region_order_keeps_every_wave_region(raw: dict[str, Any]) -> None:
    raw["defaults"]["operation"]["region_order"] = ["eu-west-1", "us-east-1"]
    plan = validate_plan(raw)
    assert wave_operation(plan, plan.waves[2]).region_order == (
        "eu-west-1",
        "us-east-1",
        "us-west-2",
    )
    assert wave_operation(plan, plan.waves[1]).region_order == ("us-east-1", "us-west-2")


def test_wave_gate_uses_seconds_and_overrides(raw: dict[str, Any]) -> None:
    plan = validate_plan(raw)
    canary = wave_gate(plan, plan.waves[0])
    assert canary.threshold_percent == 100.0
    assert (canary.timeout_seconds, canary.bake_seconds, canary.poll_interval_seconds) == (
        1800,
        300,
        30,
    )
    assert wave_gate(plan, plan.waves[1]).threshold_percent == 90.0


def test_builtin_defaults_apply_when_plan_says_nothing(raw: dict[str, Any]) -> None:
    del raw["defaults"]
    for wave in raw["waves"]:
        wave.pop("gate", None)
        wave.pop("operation", None)
    plan = validate_plan(raw)
    preferences = wave_operation(plan, plan.waves[0])
    assert preferences.max_concurrent_percentage == 25
    assert preferences.failure_tolerance_count == 0
    gate = wave_gate(plan, plan.waves[0])
    assert (gate.threshold_percent, gate.min_nodes, gate.timeout_seconds) == (95.0, 1, 3600)


def test_digest_is_stable_and_tracks_content(raw: dict[str, Any]) -> None:
    first = validate_plan(raw).digest()
    assert validate_plan(copy.deepcopy(raw)).digest() == first
    raw["package"]["version"] = "1.0.3"
    assert validate_plan(raw).digest() != first


def test_every_problem_is_reported_together(raw: dict[str, Any]) -> None:
    raw["package"]["name"] = "x"
    raw["waves"][0]["regions"] = ["mars-1"]
    raw["waves"][1]["name"] = "CANARY"
    raw["association"]["schedule"] = "rate(5 minutes)"
    problems = _problems(raw)
    assert [p.split(":")[0] for p in problems] == [
        "package.name",
        "association.schedule",
        "waves[0].regions[0]",
        "waves[1].name",
        "waves[0].regions",  # and so it lacks the reader role's home Region
    ]


def test_cross_field_rules_still_run_when_fields_are_broken(raw: dict[str, Any]) -> None:
    raw["waves"][0]["ous"] = ["/Sandbox", "not-an-ou"]
    raw["waves"][1]["ous"] = ["/Sandbox"]
    raw["waves"][1]["regions"] = ["us-east-1"]
    problems = _problems(raw)
    assert any(p.startswith("waves[0].ous[1]: not an organizational unit") for p in problems)
    assert any("targets /Sandbox in us-east-1 again" in p for p in problems)


def test_rollback_uninstall_of_an_uninstall_rollout_is_refused(raw: dict[str, Any]) -> None:
    raw["association"]["action"] = "Uninstall"
    raw["rollback"]["mode"] = "uninstall"
    assert _problems(raw) == [
        "rollback.mode: cannot undo an Uninstall rollout by uninstalling "
        "(got 'uninstall'; expected 'previous_version' or 'none')"
    ]


def test_reader_role_not_created_lifts_the_home_region_rule(raw: dict[str, Any]) -> None:
    raw["waves"][1]["regions"] = ["us-west-2"]
    assert any("home Region" in p for p in _problems(raw))
    raw["stack_set"]["compliance_reader"]["create"] = False
    assert validate_plan(raw).waves[1].regions == ["us-west-2"]


def test_not_a_mapping() -> None:
    assert _problems(["a", "list"]) == [
        "not a plan (got ['a', 'list']; expected a mapping with name, package, stack_set, ...)"
    ]


def test_yaml_syntax_error_names_the_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nwaves: [\n")
    with pytest.raises(ValidationError) as raised:
        load_plan(path)
    (problem,) = raised.value.problems
    assert problem.message.startswith("not valid YAML (line 3, column 1")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read the file"):
        load_plan(tmp_path / "absent.yaml")


def test_missing_source_folder(raw: dict[str, Any], tmp_path: Path) -> None:
    raw["package"]["source"] = "nowhere"
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValidationError) as raised:
        load_plan(path)
    (problem,) = raised.value.problems
    assert problem.path == "package.source"
    assert f"{tmp_path / 'nowhere'} does not exist" in problem.message


def test_plan_is_immutable(raw: dict[str, Any]) -> None:
    plan = validate_plan(raw)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        plan.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("loc", "text"),
    [(("waves", 1, "ous", 0), "waves[1].ous[0]"), (("package",), "package"), ((), "")],
)
def test_path_of(loc: tuple[int | str, ...], text: str) -> None:
    assert path_of(loc) == text


def test_model_round_trips_through_json(raw: dict[str, Any]) -> None:
    plan = validate_plan(raw)
    assert Plan.model_validate_json(plan.model_dump_json()) == plan


# --- packages that already exist in Distributor -----------------------------------------


def _existing(raw: dict[str, Any], **package: Any) -> dict[str, Any]:
    data = copy.deepcopy(raw)
    data["package"] = package
    return data


@pytest.mark.parametrize(
    ("existing", "name", "owner", "ref"),
    [
        ("AmazonCloudWatchAgent", "AmazonCloudWatchAgent", None, "AmazonCloudWatchAgent"),
        (
            "arn:aws:ssm:us-east-1:444455556666:document/VendorAgent",
            "VendorAgent",
            "444455556666",
            # A shared document is Region-scoped: the same owner and name in each Region.
            "arn:aws:ssm:eu-west-1:444455556666:document/VendorAgent",
        ),
    ],
)
def test_an_existing_package_is_named_by_its_document(
    raw: dict[str, Any], existing: str, name: str, owner: str | None, ref: str
) -> None:
    plan = validate_plan(_existing(raw, existing=existing))
    package = plan.package
    assert (package.is_existing, package.name, package.document_owner) == (True, name, owner)
    assert package.document_ref("eu-west-1") == ref
    assert package.version is None
    assert package.version_label == "default version"
    with pytest.raises(ValueError, match=r"package\.bucket"):
        _ = package.bucket_pattern


def test_an_existing_package_may_pin_a_version(raw: dict[str, Any]) -> None:
    plan = validate_plan(_existing(raw, existing="AWSEFSTools", version="1.5.2"))
    assert (plan.package.version, plan.package.version_label) == ("1.5.2", "1.5.2")


def test_an_existing_package_takes_nothing_a_build_or_publish_needs(raw: dict[str, Any]) -> None:
    data = _existing(
        raw, existing="AmazonCloudWatchAgent", source="../packages/x", bucket="b-{region}"
    )
    data["association"]["output_s3_prefix"] = "out"
    problems = _problems(data)
    assert problems == [
        "package.source: not used with package.existing (an existing package is not built "
        "or published) (got '../packages/x'; expected no package.source, or a built package "
        "without package.existing)",
        "package.bucket: not used with package.existing (an existing package is not built "
        "or published) (got 'b-{region}'; expected no package.bucket, or a built package "
        "without package.existing)",
        "association.output_s3_prefix: not used with package.existing (Run Command output "
        "goes to the package bucket, which an existing package does not have) (got 'out'; "
        "expected no association.output_s3_prefix)",
    ]


def test_a_built_package_names_what_it_is_missing(raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    del data["package"]["folder"], data["package"]["version"]
    assert _problems(data) == [
        f"package.{field}: missing (a package the rollout builds needs source, bucket, folder "
        "and version; for a package that already exists in Distributor, set package.existing "
        "instead)"
        for field in ("folder", "version")
    ]


@pytest.mark.parametrize(
    ("existing", "name", "problem"),
    [
        (
            "arn:aws:s3:::bucket",
            None,
            "package.existing: not a package name or a shared document ARN (got "
            "'arn:aws:s3:::bucket'; expected a document name like AmazonCloudWatchAgent, or "
            "arn:aws:ssm:<region>:<owner account>:document/<name>)",
        ),
        (
            "AmazonCloudWatchAgent",
            "CloudWatch",
            "package.name: is not the existing package's document name (got 'CloudWatch'; "
            "expected AmazonCloudWatchAgent (or leave package.name out))",
        ),
    ],
)
def test_a_wrong_existing_package_is_named(
    raw: dict[str, Any], existing: str, name: str | None, problem: str
) -> None:
    package = {"existing": existing} | ({"name": name} if name else {})
    assert problem in _problems(_existing(raw, **package))


def test_the_change_feed_is_optional_and_has_defaults(raw: dict[str, Any]) -> None:
    assert validate_plan(raw).stack_set.compliance_reader.change_feed is None

    raw["stack_set"]["compliance_reader"]["change_feed"] = {
        "aggregator": "org-association-compliance",
        "region": "us-west-2",
    }
    feed = validate_plan(raw).stack_set.compliance_reader.change_feed

    assert feed is not None
    assert (feed.aggregator, feed.region) == ("org-association-compliance", "us-west-2")
    assert (feed.full_read_minutes, feed.lookback_minutes) == (30, 15)


def test_a_plan_without_a_change_feed_keeps_its_earlier_digest(raw: dict[str, Any]) -> None:
    """Runs recorded before the option existed still match their plan after an upgrade."""
    plan = validate_plan(raw)
    before = plan.model_dump(mode="json")
    del before["stack_set"]["compliance_reader"]["change_feed"]
    canonical = json.dumps(before, sort_keys=True, separators=(",", ":"))

    assert plan.digest() == hashlib.sha256(canonical.encode()).hexdigest()
    raw["stack_set"]["compliance_reader"]["change_feed"] = {
        "aggregator": "a",
        "region": "us-east-1",
    }
    assert validate_plan(raw).digest() != plan.digest()


def test_change_feed_problems_name_the_field_and_what_is_valid(raw: dict[str, Any]) -> None:
    reader = raw["stack_set"]["compliance_reader"]
    reader["change_feed"] = "org-association-compliance"
    assert _problems(raw) == [
        "stack_set.compliance_reader.change_feed: wrong type (got "
        "'org-association-compliance'; expected a mapping with keys aggregator, region, "
        "full_read_minutes, lookback_minutes (a Config aggregator the gate asks which targets "
        "changed), or none: every poll reads every target)"
    ]
    reader["change_feed"] = {"aggregator": "org", "region": "us-east-1", "full_read_minutes": 2.5}
    assert _problems(raw) == [
        "stack_set.compliance_reader.change_feed.full_read_minutes: wrong type (got 2.5; "
        "expected a whole number from 1 to 1440: fleet minutes between polls that read "
        "every target)"
    ]
    reader["change_feed"] = {"aggregator": "org", "region": "us-east-1", "lookback_minutes": 1441}
    [problem] = _problems(raw)
    assert problem.startswith("stack_set.compliance_reader.change_feed.lookback_minutes: ")
    assert "1441" in problem
    assert "1440" in problem


def test_the_commented_change_feed_example_is_a_valid_plan(repo: Path) -> None:
    """include/rollouts/examples/field-agent.yaml shows the option commented out: as
    written there, uncommented, it must validate."""
    path = repo / "include" / "rollouts" / "examples" / "field-agent.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index("    # change_feed:")
    rest = itertools.takewhile(lambda line: line.startswith("    #   "), lines[start + 1 :])
    block = [lines[start], *rest]
    uncommented = [line.replace("# ", "", 1) for line in block]
    assert len(uncommented) == 5
    text = "\n".join([*lines[:start], *uncommented, *lines[start + len(block) :]])

    data = yaml.safe_load(text)
    data["package"]["source"] = str(path.parent / data["package"]["source"])
    feed = validate_plan(data).stack_set.compliance_reader.change_feed

    assert feed is not None
    assert (feed.aggregator, feed.region) == ("org-association-compliance", "us-east-1")
