"""Benchmark: building a Distributor package against ``zip -r`` + ``sha256sum``.

What is measured: the product's own build path, ``python -m distributor_rollout build
SOURCE OUT`` (the CLI's ``build`` command, ``core.package.build_package``: the same code
the Build task runs), as one fresh child process per run, wall time from spawn to exit
(interpreter start and imports included, as for the baseline's commands), and the peak
resident set size of that child (``os.wait4``'s rusage of that one process).

The payload is generated deterministically (seeded) into a temporary folder in the
folder layout a Distributor package has (``<platform>/<platform_version>/<arch>/``, as
include/packages/examplepackage): 4 flavours (amazon x86_64 and arm64 .rpm, ubuntu .deb,
windows .msi), each a quarter of the payload: three quarters incompressible bytes (the
package file itself and two smaller dependency packages of the same kind) and one
quarter compressible text (log-like lines, configuration, a changelog, a JSON file),
plus the install and uninstall scripts.

Baseline, measured in the same run on the same (page-cached) files: ``zip -r -q`` of each
flavour folder into its own zip (Debian's Info-ZIP, default level 6, one process per zip,
run one after another), then ``sha256sum`` of the four zips; its wall time from the first
spawn to the last exit. Both sides run ``--repeat`` times, alternating; the best of each
is compared. zip deflates the incompressible packages (only its own short list of
suffixes is stored by default) and keeps them stored when deflate does not shrink them;
the build stores them by suffix from the start (``core.package.STORED_SUFFIXES``).

Budget (issue 14): "a 256 MiB mixed payload (incompressible rpm/msi-like files plus
compressible text, 4 flavours) against ``zip -r`` + ``sha256sum`` of the same folders;
peak RSS at 1 GiB. Budget: ≤ 1.0× time, peak RSS flat in payload size." Printed figures:

* ``build.time``: the build's wall time vs the baseline's, budget ratio ≤ 1.0 (time);
* ``build.peak_rss``: the build's peak RSS at the large size vs at the base size, budget
  ratio ≤ 1.1 (flat: the build streams every file in fixed-size chunks);
* for reference, without a budget: the build's wall time against ``zip -r -n
  .rpm:.deb:.msi`` (zip storing the packages instead of deflating them, as the build
  does: the same work), CPU seconds of both sides (the build writes its zips in
  parallel threads, zip is one process: on a loaded machine CPU says more than wall
  time), both outputs' sizes, and the build's RSS and time at each size.

Time and memory are kind="time" figures: printed OK/OVER, never failing the run.

Run: ``.venv/bin/python bench/build.py [--quick] [--json F] [--size-mib 256]
[--large-mib 1024] [--repeat 2]``; ``Info-ZIP``'s ``zip`` must be installed (Debian
package ``zip``). ``--quick`` shrinks the payload to 16 MiB (RSS compared against 32 MiB)
and runs each side once: a smoke run of a few seconds. A full run takes about a minute on
2 cores (most of it generating the 1 GiB payload and the baselines' runs).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchlib import Figure, Figures, arguments, exit_with

MIB = 1 << 20
SEED = 14
PACKAGE = "BenchAgent"
VERSION = "1.0.0"
TEXT_SHARE = 0.25
"""The part of each flavour that is compressible text; the rest is incompressible."""
STORE_PACKAGES = ("-n", ".rpm:.deb:.msi")
"""zip's option to store these suffixes instead of deflating them (the build stores them)."""
RSS_BUDGET = 1.1
"""Peak RSS at the large payload over peak RSS at the base payload: flat, with noise."""


@dataclass(frozen=True)
class Flavour:
    """One platform folder of the package: where it goes and what its payload is called."""

    folder: str
    package_file: str
    dependency_suffix: str
    windows: bool = False


FLAVOURS = (
    Flavour("amazon/_any/x86_64", "bench-agent-1.0.0-1.x86_64.rpm", ".x86_64.rpm"),
    Flavour("amazon/_any/arm64", "bench-agent-1.0.0-1.aarch64.rpm", ".aarch64.rpm"),
    Flavour("ubuntu/_any/x86_64", "bench-agent_1.0.0_amd64.deb", "_amd64.deb"),
    Flavour("windows/_any/_any", "bench-agent-1.0.0-x64.msi", "-x64.msi", windows=True),
)
_MORE_PLATFORMS = ("redhat", "debian", "suse", "oracle", "rocky", "almalinux", "centos")


