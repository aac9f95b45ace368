"""Benchmark: resolving a plan's OU targets to accounts in a large organization.

What is measured: the product's path from a plan to its accounts, as a wave's deploy
task, the rollout check and the retire take it: ``OrganizationsHook.snapshot(scope)``
scoped to the plan's OU paths (``core.waves.organization_scope``: the OUs on the way to
them and their subtrees, read parent by parent: ListOrganizationalUnitsForParent and
ListAccountsForParent, pages of 20) then ``core.waves.resolve_waves``. Three plans:
``root``, one wave on the root (the whole organization); ``plan``, the shipped example
plan's waves (``/Sandbox``, ``/NonProd``, ``/Prod``: a plan-like selection); ``one_ou``,
one wave on a single second-level OU under ``/Prod`` (a team's plan). awssim serves a
synthetic organization of 5,000 member accounts in 250 OUs, 4 levels deep
(``synthetic:5000:250:4``), in its own process, so its CPU is not the client's.

Calls: every HTTP request the hook's client sends (a botocore ``before-send`` counter on
it, so retries count), by operation. Budget (issue 14): calls ≤ 1.2 × (OUs + pages),
kind=count (fails the run when over). OUs are the OUs a resolution must list (those
under the plan's OUs, and the ones on the way to them); pages are the list pages their
answers necessarily span at the APIs' largest page (20 OUs or accounts a page), computed
from the organization's shape: Σ ⌈child OUs / 20⌉ + ⌈accounts / 20⌉ over the OUs (and
root) listed. An empty answer is no page: the "OUs" term pays for it. Every plan is held
to the budget: since the snapshot is scoped, a plan on one OU of a large organization
pays for that OU's subtree and the way to it, not for the whole organization (before,
``one_ou`` cost 690 calls for 66 OUs + pages).

Time: the wall time of a resolution (client created, organization read, waves resolved),
the median of ``--repeat`` runs, against a same-run baseline chosen to show whether the
product's own overhead matters: the fewest calls that can answer the same question made
directly with boto3, one after another, on a fresh client against the same awssim
(DescribeOrganization, ListRoots, then per OU listed one ListOrganizationalUnitsForParent
and one ListAccountsForParent per page of 20, MaxResults=20). Both pay the same simulator
and loopback per call, so the ratio is the product's extra calls and Python work (paging,
the snapshot's objects, wave resolution). With no latency injected, this is the harshest
comparison: any latency a real endpoint adds (Organizations answers in tens of ms) only
dilutes the overhead. Printed with a budget of 1.2 (the call budget's), never failed.

Run: ``.venv/bin/python bench/org_resolution.py [--quick] [--json F] [--repeat N]``
(about two minutes on 2 cores, most of it awssim answering some 700 calls per
resolution). ``--quick`` serves 200 accounts in 20 OUs, 3 levels deep, and times each
resolution twice instead of three times.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchlib import (
    REPO,
    Figure,
    Figures,
    airflow_environment,
    arguments,
    awssim_server,
    exit_with,
)

airflow_environment()

import boto3  # noqa: E402 - after the environment above
import yaml  # noqa: E402

from awssim.orgspec import OrgSpec, load_org  # noqa: E402
from distributor_rollout.core.plan import Plan  # noqa: E402
from distributor_rollout.core.plan_validation import validate_plan  # noqa: E402
from distributor_rollout.core.waves import (  # noqa: E402
    Resolution,
    organization_scope,
    resolve_waves,
)
from distributor_rollout.hooks.organizations import OrganizationsHook  # noqa: E402
from rollout_demo import aws_connection  # noqa: E402

FULL = (5000, 250, 4)
QUICK = (200, 20, 3)
PAGE = 20
"""The largest page of ListOrganizationalUnitsForParent and ListAccountsForParent."""
CALL_BUDGET = 1.2
TIME_BUDGET = 1.2
EXAMPLE_PLAN = REPO / "include" / "rollouts" / "examplepackage.yaml"
ROOT_WAVE = {"name": "everything", "ous": ["/"], "regions": ["us-east-1", "us-west-2", "eu-west-1"]}
CONN_ID = "aws_default"
DUMMY_SECRET = "awssim"  # noqa: S105 - awssim accepts any secret; unknown keys act as the admin


@dataclass(frozen=True)
class Parent:
    """One node of the tree as the list calls see it: the root or an OU, by path."""

    path: str
    child_names: tuple[str, ...]
    accounts: int


def tree(spec: OrgSpec) -> dict[str, Parent]:
    """Every parent by path, from the org spec awssim serves (the management account
    sits in the root, as in AWS)."""
    parents = {"/": Parent("/", tuple(unit.name for unit in spec.units), 1)}
    for path, unit in spec.units_with_paths():
        parents[path] = Parent(path, tuple(child.name for child in unit.units), len(unit.accounts))
    return parents


def _child(path: str, name: str) -> str:
    return f"{path.rstrip('/')}/{name}"


@dataclass(frozen=True)
class Need:
    """What resolving some OU paths needs listed: OUs on the way (their child OUs only)
    and the subtrees below the paths (child OUs and accounts)."""

    on_the_way: tuple[str, ...]
    subtrees: tuple[str, ...]

    def ous(self) -> int:
        """OUs listed (the root is not an OU)."""
        return sum(1 for path in (*self.on_the_way, *self.subtrees) if path != "/")

    def pages(self, parents: dict[str, Parent]) -> int:
        """List pages the answers span at the largest page size (an empty answer: none)."""
        return sum(math.ceil(len(parents[p].child_names) / PAGE) for p in self.on_the_way) + sum(
            math.ceil(len(parents[p].child_names) / PAGE) + math.ceil(parents[p].accounts / PAGE)
            for p in self.subtrees
        )


def need(parents: dict[str, Parent], refs: Sequence[str]) -> Need:
    """The listing a resolution of ``refs`` (OU paths) cannot do without."""
    subtrees: list[str] = []
    for ref in refs:
        stack = [ref]
        while stack:
            path = stack.pop()
            if path not in subtrees:
                subtrees.append(path)
                stack.extend(_child(path, name) for name in parents[path].child_names)
    on_the_way: list[str] = []
    for ref in refs:
        ancestors = ["/"] + [
            "/" + "/".join(ref.strip("/").split("/")[:depth])
            for depth in range(1, ref.strip("/").count("/") + 1)
        ]
        on_the_way.extend(a for a in ancestors if a not in subtrees and a not in on_the_way)
    return Need(tuple(on_the_way), tuple(subtrees))


def _pages(call: Callable[..., dict[str, Any]], key: str, **request: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = call(**request, MaxResults=PAGE)
        items.extend(page.get(key, []))
        if not page.get("NextToken"):
            return items
        request["NextToken"] = page["NextToken"]


def raw_walk(endpoint: str, wanted: Need, calls: Counter[str]) -> set[str]:
    """The baseline: the fewest sequential boto3 calls that list what ``wanted`` needs;
    the ids of the accounts under its subtrees."""
    client = boto3.Session(
        aws_access_key_id="awssim-admin",
        aws_secret_access_key=DUMMY_SECRET,
        region_name="us-east-1",
    ).client("organizations", endpoint_url=endpoint)
    client.meta.events.register("before-send.organizations", counter(calls))
    client.describe_organization()
    ids = {"/": client.list_roots()["Roots"][0]["Id"]}
    listed_accounts: set[str] = set()
    subtrees = set(wanted.subtrees)
    for path in (*wanted.on_the_way, *wanted.subtrees):  # parents before children
        parent_id = ids[path]
        for unit in _pages(
            client.list_organizational_units_for_parent, "OrganizationalUnits", ParentId=parent_id
        ):
            ids[_child(path, unit["Name"])] = unit["Id"]
        if path in subtrees:
            listed_accounts.update(
                account["Id"]
                for account in _pages(
                    client.list_accounts_for_parent, "Accounts", ParentId=parent_id
                )
            )
    return listed_accounts


def product_resolution(plan: Plan, calls: Counter[str]) -> Resolution:
    """The product's path: a fresh hook reads the organization, the waves resolve on it."""
    hook = OrganizationsHook(aws_conn_id=CONN_ID)
    hook.conn.meta.events.register("before-send.organizations", counter(calls))
    resolution = resolve_waves(plan, hook.snapshot(organization_scope(plan)))
    resolution.raise_for_problems("bench waves")
    return resolution


