"""What a rehearsal runs: the plan, the organization and the fault scenario a user names,
resolved and checked before anything starts (no Airflow, no awssim server yet).

Each is given by name or by path; a value with a suffix (``.yaml``) or a ``/`` is a path,
relative to the working folder:

- the plan: a name in the project's plans folder (``include/rollouts/<name>.yaml``) or a plan
  file anywhere. The plan is validated as the DAG's ``validate`` task does, and its package
  source is relative to the plan file, as the product resolves it, so a plan kept outside the
  repository brings its package with it;
- the organization: an awssim org name (``demo``, ``field``, ``synthetic:N``) or an org file
  (awssim's YAML, which ``distributor_rollout snapshot`` writes);
- the scenario: a shipped scenario name (``happy``, ``canary-failure``, ...) or a scenario
  file.

The plan must fit the organization: every OU a wave names must be an OU path of the
organization. awssim makes OU ids up when it loads an organization, so a wave that names its
OU by id cannot be rehearsed. A wave Region where the organization has no nodes, and a
scenario fault aimed at OUs the organization does not have, are warnings: the run goes on,
and the warning says what it will not show.
"""

from __future__ import annotations

import argparse
import difflib
from dataclasses import dataclass
from pathlib import Path

import yaml

from awssim.orgspec import OrgSpec, OrgSpecError, load_org
from awssim.scenario import Scenario, ScenarioError, Where, load_scenario, shipped_scenarios
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan

LISTED_OUS = 30
"""The most OU paths an error lists (a snapshot of a large organization holds hundreds)."""


class RehearsalInputError(ValueError):
    """A plan, organization, scenario or wave that cannot be rehearsed; the message says
    what would be valid."""


@dataclass(frozen=True, slots=True)
class PlanChoice:
    """The plan a rehearsal runs."""

    path: Path
    """The plan file, resolved."""
    plan: Plan
    """The validated plan, its folder source resolved against the plan file."""
    in_project: bool
    """Whether the file is in the project's plans folder."""

    @property
    def name(self) -> str:
        """The plan's name (its DAG is ``distributor_rollout__<name>``)."""
        return self.plan.name


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything a rehearsal runs, checked against each other."""

    plan: PlanChoice
    org: OrgSpec
    scenario: Scenario
    warnings: tuple[str, ...] = ()


DEFAULT_PLAN, DEFAULT_ORG, DEFAULT_SCENARIO = "examplepackage", "demo", "happy"
"""What ``make demo`` rehearses: the example plan on the demo organization, no faults."""


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """``--plan``, ``--org`` and ``--scenario``, as ``make rehearse`` and ``make ui`` take them."""
    parser.add_argument(
        "--plan",
        default=DEFAULT_PLAN,
        help=f"a plan name in include/rollouts/ or a plan file (default: {DEFAULT_PLAN})",
    )
    parser.add_argument(
        "--org",
        default=DEFAULT_ORG,
        help="an awssim org name (demo, field, synthetic:N) or an org file "
        f"(default: {DEFAULT_ORG})",
    )
    parser.add_argument(
        "--scenario",
        default=DEFAULT_SCENARIO,
        help=f"a scenario file or one of {shipped_scenarios()} (default: {DEFAULT_SCENARIO})",
    )


def plans_folder(project: Path) -> Path:
    """The project's plans folder: where plan names are looked up."""
    return project / "include" / "rollouts"


def is_path(ref: str) -> bool:
    """Whether ``ref`` names a file rather than a plan, org or scenario by name."""
    return bool(Path(ref).suffix) or "/" in ref


def _expanded(ref: str) -> str:
    """A file's ``~`` expanded (``make`` passes it on as written); a name as it is."""
    return str(Path(ref).expanduser()) if is_path(ref) else ref


def resolve_plan(ref: str, project: Path) -> PlanChoice:
    """The plan ``ref`` names: a plan of the project or a plan file, validated."""
    folder = plans_folder(project)
    if is_path(ref):
        path = Path(ref).expanduser()
        if not path.is_file():
            raise RehearsalInputError(f"plan {ref!r}: no such file")
    else:
        path = folder / f"{ref}.yaml"
        if not path.is_file():
            names = sorted(plan.stem for plan in folder.glob("*.yaml"))
            raise RehearsalInputError(
                f"plan {ref!r}: not a plan of this project; expected one of {names} "
                f"(in {folder}) or the path of a plan file"
            )
    path = path.resolve()
    try:
        plan = load_plan(path)
    except ValidationError as error:
        raise RehearsalInputError(str(error)) from None
    return PlanChoice(path=path, plan=plan, in_project=path.parent == folder.resolve())