def flavours(count: int) -> tuple[Flavour, ...]:
    """``count`` platform folders (one zip each): the 4 above, then more Linux ones."""
    extra = [
        Flavour(f"{platform}/_any/{arch}", f"bench-agent-1.0.0.{arch}.rpm", f".{arch}.rpm")
        for platform in _MORE_PLATFORMS
        for arch in ("x86_64", "arm64")
    ]
    chosen = (*FLAVOURS, *extra)[:count]
    if len(chosen) < count:
        raise ValueError(f"at most {len(FLAVOURS) + len(extra)} flavours")
    return chosen


SCRIPTS = {
    False: {
        "install.sh": '#!/bin/sh\nset -e\ncd "$(dirname "$0")"\n./install-agent\n',
        "uninstall.sh": "#!/bin/sh\nset -e\n./remove-agent\n",
    },
    True: {
        "install.ps1": "$ErrorActionPreference = 'Stop'\nStart-Process msiexec '/i agent.msi'\n",
        "uninstall.ps1": "$ErrorActionPreference = 'Stop'\nStart-Process msiexec '/x agent.msi'\n",
    },
}
WORDS = (
    *("agent", "connect", "retry", "upload", "metric", "flush", "buffer", "socket"),
    *("timeout", "config", "reload", "handshake", "session", "token", "refresh"),
    *("heartbeat", "collector", "pipeline", "shard", "queue", "worker", "scheduler"),
    *("checkpoint", "snapshot", "rotate", "compress", "archive", "endpoint", "region"),
    *("account", "instance", "volume", "network", "packet", "latency", "throughput"),
    *("error", "warning", "info", "debug", "trace"),
)


def _text_blocks(rng: random.Random, count: int) -> list[bytes]:
    """``count`` distinct 1 MiB blocks of log-like text (deflate shrinks it ~4×)."""
    blocks = []
    for _ in range(count):
        lines: list[str] = []
        size = 0
        while size < MIB:
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))
            line = (
                f"2024-05-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
                f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z "
                f"host-{rng.randint(0, 255):03d} agent[{rng.randint(1000, 65535)}]: {words} "
                f"id={rng.getrandbits(32):08x} took={rng.randint(0, 5000)}ms\n"
            )
            lines.append(line)
            size += len(line)
        blocks.append("".join(lines).encode()[:MIB])
    return blocks


