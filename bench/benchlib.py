"""What every benchmark in bench/ shares: its command line and how it prints a figure.

Each figure is printed as one line: what was measured, its value, the baseline measured in
the same run (or the ideal it is held to), their ratio, the budget and whether it is met::

    build.time  256 MiB   3.12 s   vs zip -r + sha256sum 3.40 s   ratio 0.92   budget <= 1.00   OK

Two kinds of budget: a *count* (API calls, bytes uploaded, XCom size) is deterministic and
a benchmark exits 1 when one is over, so ``make bench`` and the smoke test in ``make test``
(``--quick``) fail on it; a *time* (or CPU, memory) budget is printed OK/OVER but never
fails the run, since a loaded machine moves it (DESIGN.md §5: timings are measured, never
asserted).

A benchmark module defines ``main(args)``-style code with ``arguments()`` for ``--quick``
and ``--json PATH`` (every figure, machine-readable, for README's table), and records its
figures through one ``Figures`` object, whose ``finish()`` prints the summary and returns
the exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH_HOME = REPO / ".airflow" / "bench"


def airflow_environment() -> None:
    """Airflow reads its home when first imported: keep it inside the repo and quiet."""
    os.environ.setdefault("AIRFLOW_HOME", str(BENCH_HOME))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")


def arguments(description: str | None) -> argparse.ArgumentParser:
    """A parser with the options every benchmark takes; add your own, then parse."""
    parser = argparse.ArgumentParser(description=(description or "").split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes: a smoke run of seconds (make test runs every benchmark this way)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    return parser


@contextmanager
def awssim_server(
    arguments: Sequence[str], *, stderr: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """awssim serving in its own process (so its CPU is never the product's): this
    interpreter run with ``arguments`` (``-m awssim serve --port 0 ...`` or a script that
    prints the same "... on http://HOST:PORT" line). Yields the endpoint and the process;
    terminates it on leaving unless the caller has reaped it. ``stderr`` goes to a file."""
    errors = stderr.open("w") if stderr is not None else None
    try:
        server = subprocess.Popen(  # noqa: S603 - this interpreter, our own arguments
            [sys.executable, *arguments], stdout=subprocess.PIPE, stderr=errors, text=True
        )
    finally:
        if errors is not None:
            errors.close()
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.search(r"on (http://\S+)", line)
        if match is None:
            logged = stderr.read_text()[-2000:] if stderr is not None else ""
            raise RuntimeError(f"awssim did not start: {line!r}\n{logged}")
        yield match.group(1), server
    finally:
        if server.returncode is None:
            server.terminate()
            server.wait(timeout=60)


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB (Linux reports KiB) of this process or its children."""
    return resource.getrusage(who).ru_maxrss / 1024


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of another running process so far (Linux ``/proc``): an
    awssim serving in its own process is measured apart from the product."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def control(endpoint: str, name: str, body: dict[str, Any] | None = None) -> Any:
    """awssim's control API (``/_awssim/<name>``): GET without a body, POST with one; its
    JSON answer."""
    request = urllib.request.Request(  # noqa: S310 - our own loopback server
        f"{endpoint}/_awssim/{name}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=600) as answer:  # noqa: S310
        return json.loads(answer.read())


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """User + system CPU seconds of this process (or its waited-for children)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure against its baseline and budget.

    ``ratio`` is value / baseline. ``budget`` is the largest ratio allowed (None: reported
    only); ``kind`` is ``count`` (deterministic: over budget fails the run) or ``time``
    (printed, never fails). With no baseline, ``budget`` bounds the value itself.
    """

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    budget: float | None = None
    kind: str = "time"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """value / baseline, when there is a non-zero baseline."""
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        """Whether the budget is met (None when there is none)."""
        if self.budget is None:
            return None
        measured = self.ratio if self.baseline is not None else self.value
        if measured is None:  # a zero baseline: only a zero value meets it
            return self.value == 0
        return measured <= self.budget

    def line(self) -> str:
        """The figure as printed."""
        parts = [f"{self.name:34s} {_number(self.value):>10s} {self.unit:7s}"]
        if self.baseline is not None:
            label = self.baseline_label or "baseline"
            parts.append(f"vs {label} {_number(self.baseline)} {self.unit}")
            if self.ratio is not None:
                parts.append(f"ratio {self.ratio:.2f}")
        if self.budget is not None:
            bound = "ratio" if self.baseline is not None else self.unit
            parts.append(f"budget <= {_number(self.budget)} {bound}".rstrip())
            parts.append("OK" if self.met else "OVER")
        if self.note:
            parts.append(f"({self.note})")
        return "   ".join(parts)


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e12:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


@dataclass
class Figures:
    """The figures of one benchmark run, printed as they come and summed up at the end."""

    bench: str
    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        """Record and print one figure."""
        self.figures.append(figure)
        print(figure.line(), flush=True)
        return figure

    def finish(self, json_path: Path | None = None) -> int:
        """Print the verdict, write the JSON when asked; 1 when a count budget is over."""
        over = [figure for figure in self.figures if figure.met is False]
        counts_over = [figure for figure in over if figure.kind == "count"]
        if json_path is not None:
            json_path.write_text(
                json.dumps(
                    {"bench": self.bench, "figures": [asdict(f) for f in self.figures]}, indent=2
                )
            )
        if not over:
            print(f"{self.bench}: every budget met")
        for figure in over:
            kind = "FAILS the run" if figure.kind == "count" else "reported, not failed"
            print(f"{self.bench}: OVER budget ({kind}): {figure.name}")
        return 1 if counts_over else 0


def exit_with(figures: Figures, json_path: Path | None) -> None:
    """``sys.exit`` with the run's verdict."""
    sys.exit(figures.finish(json_path))
