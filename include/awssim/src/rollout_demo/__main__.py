"""``make demo`` and ``make rehearse``: a whole staged rollout of a plan against an embedded
awssim.

    python -m rollout_demo [--plan NAME|FILE] [--org NAME|FILE] [--scenario NAME|FILE]
                           [--speed 300] [--dry-run] [--reject WAVE] [--ground-truth FILE]
                           [--endpoint URL]

With no argument it is the demo: the example plan (``examplepackage``) on awssim's ``demo``
organization, no faults. ``--plan`` names a plan of the project (``include/rollouts/<name>.yaml``)
or a plan file anywhere, ``--org`` an awssim organization (``demo``, ``field``, ``synthetic:N``)
or an org file (the YAML ``distributor_rollout snapshot`` writes), ``--scenario`` a shipped
fault scenario (``happy``, ``canary-failure``, ``stackset-failure``, ``throttling``,
``unmanaged-nodes``, ``offline-rollback``) or a scenario file. They are checked before anything
starts (``rollout_demo.inputs``): every OU the plan's waves name must be in the organization.

Airflow runs from ``.airflow/demo`` in the repository (its SQLite DB is migrated first);
awssim serves the organization on loopback and ``aws_default`` points at it (``--endpoint``:
an awssim served apart, ``python -m awssim serve``, simulating the same organization,
scenario and speed, so its work is not this process's: ``rollout_demo.endpoint``). The plan's DAG
(``rollout_demo.dags_folder``: the project's DAG file, or one generated for a plan elsewhere)
runs through ``dag.test()``: real tasks, real triggers, real HTTP calls. Approvals are
answered by a stand-in approver (``--reject WAVE`` rejects that wave's). Each task is printed
as its state changes, the report table at the end; the exit status is 0 when the rollout
succeeded, 1 otherwise, with a one-line summary, and 2 when the inputs cannot be rehearsed.

awssim's clock runs ``--speed`` times real time, and the rollout's own waits (gate
timeouts, bake, polls) are scaled by the same factor (``[distributor_rollout]
time_scale``), so the plan's "bake 5 minutes" is 5 minutes of the simulated fleet.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from distributor_rollout.core.steps import (
    APPROVE,
    DEPLOY,
    ROLLBACK,
    ROLLBACK_XCOM_KEY,
    wave_task_id,
)
from rollout_demo import aws_connection
from rollout_demo.dags_folder import DagsFolder, dags_folder
from rollout_demo.endpoint import ServedAwssim, embedded
from rollout_demo.inputs import (
    DEFAULT_ORG,
    DEFAULT_PLAN,
    DEFAULT_SCENARIO,
    RehearsalInputError,
    add_input_arguments,
    resolve,
)
from rollout_demo.project import ProjectNotFound, project_dir

PLAN, ORG, SCENARIO = DEFAULT_PLAN, DEFAULT_ORG, DEFAULT_SCENARIO


def airflow_environment(
    home: Path,
    speed: float,
    *,
    verbose: bool = False,
    project: Path | None = None,
    dags: DagsFolder | None = None,
) -> dict[str, str]:
    """Airflow's settings for a self-contained run of ``project`` (default: the one found
    from the working directory), set before importing Airflow. ``dags`` is where the
    plan's DAG is (default: the project's dags/)."""
    project = project or project_dir()
    dags = dags or DagsFolder(project / "dags")
    return {
        "AIRFLOW_HOME": str(home),
        # Explicit, so a database configured in the caller's environment is never touched.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home.resolve() / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO" if verbose else "WARNING",
        # Quiet what says nothing about the rollout: operator links looking up their XCom
        # before it exists (a logged 404) and third-party deprecation warnings. A failed
        # task's traceback ("task") is replaced by the reason it recorded on its progress
        # line; --verbose shows everything.
        "AIRFLOW__LOGGING__NAMESPACE_LEVELS": ""
        if verbose
        else "airflow.sdk.api.client=CRITICAL py.warnings=ERROR task=CRITICAL",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags.path),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(project / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE": str(speed),
        # dag.test() runs triggers in this process, with no scheduler or executor: the
        # deferral race the floor guards against cannot happen here (make ui keeps it).
        "AIRFLOW__DISTRIBUTOR_ROLLOUT__MIN_DEFERRAL_SECONDS": "0",
        **dags.settings,
    }


def quiet_loggers() -> None:
    """Quiet the standard-library loggers Airflow's namespace levels do not reach: dag.test()
    noting each second that later waves cannot run yet, the local DB's unencrypted
    connections, and urllib3 discarding a pooled connection to awssim when a large wave's
    parallel reads outnumber the pool."""
    for noisy in ("airflow.sdk.definitions.dag", "airflow.models.crypto", "urllib3.connectionpool"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The demo's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m rollout_demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser)
    parser.add_argument("--speed", type=float, default=300.0, help="awssim clock speed")
    parser.add_argument("--dry-run", action="store_true", help="trigger with dry_run=true")
    parser.add_argument("--reject", metavar="WAVE", help="reject the approval of this wave")
    parser.add_argument(
        "--home", type=Path, help="Airflow home (default: the project's .airflow/demo)"
    )
    parser.add_argument(
        "--ground-truth",
        metavar="FILE",
        type=Path,
        help="write awssim's ground truth after the run (JSON, as GET /_awssim/state serves "
        "it: every node's installed versions, the stack sets, the calls that changed AWS)",
    )
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="rehearse against the awssim served at URL (python -m awssim serve with the same "
        "--org, --scenario and --speed) instead of one embedded in this process",
    )
    parser.add_argument("--verbose", action="store_true", help="show every task's log")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the rehearsal; the process exit status."""
    args = parse_args(argv)
    try:
        project = project_dir()
        inputs = resolve(
            project, plan=args.plan, org=args.org, scenario=args.scenario, reject=args.reject
        )
        served = ServedAwssim(args.endpoint) if args.endpoint else None
        if served is not None:
            served.check(inputs, args.speed)
    except (ProjectNotFound, RehearsalInputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # The demo's own lines say [demo]; a rehearsal of another plan or organization says so.
    tag = "demo" if (args.plan, args.org) == (PLAN, ORG) else "rehearse"
    for warning in inputs.warnings:
        print(f"[{tag}] warning: {warning}")
    home = args.home or project / ".airflow" / "demo"
    home.mkdir(parents=True, exist_ok=True)
    dags = dags_folder(inputs.plan, project, home)
    os.environ.update(
        airflow_environment(home, args.speed, verbose=args.verbose, project=project, dags=dags)
    )

    # Airflow reads its environment on import: only now.
    from airflow.utils.db import upgradedb  # noqa: PLC0415

    from distributor_rollout.dag_factory import dag_id_for  # noqa: PLC0415
    from rollout_demo.rehearsal import rehearse  # noqa: PLC0415

    if not args.verbose:
        quiet_loggers()

    print(f"[{tag}] migrating the Airflow metadata DB in {home}")
    upgradedb()
    if dags.generated:
        print(f"[{tag}] plan {inputs.plan.name} ({inputs.plan.path}): its DAG is in {dags.path}")
    rejected = wave_task_id(args.reject, APPROVE) if args.reject else None
    awssim = nullcontext(served) if served is not None else embedded(inputs, args.speed)
    with awssim as server:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection(server.endpoint_url)
        print(
            f"[{tag}] awssim: {inputs.org.name} organization, scenario {inputs.scenario.name}, "
            f"clock x{args.speed:g}, at {server.endpoint_url}"
        )
        params = {"dry_run": True} if args.dry_run else {}
        result = rehearse(
            dag_id_for(inputs.plan.name),
            params,
            decide=lambda task_id: task_id != rejected,
            progress=True,
        )
        if args.ground_truth is not None:
            args.ground_truth.write_text(json.dumps(server.state(), indent=1))
    return print_outcome(result, tag, dry_run=args.dry_run)


def print_outcome(result: Any, tag: str, *, dry_run: bool) -> int:
    """The run's report table, its rollback and one line of summary; the exit status."""
    from distributor_rollout.core.report import RunReport, render_table  # noqa: PLC0415

    if result.report is None:
        failed = sorted(t for t, s in result.task_states.items() if s == "failed")
        print(f"[{tag}] the run ended {result.state} without a report (failed: {failed})")
        return 1
    report = RunReport.from_dict(result.report)
    print()
    if dry_run:
        print_planned(result)
    print(render_table(report))
    print_rollback(result)
    print()
    if result.succeeded:
        print(f"[{tag}] OK: {report.summary}")
        return 0
    print(f"[{tag}] FAILED: {report.summary}")
    return 1


def print_planned(result: Any) -> None:
    """What a dry run would have done, wave by wave (the deploy tasks' plans)."""
    from rollout_demo.rehearsal import xcom  # noqa: PLC0415 (after Airflow's environment)

    for wave in [wave["name"] for wave in (result.report or {}).get("waves") or []]:
        deployed = xcom(result.dag_id, result.run_id, wave_task_id(wave, DEPLOY)) or {}
        total = deployed.get("targets_total", len(deployed.get("targets") or []))
        print(f"dry run, wave {wave}: {total} account/Region targets")
        for call in deployed.get("planned") or []:
            print(
                f"  would call {call['api_call']} on {call['accounts']} accounts in "
                f"{', '.join(call['regions'])} ({call['targets']} targets)"
            )
    print()


def print_rollback(result: Any) -> None:
    """What the rollback did, action by action."""
    from rollout_demo.rehearsal import xcom  # noqa: PLC0415 (after Airflow's environment)

    rollback = xcom(result.dag_id, result.run_id, ROLLBACK, ROLLBACK_XCOM_KEY)
    if not rollback:
        return
    print("rollback actions:")
    for action in rollback.get("actions") or []:
        print(f"  {action.get('kind')}: {action.get('status')} - {action.get('summary', '')}")
    # The record lists only the first targets of each kind; its totals count them all
    # (records from before the totals list every target).
    restored = rollback.get("restored_total", len(rollback.get("restored") or []))
    print(f"  restored {restored} targets", end="")
    failed = rollback.get("failed") or []
    failed_total = rollback.get("failed_total", len(failed))
    unlisted = f", and {failed_total - len(failed)} more" if failed_total > len(failed) else ""
    print(f", {failed_total} not restored: {', '.join(failed)}{unlisted}" if failed_total else "")


if __name__ == "__main__":
    sys.exit(main())
