"""``snapshot``'s settings, resolved from its arguments and a plan before any AWS call:
Regions (required, from --regions or the plan's waves), the role, the tag keys kept."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from distributor_rollout import snapshot_cli
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.snapshot_cli import DEFAULT_ROLE_NAME, EXIT_INVALID, settings


def _args(tmp_path: Path, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    snapshot_cli.register(parser.add_subparsers())
    return parser.parse_args(["snapshot", "--out", str(tmp_path / "my-org.yaml"), *argv])


@pytest.fixture
def plan_path(repo: Path, tmp_path: Path) -> Path:
    """The example plan with its own role name, away from its package source (which the
    snapshot does not need)."""
    plan = yaml.safe_load((repo / "include" / "rollouts" / "examplepackage.yaml").read_text())
    plan["stack_set"]["compliance_reader"]["role_name"] = "PlanReader"
    path = tmp_path / "elsewhere" / "plan.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(plan))
    return path


def test_the_plan_gives_regions_role_and_targeting_tag(tmp_path: Path, plan_path: Path) -> None:
    chosen = settings(_args(tmp_path, "--plan", str(plan_path), "--tag-key", "Owner"))

    assert chosen.regions == ("us-east-1", "us-west-2", "eu-west-1")
    assert chosen.regions_from == "the waves of plan 'examplepackage'"
    assert chosen.role_name == "PlanReader"
    assert chosen.tag_keys == ("Distributor", "Owner")
    assert chosen.name == "my-org"


def test_arguments_win_over_the_plan(tmp_path: Path, plan_path: Path) -> None:
    chosen = settings(
        _args(
            tmp_path,
            "--plan",
            str(plan_path),
            "--regions",
            "eu-west-1, eu-west-1,us-east-1",
            "--role-name",
            "Mine",
            "--name",
            "acme",
        )
    )

    assert chosen.regions == ("eu-west-1", "us-east-1")
    assert chosen.regions_from == "--regions"
    assert chosen.role_name == "Mine"
    assert chosen.name == "acme"


def test_without_a_plan_the_default_role_and_no_tags(tmp_path: Path) -> None:
    chosen = settings(_args(tmp_path, "--regions", "us-east-1"))

    assert chosen.role_name == DEFAULT_ROLE_NAME == "DistributorRolloutComplianceReader"
    assert chosen.tag_keys == ()


def test_regions_are_required_and_the_error_names_both_ways(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as raised:
        settings(_args(tmp_path))

    message = str(raised.value)
    assert "--regions" in message
    assert "--plan" in message


def test_every_bad_argument_is_reported_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "my-org.yaml"
    status = snapshot_cli.main(
        [
            "--out",
            str(out),
            "--regions",
            "us-east-1,mars-north-1",
            "--role-name",
            "bad role!",
            "--tag-key",
            "",
            "--concurrency",
            "0",
        ]
    )

    assert status == EXIT_INVALID
    error = capsys.readouterr().err
    for named in ("mars-north-1", "--role-name", "--tag-key", "--concurrency"):
        assert named in error
    assert not out.exists()


def test_the_output_folder_must_exist(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "my-org.yaml"
    with pytest.raises(ValidationError, match="--out"):
        settings(_args(tmp_path, "--regions", "us-east-1", "--out", str(out)))
