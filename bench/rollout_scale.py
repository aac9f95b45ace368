"""Benchmark: a whole rollout at organization scale, as ``make rehearse`` runs it.

Measured: ``python -m rollout_demo`` (``dag.test()``: every task and trigger for real, in
one process) rehearsing a 4-wave plan on a generated organization, against awssim served
in its own process (``--endpoint``), once per size: 100 and 1,000 accounts × 3 Regions (the
default run); ``--long`` adds 5,000 accounts × 4 Regions (not in CI, not in ``make
bench``); ``--quick`` is 10 and 30 accounts × 3 Regions. The organization (an org file, see
awssim's ``orgspec``) has four top OUs, one per wave: ``/Canary`` (one OU, 2% of the
accounts), ``/NonProd`` (18%), ``/ProdA`` (30%) and ``/ProdB`` (50%), each but the canary
split into child OUs of at most 50 accounts; one managed node per account/Region. The plan
is the example plan with those four waves over every Region, no approvals, and what a plan
for thousands of accounts would set: operations over Regions in parallel, half of a
Region's accounts at a time, 10% failure tolerance (soft), where the example plan's
default (strict, no failure tolerated) deploys one account at a time (hours of simulated
time per wave at 1,000 accounts); the gate's timeout raised to 6 hours, so that a slow
poll of a large wave is measured, not failed; and the association's schedule at a day
rather than 30 minutes. The gate waits for the association's first run, which it makes
when it is created, whatever its schedule; at 30 minutes of the x300 clock every node
would also re-run it every 6 real seconds: thousands of simulated agent runs a second at
20,000 nodes, which saturate awssim's process (and measure the simulator, not the
product).

Printed per size, each against the same figure at the first size (the baseline, measured
in the same run: 100 accounts, or 10 with ``--quick``):

- wall time of the rehearsal (reported; it grows with the organization) and the time
  its tasks spent in each step (deploy, wait operation, wait compliance);
- CPU per target of the rehearsal process: the product's tasks and triggers plus the
  Airflow machinery of that process (``dag.test()``'s loop, the SQLite metadata DB, DAG
  parsing, the DB migration at start). awssim's CPU is not in it (its own process; printed
  apart). Budget: flat, ≤ 1.2× (printed, not failed);
- API calls per target, all and by operation, counted by awssim as they arrive
  (``GET /_awssim/operations``). Issue 14: "calls per target constant as the organization
  grows (show 100 / 1,000 / 5,000)": ≤ 1.2× the figure at 100 (count; fails the run).
  1.2 leaves room for pagination rounding: a list call answers 100 items a page, so
  pages per target move a little with how full the last page is. The compliance gate's
  reads (``ssm.ListAssociations``, ``ssm.DescribeInstanceInformation``: one per target per
  poll) are apart, printed against the same bound but not failing the run: how many polls
  a wave takes follows the clock (the poll interval and the bake are real seconds under
  the time scale, and a poll of a large wave spans more of them), not the organization;
  ``compliance_poll.py`` holds the calls of one poll to its budget;
- StackSets operations started per wave (``CreateStackInstances``, ``UpdateStackSet``,
  ``UpdateStackInstances``, ``DeleteStackInstances``). Issue 14: "Keep StackSets calls per
  wave constant in the number of accounts (OU targets and account filters, not one call
  per account)": ≤ 1.0× (count);
- the largest XCom value (bytes of its JSON in the metadata DB after the run) and the
  report (the ``report`` XCom, the JSON uploaded to S3). Issue 14: "XComs bounded (no
  list of every node in XCom; summaries and an S3 object for detail)": ≤ 1.2× (count);
- peak RSS of the rehearsal process. In a rehearsal the worker and the triggerer are
  that one process (tasks and triggers run in it), so its peak is theirs together
  (reported).

Run: ``.venv/bin/python bench/rollout_scale.py [--quick | --long] [--speed 300]
[--json F]``. ``--sizes 100,1000x4`` chooses the sizes (accounts, × Regions; the first is
the baseline). On 2 shared cores the default run takes 2 to 3 minutes (1,000 × 3: 70 to
120 s), ``--long`` about 14 minutes (5,000 × 4: 11.5 minutes, 61% of it in the compliance
gate); ``--quick`` about 1.5 minutes, nearly all of it the fixed cost of two rehearsals
(Airflow's start, the DB migration, the DAG parse, some 20 tasks run one after another by
``dag.test()``), whatever their size.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from benchlib import (
    BENCH_HOME,
    REPO,
    Figure,
    Figures,
    arguments,
    awssim_server,
    control,
    exit_with,
)

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1")
WAVES = (("canary", "Canary", 0.02), ("nonprod", "NonProd", 0.18), ("prod_a", "ProdA", 0.30))
LAST_WAVE = ("prod_b", "ProdB")
"""The plan's waves: (name, top OU, share of the accounts); the last takes the rest."""
OU_SIZE = 50
"""At most this many accounts in one child OU (the canary's single OU excepted)."""
ADMIN, MANAGEMENT = "222222222222", "111111111111"
FIRST_MEMBER = 400000000000
STARTING_CALLS = frozenset(
    {
        "cloudformation.CreateStackInstances",
        "cloudformation.UpdateStackSet",
        "cloudformation.UpdateStackInstances",
        "cloudformation.DeleteStackInstances",
    }
)
"""The StackSets calls that start an operation."""
GATE_POLLS = frozenset({"ssm.ListAssociations", "ssm.DescribeInstanceInformation"})
"""What the compliance gate reads per account/Region per poll (``AssociationStatusHook``):
how many polls a wave takes is set by the clock (poll interval, bake), not the org."""
STEPS = ("deploy", "wait_operation", "wait_compliance")
HOME = BENCH_HOME / "rollout_scale"


