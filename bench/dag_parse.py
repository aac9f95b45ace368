"""Benchmark: parsing a plan's thin DAG file, the way Airflow 3.3's dag-processor parses it.

What is measured, against what (every baseline is measured in the same run, in turns):

- ``dag_parse.file``: the shipped ``dags/rollout_examplepackage.py`` (the example plan's
  rollout DAG and its ``__retire`` DAG: one file builds both, so the baseline does too)
  against ``bench/dag_parse_baseline/rollout_handwritten.py``, the same two DAGs written
  by hand with the amazon provider's operators (S3, CloudFormation, Systems Manager, SNS)
  and the standard provider's approval, with the same number of tasks, task groups and
  params (compared from the parse: the run stops if they drift apart) and the imports a
  user would need. Median of ``--runs`` first parses, each by a fresh processor. Budget
  (issue 14): "≤ 1.5× that baseline".
- ``dag_parse.20_plans``: 20 thin files of 20 distinct plans (the example under other
  names) parsed by one processor loop, against 20 copies of the hand-written file (other
  DAG ids) parsed the same way. Budget: "≤ 3× for 20 plans parsed by one processor loop".
  ``dag_parse.20_plans.dagbag`` reads the same folders with one ``DagBag`` in one process
  (no child per file, as ``airflow dags list`` or a test does), with the same budget.
- ``dag_parse.per_wave.*``: plans of 4, 16 and 64 waves (8 OUs each): ``load_plan`` +
  ``params_form`` (``plan_and_form``), the thin file's whole work (``dag_file``: the plan
  read and parsed afresh, both DAGs built), and Airflow's serialization of both DAGs
  (``serialize``: what the dag-processor does next, every task with the DAG's params). A
  figure is the cost per wave added from 16 to 64 waves over that from 4 to 16 waves:
  the fixed cost of a file cancels out, so linear growth is a ratio near 1 and quadratic
  growth about 4. Best of 7 tries (of ``--runs`` for ``serialize``). Budget: "plan loading
  and form building must not grow with the plan beyond linear" (≤ 1.5).

Times are CPU seconds (user + system) of the processes that parse, wall times are in each
figure's note: parsing is CPU-bound, and on a shared machine the wall time measures the
neighbours as much as the parse. On an idle machine the two agree.

How the dag-processor parses (``airflow/dag_processing/manager.py`` and ``processor.py``,
Airflow 3.3.2): the manager is one long-lived process that has imported Airflow's core and
the processor, and calls ``gc.freeze()`` before its loop. For each file it imports, in
itself, every ``airflow.*`` module the file names at its top level
(``_pre_import_airflow_modules``; ``[dag_processor] parsing_pre_import_modules``, on by
default), then forks a child (``DagFileProcessorProcess.start``, ``os.fork``), which
imports the file through a ``BundleDagBag``, serializes its DAGs, sends them to the
manager and exits. A module the manager pre-imported costs later files nothing; any other
module (``distributor_rollout`` itself) is imported again by every child. This benchmark
does the same: a harness process imports what the manager imports and freezes the GC,
then forks a fresh "processor" per measurement; the processor runs, per file, the
pre-import and a child that calls ``processor._parse_file`` (stability check,
``BundleDagBag``, serialization) and sends the result as JSON through a pipe. A figure is
the processor's CPU plus its children's. The real manager runs ``parsing_processes`` (2)
children at once; here they run one after the other, which changes the wall time only.
The package and the DAG folders are compiled to bytecode first, as ``pip install`` does.

Run: ``.venv/bin/python bench/dag_parse.py [--runs 5] [--plans 20] [--quick] [--json F]``
(about 2 minutes on 2 cores). ``--quick``: the single file parsed twice, a loop of 5
plans once, the wave plans built twice (about 20 s).
"""

from __future__ import annotations

import argparse
import compileall
import gc
import importlib.util
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from benchlib import REPO, Figure, Figures, airflow_environment, arguments, exit_with

EXAMPLE_PLAN = REPO / "include" / "rollouts" / "examplepackage.yaml"
EXAMPLE_DAG_FILE = REPO / "dags" / "rollout_examplepackage.py"
EXAMPLE_PACKAGE = REPO / "include" / "packages" / "examplepackage"
BASELINE_DAG_FILE = (
    Path(__file__).resolve().parent / "dag_parse_baseline" / "rollout_handwritten.py"
)
BASELINE_PLAN_LINE = 'PLAN = "examplepackage"'
FILE_BUDGET = 1.5
LOOP_BUDGET = 3.0
PER_WAVE_BUDGET = 1.5
WAVE_COUNTS = (4, 16, 64)
OUS_PER_WAVE = 8
CHEAP_RUNS = 7
"""Tries of the growth stages that take milliseconds: the difference of two small times is
what a figure divides by, so it takes the best of more tries than ``--runs``."""
REGION_SETS = (["us-east-1"], ["us-east-1", "us-west-2"], ["us-east-1", "us-west-2", "eu-west-1"])


