"""The finished rollout ``make ui`` opens on: the demo's run of the plan (by default the
example plan), recorded in the UI's metadata DB before Airflow's components start, so the
Rollout tab and the Distributor rollouts view have a run to show from the first page.

    python -m rollout_demo.demo_run --result FILE [--plan NAME] [--org NAME] [--scenario NAME]

runs the plan's DAG (``--plan``: the plan's name, its DAG in Airflow's DAGs folder) once with
``dag.test()`` (``rehearsal.rehearse``: every task for real against the awssim ``aws_default``
names, approvals granted by the stand-in approver). The result is an ordinary manual run of
the DAG the UI lists, with its task instances and XComs. It carries a note saying where it
came from (``--org`` and ``--scenario`` name what awssim simulated); once it has finished,
earlier runs carrying that note are deleted (as the UI's *Delete* does), whichever plan they
ran, so calling ``make ui`` again leaves one demo run, the new one. Runs triggered from the
UI carry no such note and are never touched. The outcome is written to FILE as JSON
(``DemoRun``) for the launcher.

The launcher (``rollout_demo.ui``) runs this in a child process whose environment is Airflow's
for the UI's home, with the demo's clock: awssim runs fast while the run is recorded, and the
rollout's waits are scaled by the same factor. Airflow reads its environment on import, so
Airflow is imported only inside the functions that use it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollout_demo.__main__ import ORG, PLAN, quiet_loggers

NOTE_PREFIX = "Demo run recorded by make ui"
"""How a run this module recorded starts its note: the runs the next call replaces."""


def note_for(scenario: str, org: str = ORG) -> str:
    """The note on the demo run against ``org`` and ``scenario`` (shown on the run's page in
    the UI)."""
    return (
        f"{NOTE_PREFIX} with dag.test() on awssim (organization {org}, scenario {scenario}); "
        "the next make ui replaces it."
    )


@dataclass(frozen=True, slots=True)
class DemoRun:
    """How the demo run ended, as the launcher prints it."""

    dag_id: str
    run_id: str
    state: str
    """The DAG run's state: ``success`` or ``failed`` (a rolled-back run fails)."""
    summary: str | None
    """The report's one line (None when the run ended without a report)."""
    replaced: tuple[str, ...] = ()
    """The earlier demo runs deleted in its favour."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, for the launcher."""
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "state": self.state,
            "summary": self.summary,
            "replaced": list(self.replaced),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DemoRun:
        """What ``to_dict`` wrote."""
        return cls(
            dag_id=str(data["dag_id"]),
            run_id=str(data["run_id"]),
            state=str(data["state"]),
            summary=None if data.get("summary") is None else str(data["summary"]),
            replaced=tuple(str(run_id) for run_id in data.get("replaced") or ()),
        )


def record_demo_run(
    scenario: str,
    params: Mapping[str, Any] | None = None,
    *,
    plan: str = PLAN,
    org: str = ORG,
) -> DemoRun:
    """Run the DAG of the plan named ``plan`` once into Airflow's metadata DB (migrated
    first), note the run as the demo run against ``org`` and ``scenario`` and delete the
    earlier demo runs; its outcome.

    ``params`` are the trigger form's values (none: the plan as it is). awssim and the time
    scale are whatever ``aws_default`` and ``[distributor_rollout] time_scale`` name.
    """
    from airflow.utils.db import upgradedb  # noqa: PLC0415 (after Airflow's environment)

    from distributor_rollout.dag_factory import dag_id_for  # noqa: PLC0415
    from rollout_demo.rehearsal import rehearse  # noqa: PLC0415

    upgradedb()
    result = rehearse(dag_id_for(plan), params)
    replaced = keep_one_demo_run(result.dag_id, result.run_id, note_for(scenario, org))
    forget_spent_triggers()
    return DemoRun(
        dag_id=result.dag_id,
        run_id=result.run_id,
        state=result.state,
        summary=(result.report or {}).get("summary"),
        replaced=replaced,
    )


def keep_one_demo_run(dag_id: str, run_id: str, note: str) -> tuple[str, ...]:
    """Note ``run_id`` of ``dag_id`` as the demo run and delete the other demo runs, of this
    DAG or another plan's (their task instances, XComs and task state go with them, by the
    DB's cascades); their ids.

    Only runs ``dag.test()`` made that carry the demo's note are deleted: a run triggered
    from the UI, or one whose note someone rewrote, stays.
    """
    from airflow.models.dagrun import DagRun  # noqa: PLC0415 (after Airflow's environment)
    from airflow.utils.session import create_session  # noqa: PLC0415
    from airflow.utils.types import DagRunTriggeredByType  # noqa: PLC0415
    from sqlalchemy import select  # noqa: PLC0415

    replaced: list[str] = []
    with create_session() as session:
        runs = session.scalars(
            select(DagRun).where(DagRun.triggered_by == DagRunTriggeredByType.TEST)
        ).all()
        for run in runs:
            if (run.dag_id, run.run_id) == (dag_id, run_id):
                run.note = note
            elif (run.note or "").startswith(NOTE_PREFIX):
                replaced.append(run.run_id)
                session.delete(run)
    return tuple(replaced)


def forget_spent_triggers() -> None:
    """Delete the triggers no task waits on any more, as the triggerer does from time to time.

    ``dag.test()`` runs each deferral's trigger in this process and leaves its row behind;
    left there, the session's triggerer would run them again against awssim once it starts
    (their events change nothing: no task is deferred on them).
    """
    from airflow.models.trigger import Trigger  # noqa: PLC0415 (after Airflow's environment)
    from airflow.utils.session import create_session  # noqa: PLC0415

    with create_session() as session:
        Trigger.clean_unused(session=session)


def main(argv: Sequence[str] | None = None) -> int:
    """Record the demo run and write its outcome; 0 once a run finished, whatever its state
    (a scenario's rolled-back run is a demo too)."""
    parser = argparse.ArgumentParser(prog="python -m rollout_demo.demo_run", description=__doc__)
    parser.add_argument("--result", type=Path, required=True, help="where to write the outcome")
    parser.add_argument("--plan", default=PLAN, help="the name of the plan whose DAG runs")
    parser.add_argument("--org", default=ORG, help="awssim's organization, for the note")
    parser.add_argument("--scenario", default="happy", help="awssim's scenario, for the note")
    args = parser.parse_args(argv)
    quiet_loggers()  # as make demo quiets them
    # An error propagates: its traceback, exit status 1 (the launcher starts the UI anyway).
    demo = record_demo_run(args.scenario, plan=args.plan, org=args.org)
    args.result.write_text(json.dumps(demo.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