@dataclass(frozen=True)
class Size:
    """One organization size: accounts × Regions."""

    accounts: int
    regions: int

    @property
    def targets(self) -> int:
        """Account/Regions the rollout deploys to (every member account, every Region)."""
        return self.accounts * self.regions

    @property
    def label(self) -> str:
        """``1000x3``."""
        return f"{self.accounts}x{self.regions}"


@dataclass
class Measured:
    """What one rehearsal at one size gave."""

    size: Size
    exit_code: int
    wall: float
    cpu: float
    rss_mib: float
    awssim_cpu: float
    awssim_rss_mib: float
    calls: dict[str, int]
    xcoms: list[tuple[str, str, int]]
    step_seconds: dict[str, float]
    waves: int = len(WAVES) + 1
    table: list[str] = field(default_factory=list)
    """The rehearsal's report table, as it printed it."""

    @property
    def total_calls(self) -> int:
        """Every API call awssim answered but the gate's per-poll reads."""
        return sum(n for op, n in self.calls.items() if op not in GATE_POLLS)

    @property
    def gate_reads(self) -> int:
        """The gate's per-poll reads."""
        return sum(n for op, n in self.calls.items() if op in GATE_POLLS)

    @property
    def largest_xcom(self) -> tuple[str, str, int]:
        """(task, key, bytes) of the largest XCom value."""
        return max(self.xcoms, key=lambda item: item[2])

    @property
    def report_bytes(self) -> int:
        """The report's size (the ``report`` task's ``report`` XCom)."""
        return next(n for task, key, n in self.xcoms if (task, key) == ("report", "report"))

    @property
    def operations_started(self) -> int:
        """StackSets operations started, over the whole run."""
        return sum(n for op, n in self.calls.items() if op in STARTING_CALLS)