# --- The processor harness, in its own process (``--processor``): see the module doc.


def _processor_main() -> None:
    """Read the jobs (JSON on stdin), run them as a dag-processor would, print the times."""
    request = json.load(sys.stdin)
    airflow_environment()
    # What the dag-processor manager has imported before it forks its first child.
    import airflow.dag_processing.manager  # noqa: PLC0415 - the harness decides when
    import airflow.jobs.dag_processor_job_runner  # noqa: PLC0415, F401
    from airflow.dag_processing import processor  # noqa: PLC0415

    gc.freeze()
    results: dict[str, list[dict[str, Any]]] = {job["label"]: [] for job in request["jobs"]}
    for _ in range(request["rounds"]):
        for job in request["jobs"]:  # in turns, so a busier minute slows both sides
            results[job["label"]].append(_in_fresh_processor(processor, job))
    json.dump(results, sys.stdout)


def _forked(work: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], float]:
    """Run ``work`` in a forked child: its JSON-able result and the child's CPU seconds."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        try:
            outcome = work()
        except BaseException as error:  # noqa: BLE001 - reported to the parent, then exit
            outcome = {"error": repr(error)}
        with os.fdopen(writer, "w") as out:
            json.dump(outcome, out)
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as source:
        text = source.read()
    _, _, usage = os.wait4(pid, 0)
    outcome = json.loads(text)
    if "error" in outcome:
        raise RuntimeError(outcome["error"])
    return outcome, usage.ru_utime + usage.ru_stime


def _in_fresh_processor(processor: Any, job: dict[str, Any]) -> dict[str, Any]:
    """``job`` run by a fresh processor (forked from the harness: nothing pre-imported)."""
    run = _dagbag_job if job["mode"] == "dagbag" else _child_per_file_job
    outcome, _ = _forked(lambda: run(processor, job))
    return outcome


def _child_per_file_job(processor: Any, job: dict[str, Any]) -> dict[str, Any]:
    """The manager's loop over ``job['files']``: pre-import, fork, parse in the child, reap."""
    import structlog  # noqa: PLC0415

    log = structlog.get_logger(logger_name="bench")
    files: list[dict[str, Any]] = []
    cpu, wall = time.process_time(), time.perf_counter()
    children = 0.0
    for path in job["files"]:
        started = time.process_time()
        processor._pre_import_airflow_modules(path, log)
        pre_import = time.process_time() - started
        summary, child = _forked(lambda path=path: _parse_in_child(processor, path, job, log))
        children += child
        files.append({"pre_import": pre_import, "child": child, **summary})
    return {
        "cpu": time.process_time() - cpu + children,
        "wall": time.perf_counter() - wall,
        "files": files,
    }


def _parse_in_child(processor: Any, path: str, job: dict[str, Any], log: Any) -> dict[str, Any]:
    """What ``processor._parse_file_entrypoint`` does in the child, the result sent as JSON."""
    os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "client"
    request = processor.DagFileParseRequest(
        file=path, bundle_path=Path(job["bundle"]), bundle_name="bench"
    )
    result = processor._parse_file(request, log)
    sent = result.model_dump_json()  # the real child sends it (msgpack) to the manager
    return {
        "bytes": len(sent),
        "import_errors": result.import_errors or {},
        "dags": {lazy.data["dag"]["dag_id"]: _shape(lazy) for lazy in result.serialized_dags},
    }


def _dagbag_job(processor: Any, job: dict[str, Any]) -> dict[str, Any]:
    """One ``DagBag`` over the whole folder in this process, each DAG serialized."""
    import structlog  # noqa: PLC0415

    cpu, wall = time.process_time(), time.perf_counter()
    bag = processor.DagBag(job["bundle"])
    serialized, errors = processor._serialize_dags(bag, structlog.get_logger())
    return {
        "cpu": time.process_time() - cpu,
        "wall": time.perf_counter() - wall,
        "files": [
            {
                "import_errors": {**bag.import_errors, **errors},
                "dags": {lazy.data["dag"]["dag_id"]: _shape(lazy) for lazy in serialized},
            }
        ],
    }