def resolve_org(ref: str) -> OrgSpec:
    """The organization ``ref`` names: an awssim org name or an org file."""
    try:
        return load_org(_expanded(ref))
    except OrgSpecError as error:
        raise RehearsalInputError(str(error)) from None
    except OSError as error:  # a path that exists but cannot be read
        raise RehearsalInputError(f"org {ref!r}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise RehearsalInputError(f"org {ref!r}: not YAML ({error})") from None


def resolve_scenario(ref: str) -> Scenario:
    """The fault scenario ``ref`` names: a shipped name or a scenario file."""
    try:
        return load_scenario(_expanded(ref))
    except ScenarioError as error:
        raise RehearsalInputError(str(error)) from None
    except OSError as error:
        raise RehearsalInputError(f"scenario {ref!r}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise RehearsalInputError(f"scenario {ref!r}: not YAML ({error})") from None


def ou_paths(org: OrgSpec) -> list[str]:
    """Every OU path of the organization, parents first; ``/`` is the root."""
    return ["/", *(path for path, _unit in org.units_with_paths())]


def normalized_ou_path(ou: str) -> str:
    """``/Prod/EU/`` → ``/Prod/EU``, as a plan's OU paths are read."""
    segments = [segment for segment in ou.strip("/").split("/") if segment]
    return "/" + "/".join(segments)


def misfits(plan: Plan, org: OrgSpec) -> list[str]:
    """What keeps the plan from running against the organization: each wave OU that is
    not one of its OU paths, with the nearest ones it has."""
    paths = ou_paths(org)
    problems = []
    for wave in plan.waves:
        for ou in wave.ous:
            if not ou.startswith("/"):
                problems.append(
                    f"wave {wave.name}: OU {ou} is named by id; an awssim organization's OU "
                    "ids are made up when it loads, so name the OU by its path (/Prod/EU)"
                )
            elif normalized_ou_path(ou) not in paths:
                near = difflib.get_close_matches(normalized_ou_path(ou), paths, n=1)
                hint = f" (did you mean {near[0]}?)" if near else ""
                problems.append(f"wave {wave.name}: OU {ou} is not in the organization{hint}")
    return problems


def listed(paths: list[str]) -> str:
    """OU paths for a message, at most ``LISTED_OUS`` of them."""
    shown = ", ".join(paths[:LISTED_OUS])
    more = len(paths) - LISTED_OUS
    return shown + (f" and {more} more" if more > 0 else "")


def region_warnings(plan: Plan, org: OrgSpec) -> list[str]:
    """Wave Regions where the organization has no nodes: the run deploys there, but no
    gate can count a node in them."""
    return [
        f"wave {wave.name}: Region {region} is not among the organization's Regions "
        f"({', '.join(org.regions)}): it has no managed nodes there"
        for wave in plan.waves
        for region in wave.regions
        if region not in org.regions
    ]


def scenario_warnings(scenario: Scenario, org: OrgSpec) -> list[str]:
    """Scenario faults aimed only at OUs the organization does not have: they never apply."""
    paths = ou_paths(org)
    warnings = []
    for kind in type(scenario).model_fields:
        faults = getattr(scenario, kind)
        if not isinstance(faults, list):
            continue
        for index, fault in enumerate(faults):
            if not isinstance(fault, Where) or not fault.ous or fault.accounts:
                continue
            if any(_within(path, ou) for ou in fault.ous for path in paths):
                continue
            warnings.append(
                f"scenario {scenario.name}: {kind}[{index}] applies to {', '.join(fault.ous)}, "
                "which the organization does not have: this fault never happens"
            )
    return warnings


def _within(path: str, ou: str) -> bool:
    """Whether OU ``path`` is ``ou`` or below it (as awssim matches a fault's OUs)."""
    top = ou.rstrip("/")
    return path == top or path.startswith(top + "/")


def check_reject(plan: Plan, wave: str | None) -> None:
    """``--reject WAVE`` must name a wave of the plan that asks for approval."""
    if wave is None:
        return
    names = [spec.name for spec in plan.waves]
    approving = [spec.name for spec in plan.waves if spec.approval]
    if wave not in names:
        raise RehearsalInputError(
            f"--reject {wave}: plan {plan.name} has no such wave; its waves: {', '.join(names)}"
        )
    if wave not in approving:
        asking = ", ".join(approving) if approving else "none of its waves"
        raise RehearsalInputError(
            f"--reject {wave}: wave {wave} of plan {plan.name} asks for no approval "
            f"(asking for one: {asking})"
        )


def resolve(
    project: Path, *, plan: str, org: str, scenario: str, reject: str | None = None
) -> Inputs:
    """Resolve and check a rehearsal's inputs; ``RehearsalInputError`` says what is wrong."""
    chosen = resolve_plan(plan, project)
    spec = resolve_org(org)
    faults = resolve_scenario(scenario)
    problems = misfits(chosen.plan, spec)
    if problems:
        raise RehearsalInputError(
            f"plan {chosen.name} ({chosen.path}) does not fit organization {spec.name}:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
            + f"\nthe organization's OUs: {listed(ou_paths(spec))}"
        )
    check_reject(chosen.plan, reject)
    warnings = region_warnings(chosen.plan, spec) + scenario_warnings(faults, spec)
    return Inputs(plan=chosen, org=spec, scenario=faults, warnings=tuple(warnings))