def counter(calls: Counter[str]) -> Callable[..., None]:
    """A botocore ``before-send`` handler counting HTTP requests by operation."""

    def count(event_name: str, **_: Any) -> None:
        calls[event_name.rsplit(".", 1)[-1]] += 1

    return count


@dataclass
class Timing:
    """One side of a comparison: its runs' seconds, the calls of one run, its result."""

    seconds: list[float]
    calls: Counter[str]
    result: Any = None

    @property
    def median(self) -> float:
        """The median run's seconds."""
        return statistics.median(self.seconds)


def timed(runs: Sequence[Callable[[Counter[str]], Any]], repeat: int) -> list[Timing]:
    """``repeat`` runs of each, taking turns (so a load that comes and goes on the machine
    falls on both alike), after one warm-up each (which loads botocore's models)."""
    for run in runs:
        run(Counter())
    timings = [Timing([], Counter()) for _ in runs]
    for _ in range(repeat):
        for run, timing in zip(runs, timings, strict=True):
            timing.calls = Counter()
            started = time.perf_counter()
            timing.result = run(timing.calls)
            timing.seconds.append(time.perf_counter() - started)
    return timings


@dataclass(frozen=True)
class Case:
    """One plan to resolve: its data and the OU paths it names."""

    label: str
    plan: Plan
    refs: tuple[str, ...]