def _shape(lazy: Any) -> dict[str, int]:
    """Tasks, task groups and params of a serialized DAG."""
    dag = lazy.data["dag"]

    def groups(group: dict[str, Any]) -> int:
        inner = [child[1] for child in group["children"].values() if child[0] == "taskgroup"]
        return len(inner) + sum(groups(child) for child in inner)

    return {
        "tasks": len(dag["tasks"]),
        "groups": groups(dag["task_group"]),
        "params": len(dag["params"]),
    }


# --- The benchmark's own process: writes the folders, runs the harness, prints figures.


@dataclass(frozen=True)
class Folders:
    """The plans and the DAG folders one run parses."""

    plans: Path
    single_ours: Path
    single_base: Path
    loop_ours: Path
    loop_base: Path

    def dag_folders(self) -> list[Path]:
        """Every DAG folder."""
        return [self.single_ours, self.single_base, self.loop_ours, self.loop_base]


def _plan_data(name: str) -> dict[str, Any]:
    """The example plan under another name (stack set, association), its source absolute."""
    data = yaml.safe_load(EXAMPLE_PLAN.read_text())
    data["name"] = name
    data["package"]["source"] = str(EXAMPLE_PACKAGE)
    data["stack_set"]["name"] = f"distributor-{name}"
    data["association"]["name"] = f"{name}-PackageDistributor"
    return data


def _write_folders(root: Path, plans: int) -> Folders:
    folders = Folders(*(root / name for name in ("plans", "one", "one-base", "loop", "loop-base")))
    for folder in (folders.plans, *folders.dag_folders()):
        folder.mkdir()
    thin = EXAMPLE_DAG_FILE.read_text()
    baseline = BASELINE_DAG_FILE.read_text()
    if BASELINE_PLAN_LINE not in baseline:
        raise SystemExit(f"{BASELINE_DAG_FILE} no longer says {BASELINE_PLAN_LINE}")
    (folders.plans / "examplepackage.yaml").write_text(yaml.safe_dump(_plan_data("examplepackage")))
    (folders.single_ours / EXAMPLE_DAG_FILE.name).write_text(thin)
    (folders.single_base / BASELINE_DAG_FILE.name).write_text(baseline)
    for number in range(1, plans + 1):
        name = f"bench-plan-{number:02d}"
        (folders.plans / f"{name}.yaml").write_text(yaml.safe_dump(_plan_data(name)))
        (folders.loop_ours / f"rollout_{name}.py").write_text(
            thin.replace('"examplepackage"', repr(name))
        )
        (folders.loop_base / f"handwritten_{number:02d}.py").write_text(
            baseline.replace(BASELINE_PLAN_LINE, f"PLAN = {name!r}")
        )
    return folders


def _compile(folders: Iterable[Path]) -> None:
    """Compile the package and the DAG folders to bytecode, as ``pip install`` does for an
    installed package: an editable install under ``PYTHONDONTWRITEBYTECODE`` would
    otherwise compile every module of the plugin again in every child."""
    spec = importlib.util.find_spec("distributor_rollout")
    if spec is None or spec.origin is None:
        raise SystemExit("distributor_rollout is not installed in this interpreter")
    for folder in (Path(spec.origin).parent, *folders):
        compileall.compile_dir(folder, quiet=1)


