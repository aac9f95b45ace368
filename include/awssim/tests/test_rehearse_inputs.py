"""What ``make rehearse`` accepts (``rollout_demo.inputs``): a plan, an organization and a
scenario by name or by path, checked against each other before anything starts; and the
DAGs folder a plan runs from (``rollout_demo.dags_folder``)."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from awssim.orgspec import OrgSpec, load_org, parse_org
from awssim.scenario import load_scenario
from distributor_rollout.core.plan_validation import validate_plan
from rollout_demo.dags_folder import GENERATED_MARK, dags_folder, thin_dag_file
from rollout_demo.inputs import (
    RehearsalInputError,
    check_reject,
    misfits,
    ou_paths,
    region_warnings,
    resolve,
    resolve_org,
    resolve_plan,
    resolve_scenario,
    scenario_warnings,
)

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "include" / "rollouts" / "examplepackage.yaml"
FIELD_PLAN = REPO / "include" / "rollouts" / "examples" / "field-agent.yaml"


def example_plan_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def write_plan(folder: Path, data: dict[str, Any], name: str = "mine") -> Path:
    """A plan file in ``folder``, its package source copied beside it."""
    shutil.copytree(REPO / "include/packages/examplepackage", folder / "pkg", dirs_exist_ok=True)
    data = {**data, "name": name, "package": {**data["package"], "source": "pkg"}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def make_project(root: Path) -> Path:
    """A project with the example plan and its DAG file."""
    (root / "include" / "rollouts").mkdir(parents=True)
    shutil.copy(EXAMPLE, root / "include" / "rollouts")
    shutil.copytree(REPO / "include" / "packages", root / "include" / "packages")
    shutil.copytree(REPO / "dags", root / "dags")
    return root


# --- by name or by path -------------------------------------------------------------------


def test_the_demo_is_the_defaults() -> None:
    inputs = resolve(REPO, plan="examplepackage", org="demo", scenario="happy")
    assert inputs.plan.path == EXAMPLE
    assert inputs.plan.in_project
    assert inputs.plan.name == "examplepackage"
    assert (inputs.org.name, inputs.scenario.name, inputs.warnings) == ("demo", "happy", ())


def test_an_unknown_plan_name_lists_the_projects_plans(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    shutil.copy(EXAMPLE, project / "include" / "rollouts" / "second.yaml")
    with pytest.raises(RehearsalInputError) as raised:
        resolve_plan("nope", project)
    assert "plan 'nope'" in str(raised.value)
    assert "['examplepackage', 'second']" in str(raised.value)
    assert "path of a plan file" in str(raised.value)


def test_a_plan_file_anywhere_with_its_package_beside_it(tmp_path: Path) -> None:
    path = write_plan(tmp_path, example_plan_data())
    chosen = resolve_plan(str(path), REPO)
    assert (chosen.path, chosen.name, chosen.in_project) == (path, "mine", False)
    # The package source is relative to the plan file, as the product resolves it.
    assert chosen.plan.package.source == str(tmp_path / "pkg")


def test_a_relative_plan_path_is_read_from_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_plan(tmp_path, example_plan_data())
    monkeypatch.chdir(tmp_path)
    assert resolve_plan("./mine.yaml", REPO).path == tmp_path / "mine.yaml"
    assert resolve_plan("mine.yaml", REPO).path == tmp_path / "mine.yaml"


def test_a_missing_plan_file_and_an_invalid_plan_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(RehearsalInputError, match=r"plan '.*absent\.yaml': no such file"):
        resolve_plan(str(tmp_path / "absent.yaml"), REPO)
    data = example_plan_data()
    data["waves"][0]["regions"] = ["mars-north-1"]
    path = write_plan(tmp_path, data)
    with pytest.raises(RehearsalInputError, match=r"waves\[0\]\.regions\[0\]"):
        resolve_plan(str(path), REPO)
    (tmp_path / "nosource.yaml").write_text(
        yaml.safe_dump({**example_plan_data(), "name": "nosource"})
    )
    with pytest.raises(RehearsalInputError, match=r"package\.source: not an existing folder"):
        resolve_plan(str(tmp_path / "nosource.yaml"), REPO)


def test_an_unknown_org_or_scenario_lists_what_awssim_ships() -> None:
    with pytest.raises(RehearsalInputError) as org:
        resolve_org("nope")
    assert "'demo'" in str(org.value)
    assert "'field'" in str(org.value)
    assert "synthetic:" in str(org.value)
    with pytest.raises(RehearsalInputError) as scenario:
        resolve_scenario("nope")
    assert "'happy'" in str(scenario.value)
    assert "'canary-failure'" in str(scenario.value)


def test_org_and_scenario_files_are_read_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = tmp_path / "org.yaml"
    shutil.copy(REPO / "include/awssim/src/awssim/orgs/field.yaml", org)
    assert resolve_org(str(org)).name == "field"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_org("~/org.yaml").name == "field"  # as make passes a path on
    assert resolve_org("synthetic:20").name.startswith("synthetic")
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: mine\nthrottling: [{rate: 0.1}]\n")
    assert resolve_scenario(str(scenario)).name == "mine"
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(RehearsalInputError, match="not YAML"):
        resolve_org(str(broken))
    with pytest.raises(RehearsalInputError, match="not YAML"):
        resolve_scenario(str(broken))
    scenario.write_text("name: mine\nnot_a_fault: []\n")
    with pytest.raises(RehearsalInputError, match="not_a_fault"):
        resolve_scenario(str(scenario))


# --- the plan against the organization ----------------------------------------------------


def test_a_plan_whose_ous_the_org_lacks_is_refused_naming_wave_ou_and_the_orgs_ous() -> None:
    with pytest.raises(RehearsalInputError) as raised:
        resolve(REPO, plan="examplepackage", org="field", scenario="happy")
    message = str(raised.value)
    assert "plan examplepackage" in message
    assert "does not fit organization field" in message
    for wave, ou in (("canary", "/Sandbox"), ("nonprod", "/NonProd"), ("prod", "/Prod")):
        assert f"wave {wave}: OU {ou} is not in the organization" in message
    assert "/Workloads/Dev, /Workloads/Test, /Workloads/Prod, /Legacy, /Suspended" in message


def test_a_near_miss_is_pointed_out_and_ou_ids_are_refused() -> None:
    data = example_plan_data()
    data["waves"][0]["ous"] = ["/Sandbox/"]  # the same OU, as a plan may write it
    data["waves"][1]["ous"] = ["/Nonprod"]
    data["waves"][2]["ous"] = ["ou-ab12-cdef3456"]
    problems = misfits(validate_plan(data), load_org("demo"))
    assert problems == [
        "wave nonprod: OU /Nonprod is not in the organization (did you mean /NonProd?)",
        "wave prod: OU ou-ab12-cdef3456 is named by id; an awssim organization's OU ids are "
        "made up when it loads, so name the OU by its path (/Prod/EU)",
    ]


def test_the_field_example_plan_fits_the_field_org() -> None:
    inputs = resolve(REPO, plan=str(FIELD_PLAN), org="field", scenario="happy")
    assert (inputs.plan.name, inputs.plan.in_project, inputs.warnings) == (
        "field-agent",
        False,
        (),
    )
    assert inputs.plan.plan.package.source == str(REPO / "include/packages/examplepackage")


def test_regions_and_scenario_faults_the_org_lacks_are_warnings() -> None:
    field = load_org("field")
    plan = validate_plan(example_plan_data())
    assert region_warnings(plan, field) == [
        f"wave {wave}: Region us-west-2 is not among the organization's Regions "
        "(us-east-1, eu-west-1, ap-southeast-2): it has no managed nodes there"
        for wave in ("nonprod", "prod")
    ]
    assert scenario_warnings(load_scenario("canary-failure"), field) == [
        "scenario canary-failure: package_failures[0] applies to /Sandbox, which the "
        "organization does not have: this fault never happens"
    ]
    assert scenario_warnings(load_scenario("canary-failure"), load_org("demo")) == []
    assert scenario_warnings(load_scenario("throttling"), field) == []


def test_reject_names_a_wave_that_asks_for_approval() -> None:
    plan = validate_plan(example_plan_data())
    check_reject(plan, "prod")
    check_reject(plan, None)
    with pytest.raises(RehearsalInputError, match="no such wave; its waves: canary, nonprod, prod"):
        check_reject(plan, "production")
    with pytest.raises(RehearsalInputError, match=r"asks for no approval \(asking for one: prod\)"):
        check_reject(plan, "canary")


def _tree(draw: st.DrawFn, depth: int = 0) -> list[dict[str, Any]]:
    names = draw(
        st.lists(st.sampled_from(["A", "B", "Prod", "Dev"]), unique=True, max_size=3 - depth)
    )
    return [{"name": name, "units": _tree(draw, depth + 1) if depth < 2 else []} for name in names]


@st.composite
def orgs(draw: st.DrawFn) -> OrgSpec:
    return parse_org(
        {
            "name": "drawn",
            "management_account": {"id": "100000000000"},
            "delegated_admin": "100000000001",
            "regions": ["us-east-1"],
            "units": [
                {"name": "Admin", "accounts": [{"id": "100000000001", "name": "admin"}]},
                *_tree(draw),
            ],
            "fleet": {"profiles": [{"platform": "amazon", "platform_version": "2023"}]},
        }
    )


@given(
    org=orgs(),
    wanted=st.lists(
        st.lists(st.sampled_from(["A", "B", "Prod", "Dev"]), min_size=1, max_size=3),
        min_size=1,
        max_size=4,
        unique_by=tuple,
    ),
)
def test_misfits_are_exactly_the_wave_ous_not_in_the_org(
    org: OrgSpec, wanted: list[list[str]]
) -> None:
    data = example_plan_data()
    paths = ["/" + "/".join(segments) for segments in wanted]
    data["waves"] = [
        {"name": f"w{index}", "ous": [path], "regions": ["us-east-1"]}
        for index, path in enumerate(paths)
    ]
    data["defaults"]["operation"]["region_order"] = ["us-east-1"]
    problems = misfits(validate_plan(data), org)
    missing = [(index, path) for index, path in enumerate(paths) if path not in ou_paths(org)]
    assert len(problems) == len(missing)
    for problem, (index, path) in zip(problems, missing, strict=True):
        assert problem.startswith(f"wave w{index}: OU {path} is not in the organization")


# --- the DAGs folder ----------------------------------------------------------------------


def test_a_project_plan_with_its_dag_file_runs_from_the_projects_dags(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    folder = dags_folder(resolve_plan("examplepackage", project), project, tmp_path / "home")
    assert (folder.path, folder.generated, dict(folder.settings)) == (project / "dags", False, {})
    assert not (tmp_path / "home").exists()


def test_any_other_plan_gets_a_generated_dags_folder_of_its_own(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    # A plan of the project without a DAG file, then a plan kept elsewhere.
    shutil.copy(EXAMPLE, project / "include" / "rollouts" / "nodag.yaml")
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "mine.py").write_text("# someone's own file\n")
    first = dags_folder(resolve_plan("nodag", project), project, home)
    assert first.generated
    assert [path.name for path in sorted(first.path.glob("*.py"))] == [
        "mine.py",
        "rollout_examplepackage.py",
    ]
    (tmp_path / "plans").mkdir()
    elsewhere = write_plan(tmp_path / "plans", example_plan_data(), "my-agent")
    chosen = resolve_plan(str(elsewhere), project)
    second = dags_folder(chosen, project, home)
    # The earlier generated file goes; files it did not write stay.
    assert [path.name for path in sorted(second.path.glob("*.py"))] == [
        "mine.py",
        "rollout_my_agent.py",
    ]
    text = (second.path / "rollout_my_agent.py").read_text()
    assert text == thin_dag_file(chosen)
    assert GENERATED_MARK in text.splitlines()[0]
    assert f"rollout_dag('my-agent', plans_dir=Path({str(tmp_path / 'plans')!r}))" in text
    assert dict(second.settings) == {
        "AIRFLOW__DISTRIBUTOR_ROLLOUT__PLANS_DIR": str(tmp_path / "plans"),
        "AIRFLOW__DISTRIBUTOR_ROLLOUT__PACKAGES_ROOT": str(tmp_path / "plans"),
    }


def test_the_readmes_scenario_example_fails_a_wave_of_the_field_example(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Rehearse your own rollout")[1].split("\n## ")[0]
    [block] = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    scenario = tmp_path / "test-wave-failure.yaml"
    scenario.write_text(textwrap.dedent(block))
    inputs = resolve(REPO, plan=str(FIELD_PLAN), org="field", scenario=str(scenario))
    assert inputs.scenario.package_failures[0].ous == ["/Workloads/Test"]
    assert inputs.warnings == ()