def measure(
    figures: Figures, case: Case, parents: dict[str, Parent], endpoint: str, repeat: int
) -> None:
    """Calls and time of one plan's resolution, against its baseline and budget."""
    wanted = need(parents, case.refs)
    product, raw = timed(
        [lambda c: product_resolution(case.plan, c), lambda c: raw_walk(endpoint, wanted, c)],
        repeat,
    )
    calls, raw_calls = product.calls, raw.calls
    reached = {
        account
        for wave in product.result.waves
        for account in (*wave.accounts, *(s.account_id for s in wave.skipped))
    }
    if reached != raw.result:
        raise RuntimeError(
            f"{case.label}: the product resolved {len(reached)} accounts, the direct listing "
            f"{len(raw.result)}: the benchmark would compare different answers"
        )
    ous, pages = wanted.ous(), wanted.pages(parents)
    by_operation = ", ".join(f"{op}={n}" for op, n in sorted(calls.items()))
    print(f"{case.label}: {len(reached)} accounts, {ous} OUs, {pages} pages; {by_operation}")
    fewest = sum(raw_calls.values())
    figures.add(
        Figure(
            f"org_resolution.{case.label}.calls",
            sum(calls.values()),
            "calls",
            baseline=ous + pages,
            baseline_label="OUs + pages",
            budget=CALL_BUDGET,
            kind="count",
            note=f"fewest possible {fewest}",
        )
    )
    figures.add(
        Figure(
            f"org_resolution.{case.label}.time",
            product.median,
            "s",
            baseline=raw.median,
            baseline_label=f"{fewest} raw boto3 calls",
            budget=TIME_BUDGET,
            kind="time",
            note=f"median of {repeat}, each creating its client",
        )
    )


def main() -> None:
    """Serve the organization, resolve the three plans, print the figures."""
    parser = arguments(__doc__)
    parser.add_argument("--repeat", type=int, help="timed runs of each (median); default 3, 2")
    args = parser.parse_args()
    accounts, units, depth = QUICK if args.quick else FULL
    repeat = args.repeat or (2 if args.quick else 3)
    org_ref = f"synthetic:{accounts}:{units}:{depth}"
    parents = tree(load_org(org_ref))
    example = yaml.safe_load(EXAMPLE_PLAN.read_text(encoding="utf-8"))
    team_ou = _child("/Prod", parents["/Prod"].child_names[0])
    cases = (
        Case("root", validate_plan({**example, "waves": [ROOT_WAVE]}), ("/",)),
        Case(
            "plan",
            validate_plan(example),
            tuple(ou for wave in example["waves"] for ou in wave["ous"]),
        ),
        Case(
            "one_ou",
            validate_plan({**example, "waves": [{**ROOT_WAVE, "name": "team", "ous": [team_ou]}]}),
            (team_ou,),
        ),
    )
    figures = Figures(bench="org_resolution")
    started = time.perf_counter()
    with awssim_server(["-m", "awssim", "serve", "--port", "0", "--org", org_ref]) as (
        endpoint,
        _,
    ):
        print(f"awssim: {org_ref} ready in {time.perf_counter() - started:.1f}s")
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = aws_connection(endpoint)
        for case in cases:
            measure(figures, case, parents, endpoint, repeat)
    exit_with(figures, args.json)


if __name__ == "__main__":
    main()