def _run_processor(
    jobs: list[dict[str, Any]], rounds: int, plans: Path
) -> dict[str, list[dict[str, Any]]]:
    """The harness in its own process, with the plans folder configured."""
    env = {**os.environ, "AIRFLOW__DISTRIBUTOR_ROLLOUT__PLANS_DIR": str(plans)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # read the bytecode _compile wrote
    done = subprocess.run(  # noqa: S603 - this interpreter, this script
        [sys.executable, str(Path(__file__).resolve()), "--processor"],
        input=json.dumps({"jobs": jobs, "rounds": rounds}),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the processor harness failed:\n{done.stderr[-4000:]}")
    results: dict[str, list[dict[str, Any]]] = json.loads(done.stdout)
    return results


def _job(label: str, folder: Path, mode: str = "child_per_file") -> dict[str, Any]:
    files = sorted(str(path) for path in folder.glob("*.py"))
    return {"label": label, "bundle": str(folder), "files": files, "mode": mode}


def _checked(label: str, runs: list[dict[str, Any]], dags: int) -> list[dict[str, Any]]:
    """The runs, once every file parsed without errors into the expected number of DAGs."""
    for run in runs:
        found = sum(len(file["dags"]) for file in run["files"])
        errors = {
            path: text for file in run["files"] for path, text in file["import_errors"].items()
        }
        if errors or found != dags:
            raise SystemExit(f"{label}: {found} DAGs (expected {dags}), import errors: {errors}")
    return runs


def _shapes(run: dict[str, Any]) -> list[tuple[int, int, int]]:
    """(tasks, groups, params) of each DAG a run parsed: the rollout's, then the retire's."""
    dags = {dag_id: shape for file in run["files"] for dag_id, shape in file["dags"].items()}
    ordered = sorted(dags, key=lambda dag_id: (dag_id.endswith("__retire"), dag_id))
    return [(dags[d]["tasks"], dags[d]["groups"], dags[d]["params"]) for d in ordered]


def _median_ms(runs: list[dict[str, Any]], key: str = "cpu") -> float:
    return statistics.median(run[key] for run in runs) * 1000


def _file_figure(figures: Figures, folders: Folders, runs: int) -> None:
    single = _run_processor(
        [_job("ours", folders.single_ours), _job("base", folders.single_base)], runs, folders.plans
    )
    ours = _checked("the shipped DAG file", single["ours"], 2)
    base = _checked("the hand-written baseline", single["base"], 2)
    if _shapes(ours[0]) != _shapes(base[0]):
        raise SystemExit(
            "the hand-written baseline no longer has the shipped file's shape (tasks, groups, "
            f"params per DAG): {_shapes(base[0])} vs {_shapes(ours[0])}; update it: "
            f"{BASELINE_DAG_FILE}"
        )
    shape = " and ".join(f"{t} tasks/{g} groups/{p} params" for t, g, p in _shapes(ours[0]))

    def split(runs: list[dict[str, Any]]) -> str:
        pre = statistics.median(run["files"][0]["pre_import"] for run in runs) * 1000
        child = statistics.median(run["files"][0]["child"] for run in runs) * 1000
        return f"pre-import {pre:.0f} + child {child:.0f}"

    figures.add(
        Figure(
            "dag_parse.file",
            _median_ms(ours),
            "cpu ms",
            baseline=_median_ms(base),
            baseline_label="hand-written",
            budget=FILE_BUDGET,
            note=f"median of {runs} fresh processors; 2 DAGs of {shape}; ours "
            f"{split(ours)}, baseline {split(base)} ms; wall {_median_ms(ours, 'wall'):.0f} "
            f"vs {_median_ms(base, 'wall'):.0f} ms",
        )
    )


def _loop_figures(figures: Figures, folders: Folders, plans: int, rounds: int) -> None:
    loop = _run_processor(
        [
            _job("ours", folders.loop_ours),
            _job("base", folders.loop_base),
            _job("ours-bag", folders.loop_ours, "dagbag"),
            _job("base-bag", folders.loop_base, "dagbag"),
        ],
        rounds,
        folders.plans,
    )
    for label, runs in loop.items():
        _checked(f"{plans} plans ({label})", runs, 2 * plans)

    def child_ms(label: str) -> float:
        return statistics.median(f["child"] for run in loop[label] for f in run["files"]) * 1000

    figures.add(
        Figure(
            f"dag_parse.{plans}_plans",
            _median_ms(loop["ours"]),
            "cpu ms",
            baseline=_median_ms(loop["base"]),
            baseline_label="hand-written",
            budget=LOOP_BUDGET,
            note=f"one processor, a child per file, median of {rounds}; a child "
            f"{child_ms('ours'):.0f} vs {child_ms('base'):.0f} ms; wall "
            f"{_median_ms(loop['ours'], 'wall'):.0f} vs {_median_ms(loop['base'], 'wall'):.0f} ms",
        )
    )
    figures.add(
        Figure(
            f"dag_parse.{plans}_plans.dagbag",
            _median_ms(loop["ours-bag"]),
            "cpu ms",
            baseline=_median_ms(loop["base-bag"]),
            baseline_label="hand-written",
            budget=LOOP_BUDGET,
            note=f"one DagBag over the folder in one process, median of {rounds}; wall "
            f"{_median_ms(loop['ours-bag'], 'wall'):.0f} vs "
            f"{_median_ms(loop['base-bag'], 'wall'):.0f} ms",
        )
    )


# --- Growth with the plan, in this process.


def _wave_plan(waves: int) -> dict[str, Any]:
    """The example plan with ``waves`` waves of OUS_PER_WAVE OUs each (the last asks for an
    approval), in one to three Regions."""
    data = _plan_data(f"waves-{waves}")
    data["waves"] = [
        {
            "name": f"wave{index:03d}",
            "ous": [f"/Org{index:03d}/Unit{unit}" for unit in range(OUS_PER_WAVE)],
            "regions": REGION_SETS[index % len(REGION_SETS)],
            **({"approval": True} if index == waves - 1 else {}),
        }
        for index in range(waves)
    ]
    return data


def _best_cpu(action: Callable[[], object], runs: int, before: Callable[[int], None]) -> float:
    """The least CPU seconds of ``runs`` calls of ``action``, ``before(run)`` untimed."""
    timings = []
    for run in range(runs):
        before(run)
        started = time.process_time()
        action()
        timings.append(time.process_time() - started)
    return min(timings)


def _per_wave(seconds: dict[int, float]) -> list[float]:
    """Seconds per wave added between consecutive plan sizes."""
    sizes = sorted(seconds)
    return [(seconds[b] - seconds[a]) / (b - a) for a, b in itertools.pairwise(sizes)]


def _growth_figures(figures: Figures, root: Path, runs: int) -> None:
    airflow_environment()
    from airflow.serialization.serialized_objects import DagSerialization  # noqa: PLC0415

    from distributor_rollout.core.plan_validation import load_plan  # noqa: PLC0415
    from distributor_rollout.dag_factory import rollout_dag  # noqa: PLC0415
    from distributor_rollout.params_form import params_form  # noqa: PLC0415
    from distributor_rollout.retire_factory import retire_dag  # noqa: PLC0415

    plans = root / "wave-plans"
    plans.mkdir()
    stages: dict[str, dict[int, float]] = {"plan_and_form": {}, "dag_file": {}, "serialize": {}}
    for waves in WAVE_COUNTS:
        name = f"waves-{waves}"
        path = plans / f"{name}.yaml"
        text = yaml.safe_dump(_wave_plan(waves))

        def fresh(run: int, path: Path = path, text: str = text) -> None:
            # Other bytes each time (the factories parse a plan once per content), and no
            # garbage of the run before to collect.
            path.write_text(f"{text}# run {run}\n")
            gc.collect()

        def dag_file(name: str = name) -> tuple[Any, Any]:
            return rollout_dag(name, plans_dir=plans), retire_dag(name, plans_dir=plans)

        stages["plan_and_form"][waves] = _best_cpu(
            lambda path=path: params_form(load_plan(path)), CHEAP_RUNS, fresh
        )
        stages["dag_file"][waves] = _best_cpu(dag_file, CHEAP_RUNS, fresh)
        dags = dag_file()
        stages["serialize"][waves] = _best_cpu(
            lambda dags=dags: [DagSerialization.to_dict(dag) for dag in dags],
            runs,
            lambda _: gc.collect(),
        )
        del dags
    first, last = f"{WAVE_COUNTS[0]} → {WAVE_COUNTS[1]}", f"{WAVE_COUNTS[-2]} → {WAVE_COUNTS[-1]}"
    for stage, seconds in stages.items():
        per_wave = _per_wave(seconds)
        totals = ", ".join(f"{w} waves {s * 1000:.1f}" for w, s in sorted(seconds.items()))
        figures.add(
            Figure(
                f"dag_parse.per_wave.{stage}",
                per_wave[-1] * 1000,
                "cpu ms",
                baseline=per_wave[0] * 1000,
                baseline_label=f"per wave {first} waves",
                budget=PER_WAVE_BUDGET,
                note=f"per wave {last} waves; best of "
                f"{runs if stage == 'serialize' else CHEAP_RUNS}: {totals} ms",
            )
        )


def main() -> None:
    """Measure and print every figure."""
    parser = arguments(__doc__)
    parser.add_argument("--runs", type=int, default=5, help="fresh processors per figure")
    parser.add_argument("--plans", type=int, default=20, help="plans in the processor loop")
    # The harness's own entry point (see the module doc), not for people.
    parser.add_argument("--processor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.processor:
        _processor_main()
        return
    runs, plans, loop_rounds = args.runs, args.plans, 3
    if args.quick:
        runs, plans, loop_rounds = 2, 5, 1
    figures = Figures(bench="dag_parse")
    airflow_environment()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        folders = _write_folders(root, plans)
        _compile(folders.dag_folders())
        _file_figure(figures, folders, runs)
        _loop_figures(figures, folders, plans, loop_rounds)
        _growth_figures(figures, root, runs)
    exit_with(figures, args.json)


if __name__ == "__main__":
    main()