def org_file(size: Size) -> dict[str, Any]:
    """The organization: one top OU per wave, child OUs of at most ``OU_SIZE`` accounts."""
    counts = [max(2, int(size.accounts * share)) for _, _, share in WAVES]
    counts.append(size.accounts - sum(counts))
    if counts[-1] < 1:
        raise SystemExit(f"{size.accounts} accounts are too few for four waves")
    units, next_id = [], FIRST_MEMBER
    for (_, top, _), count in zip([*WAVES, (*LAST_WAVE, 0.0)], counts, strict=True):
        children = 1 if top == "Canary" else -(-count // OU_SIZE)
        leaves: list[dict[str, Any]] = [
            {"name": f"{top}{index:03d}", "accounts": []} for index in range(children)
        ]
        for index in range(count):
            account = {"id": f"{next_id:012d}", "name": f"member-{next_id - FIRST_MEMBER:05d}"}
            leaves[index % children]["accounts"].append(account)
            next_id += 1
        units.append({"name": top, "units": leaves})
    units.append({"name": "Security", "accounts": [{"id": ADMIN, "name": "delegated-admin"}]})
    return {
        "name": f"scale-{size.label}",
        "management_account": {"id": MANAGEMENT},
        "delegated_admin": ADMIN,
        "regions": list(REGIONS[: size.regions]),
        "units": units,
        "fleet": {
            "nodes_per_target": [1, 1],
            "profiles": [
                {
                    "platform": "amazon",
                    "platform_version": "2023",
                    "tags": {"Distributor": "enabled"},
                }
            ],
        },
    }


def plan_file(size: Size) -> dict[str, Any]:
    """The example plan with four waves over the organization's top OUs, every Region."""
    plan: dict[str, Any] = yaml.safe_load(
        (REPO / "include" / "rollouts" / "examplepackage.yaml").read_text()
    )
    regions = list(REGIONS[: size.regions])
    plan["name"] = f"scale{size.label}"
    plan["package"]["source"] = str(REPO / "include" / "packages" / "examplepackage")
    plan["defaults"]["operation"] = {
        "max_concurrent_percentage": 50,
        "failure_tolerance_percentage": 10,
        "region_concurrency": "PARALLEL",
        "concurrency_mode": "SOFT_FAILURE_TOLERANCE",
        "region_order": regions,
    }
    plan["defaults"]["gate"]["timeout"] = "6h"
    plan["association"]["schedule"] = "rate(1 day)"
    plan["waves"] = [
        {"name": name, "ous": [f"/{top}"], "regions": regions}
        for name, top in [(name, top) for name, top, _ in WAVES] + [LAST_WAVE]
    ]
    return plan


def reap(process: subprocess.Popen[str]) -> tuple[float, float]:
    """Wait for ``process``; its (CPU seconds, peak RSS MiB) from ``wait4``."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def run_records(db: Path, dag_id: str) -> tuple[list[tuple[str, str, int]], dict[str, float]]:
    """The latest run's XComs (task, key, bytes of the stored JSON) and the seconds its
    tasks spent per wave step (summed over the waves), from the metadata DB."""
    with sqlite3.connect(db) as connection:
        run_id = connection.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()[0]
        xcoms = connection.execute(
            "SELECT task_id, key, length(CAST(value AS BLOB)) FROM xcom "
            "WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id),
        ).fetchall()
        spans = connection.execute(
            "SELECT task_id, (julianday(end_date) - julianday(start_date)) * 86400 "
            "FROM task_instance WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id),
        ).fetchall()
    steps = dict.fromkeys(STEPS, 0.0)
    for task_id, seconds in spans:
        step = task_id.rpartition(".")[2]
        if step in steps and seconds is not None:
            steps[step] += seconds
    return [(task, key, int(size or 0)) for task, key, size in xcoms], steps


def rehearse(size: Size, speed: float, scratch: Path, *, verbose: bool) -> Measured:
    """Generate the org and the plan, serve awssim, rehearse; what it measured."""
    folder = scratch / size.label
    folder.mkdir()
    org, plan = folder / "org.yaml", folder / f"scale{size.label}.yaml"
    org.write_text(yaml.safe_dump(org_file(size), sort_keys=False))
    plan.write_text(yaml.safe_dump(plan_file(size), sort_keys=False))
    HOME.mkdir(parents=True, exist_ok=True)
    print(f"-- {size.label}: {size.targets} targets, awssim clock x{speed:g}", flush=True)
    # Its stderr goes to a log: the HTTP server notes every idle keep-alive connection it
    # closes. The caller reaps it (``reap``) to read its resource usage.
    serve = ["-m", "awssim", "serve", "--port", "0", "--org", str(org), "--scenario", "happy"]
    with awssim_server([*serve, "--speed", f"{speed:g}"], stderr=folder / "awssim.log") as (
        endpoint,
        server,
    ):
        command = [sys.executable, "-m", "rollout_demo", "--plan", str(plan), "--org", str(org)]
        command += ["--scenario", "happy", "--speed", f"{speed:g}", "--home", str(HOME)]
        command += ["--endpoint", endpoint]
        started = time.perf_counter()
        rehearsal = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert rehearsal.stdout is not None
        lines = []
        for line in rehearsal.stdout:
            lines.append(line.rstrip("\n"))
            if verbose:
                print(f"   {line}", end="", flush=True)
        cpu, rss = reap(rehearsal)
        wall = time.perf_counter() - started
        calls = control(endpoint, "operations")
        server.terminate()
        awssim_cpu, awssim_rss = reap(server)
    xcoms, steps = run_records(HOME / "airflow.db", f"distributor_rollout__scale{size.label}")
    measured = Measured(
        size, rehearsal.returncode, wall, cpu, rss, awssim_cpu, awssim_rss, calls, xcoms, steps
    )
    measured.table = report_table(lines)
    print(
        f"   exit {measured.exit_code} in {wall:.1f}s; rehearsal CPU {cpu:.1f}s, peak RSS "
        f"{rss:.0f} MiB; awssim CPU {awssim_cpu:.1f}s, peak RSS {awssim_rss:.0f} MiB; "
        f"{measured.total_calls} API calls and {measured.gate_reads} gate reads; time in "
        "steps: " + ", ".join(f"{step} {seconds:.1f}s" for step, seconds in steps.items()),
        flush=True,
    )
    shown = measured.table if measured.exit_code == 0 else lines[-40:]
    print("\n".join(f"   | {line}" for line in shown), flush=True)
    if measured.exit_code != 0:
        errors = (folder / "awssim.log").read_text().splitlines()[-20:]
        print("\n".join(f"   awssim | {line}" for line in errors), flush=True)
    return measured


def report_table(lines: list[str]) -> list[str]:
    """The report table a rehearsal prints (from its ``package ...`` line to the next blank
    one) and its last line, the outcome."""
    start = next((i for i, line in enumerate(lines) if line.startswith("package ")), len(lines))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return [*lines[start:end], *lines[-1:]]


def record(figures: Figures, base: Measured, runs: list[Measured]) -> None:
    """Every figure of every size against the baseline size's."""
    b = base.size
    for run in runs:
        s, at = run.size, run.size.label
        same = f"at {b.label}"
        figures.add(
            Figure(
                f"rollout.ok.{at}",
                run.exit_code,
                "exit",
                budget=0,
                kind="count",
                note="the rehearsal's exit status: 0 when the rollout succeeded",
            )
        )
        figures.add(
            Figure(
                f"rollout.wall.{at}",
                run.wall,
                "s",
                base.wall,
                same,
                note=f"{s.targets} targets vs {b.targets}",
            )
        )
        figures.add(
            Figure(
                f"rollout.cpu_per_target.{at}",
                run.cpu / s.targets * 1000,
                "ms",
                base.cpu / b.targets * 1000,
                same,
                budget=1.2,
                note="rehearsal process (tasks, triggers, Airflow); awssim apart",
            )
        )
        figures.add(
            Figure(
                f"rollout.awssim_cpu_per_target.{at}",
                run.awssim_cpu / s.targets * 1000,
                "ms",
                base.awssim_cpu / b.targets * 1000,
                same,
                note="the simulator's process: not the product",
            )
        )
        figures.add(
            Figure(
                f"rollout.calls_per_target.{at}",
                run.total_calls / s.targets,
                "calls",
                base.total_calls / b.targets,
                same,
                budget=1.2,
                kind="count",
                note="every call but the gate's per-poll reads",
            )
        )
        figures.add(
            Figure(
                f"rollout.gate_reads_per_target.{at}",
                run.gate_reads / s.targets,
                "calls",
                base.gate_reads / b.targets,
                same,
                budget=1.2,
                note="one per target per poll: polls per wave follow the clock",
            )
        )
        for operation in sorted(set(run.calls) | set(base.calls)) if run is not base else ():
            polls = operation in GATE_POLLS
            figures.add(
                Figure(
                    f"rollout.calls.{operation}.{at}",
                    run.calls.get(operation, 0) / s.targets,
                    "/target",
                    base.calls.get(operation, 0) / b.targets,
                    same,
                    budget=1.2,
                    kind="time" if polls else "count",
                    note=f"{run.calls.get(operation, 0)} calls" + (", gate polls" if polls else ""),
                )
            )
        figures.add(
            Figure(
                f"rollout.operations_per_wave.{at}",
                run.operations_started / run.waves,
                "calls",
                base.operations_started / base.waves,
                same,
                budget=1.0,
                kind="count",
                note="StackSets operations started per wave",
            )
        )
        task, key, largest = run.largest_xcom
        figures.add(
            Figure(
                f"rollout.largest_xcom.{at}",
                largest,
                "bytes",
                base.largest_xcom[2],
                same,
                budget=1.2,
                kind="count",
                note=f"{task} {key}",
            )
        )
        figures.add(
            Figure(
                f"rollout.report.{at}",
                run.report_bytes,
                "bytes",
                base.report_bytes,
                same,
                budget=1.2,
                kind="count",
            )
        )
        figures.add(
            Figure(
                f"rollout.peak_rss.{at}",
                run.rss_mib,
                "MiB",
                base.rss_mib,
                same,
                note="worker + triggerer: one rehearsal process",
            )
        )


def main() -> None:
    """Rehearse each size, then print every figure against the first size's."""
    parser = arguments(__doc__)
    parser.add_argument(
        "--long", action="store_true", help="also 5,000 accounts x 4 Regions (minutes)"
    )
    parser.add_argument("--sizes", help="accounts[xREGIONS],... (default 100,1000)")
    parser.add_argument("--speed", type=float, default=300.0, help="awssim's clock, x real time")
    parser.add_argument("--verbose", action="store_true", help="show the rehearsals' output")
    args = parser.parse_args()
    if args.sizes:
        sizes = [
            Size(int(accounts), int(regions or 3))
            for accounts, _, regions in (item.partition("x") for item in args.sizes.split(","))
        ]
    elif args.quick:
        sizes = [Size(10, 3), Size(30, 3)]
    else:
        sizes = [Size(100, 3), Size(1000, 3)] + ([Size(5000, 4)] if args.long else [])
    figures = Figures(bench="rollout_scale")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        runs = [rehearse(size, args.speed, Path(scratch), verbose=args.verbose) for size in sizes]
    print(f"-- rehearsals took {time.perf_counter() - started:.0f}s in all")
    record(figures, runs[0], runs)
    exit_with(figures, args.json)


if __name__ == "__main__":
    main()