def _write(path: Path, size: int, chunk: Callable[[], bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        left = size
        while left > 0:
            data = chunk()
            handle.write(data[:left])
            left -= len(data)


def generate(root: Path, total: int, kinds: Sequence[Flavour] = FLAVOURS) -> int:
    """Write the seeded payload of ``total`` bytes under ``root``, split evenly between
    the ``kinds`` of platform folder; returns the bytes written."""
    rng = random.Random(SEED)  # noqa: S311 - a reproducible payload, not a secret
    blocks = _text_blocks(rng, 8)
    share = total // len(kinds)
    text = int(share * TEXT_SHARE)
    binary = share - text
    # Text files: a big log sample, a changelog, configuration and a JSON inventory.
    text_files = {"docs/sample.log": 0.55, "docs/CHANGELOG.txt": 0.2, "etc/agent.conf": 0.1}
    text_files["share/inventory.json"] = 1 - sum(text_files.values())
    for flavour in kinds:
        folder = root / flavour.folder
        for name, body in SCRIPTS[flavour.windows].items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(body)
        binaries = {
            flavour.package_file: 0.8,
            f"deps/libbench-core-2.3{flavour.dependency_suffix}": 0.12,
            f"deps/libbench-tls-1.1{flavour.dependency_suffix}": 0.08,
        }
        for name, part in binaries.items():
            _write(folder / name, int(binary * part), lambda: rng.randbytes(MIB))
        for name, part in text_files.items():
            _write(folder / name, int(text * part), lambda: rng.choice(blocks))
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


@dataclass(frozen=True)
class Run:
    """Child processes' wall time, CPU seconds (user + system) and peak RSS (MiB)."""

    seconds: float
    cpu: float
    rss_mib: float


def run_child(command: Sequence[str], cwd: Path | None = None) -> Run:
    """Run ``command`` as a fresh child; its wall time and its own peak RSS (``wait4``)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL)  # noqa: S603
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{command[0]} {command[1]} exited {child.returncode}")
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def build(source: Path, out: Path) -> Run:
    """The product's build command in a fresh interpreter."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "distributor_rollout", "build", str(source), str(out)]
    return run_child([*command, "--name", PACKAGE, "--version", VERSION])


def baseline(source: Path, out: Path, options: Sequence[str] = ()) -> Run:
    """``zip -r`` of each flavour folder, one after another, then ``sha256sum`` of the zips;
    ``options`` go to zip."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    runs = []
    zips = []
    started = time.perf_counter()
    for index, flavour in enumerate(FLAVOURS):
        archive = out / f"flavour{index}.zip"
        zips.append(str(archive))
        # zip stores paths as given: run it inside the folder, as the build's arcnames are.
        command = ["zip", "-r", "-q", "-X", *options, str(archive), "."]
        runs.append(run_child(command, source / flavour.folder))
    runs.append(run_child(["sha256sum", *zips]))
    seconds = time.perf_counter() - started
    return Run(seconds, sum(run.cpu for run in runs), max(run.rss_mib for run in runs))


def folder_bytes(folder: Path, suffix: str) -> int:
    """Total size of the files ending in ``suffix`` in ``folder``."""
    return sum(path.stat().st_size for path in folder.iterdir() if path.name.endswith(suffix))


def main() -> None:
    """Generate, build and zip (alternating), then the large payload for RSS; print."""
    parser = arguments(__doc__)
    parser.add_argument("--size-mib", type=int, help="payload for the time figure (256)")
    parser.add_argument("--large-mib", type=int, help="payload for the RSS figure (1024)")
    parser.add_argument("--repeat", type=int, help="runs of each side, best kept (2)")
    args = parser.parse_args()
    size = args.size_mib or (16 if args.quick else 256)
    large = args.large_mib or (32 if args.quick else 1024)
    repeat = args.repeat or (1 if args.quick else 2)
    if shutil.which("zip") is None:
        sys.exit("bench/build.py needs Info-ZIP's zip (Debian: apt-get install zip)")
    figures = Figures(bench="build")
    with tempfile.TemporaryDirectory(prefix="bench-build-") as temp:
        work = Path(temp)
        written = generate(work / "source", size * MIB)
        builds, zips, zips_storing = [], [], []
        for _ in range(repeat):
            builds.append(build(work / "source", work / "built"))
            zips.append(baseline(work / "source", work / "zipped"))
            zips_storing.append(baseline(work / "source", work / "stored", STORE_PACKAGES))
        best_build = min(run.seconds for run in builds)
        best_zip = min(run.seconds for run in zips)
        built_size = folder_bytes(work / "built", ".zip")
        zipped_size = folder_bytes(work / "zipped", ".zip")
        shutil.rmtree(work / "zipped")
        shutil.rmtree(work / "stored")
        figures.add(
            Figure(
                "build.time",
                best_build,
                "s",
                baseline=best_zip,
                baseline_label="zip -r + sha256sum",
                budget=1.0,
                note=f"{size} MiB, 4 flavours, best of {repeat}",
            )
        )
        figures.add(
            Figure(
                "build.time_vs_zip_storing",
                best_build,
                "s",
                baseline=min(run.seconds for run in zips_storing),
                baseline_label=f"zip -r {' '.join(STORE_PACKAGES)} + sha256sum",
                note="reference: zip storing the packages too, as the build does",
            )
        )
        figures.add(
            Figure(
                "build.cpu",
                min(run.cpu for run in builds),
                "s",
                baseline=min(run.cpu for run in zips),
                baseline_label="zip -r + sha256sum",
                note="CPU seconds (user + system): the load of other processes moves it less",
            )
        )
        figures.add(
            Figure(
                "build.output_size",
                built_size / MIB,
                "MiB",
                baseline=zipped_size / MIB,
                baseline_label="zip -r",
                note=f"of {written / MIB:.0f} MiB in",
            )
        )
        base_rss = min(run.rss_mib for run in builds)
        figures.add(Figure(f"build.peak_rss.{size}MiB", base_rss, "MiB"))
        shutil.rmtree(work / "source")
        shutil.rmtree(work / "built")
        generate(work / "source", large * MIB)
        big = build(work / "source", work / "built")
        figures.add(
            Figure(
                f"build.time.{large}MiB",
                big.seconds,
                "s",
                note=f"one run, for reference; {big.cpu:.2f} s CPU",
            )
        )
        figures.add(
            Figure(
                "build.peak_rss",
                big.rss_mib,
                "MiB",
                baseline=base_rss,
                baseline_label=f"at {size} MiB",
                budget=RSS_BUDGET,
                note=f"at {large} MiB: flat in payload size",
            )
        )
    exit_with(figures, args.json)


if __name__ == "__main__":
    main()
