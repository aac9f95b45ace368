"""The preflight: whether AWS holds what a plan's rollout needs, judged from what was read.

``hooks.preflight`` reads (every read is one AWS call; a refusal arrives as ``Refused``);
``judge`` runs each check on the readings: its verdict (``pass``, ``warn`` or ``fail``),
what it found and, when it does not pass, what to do: the API call or console step. A
failed check carries the problems ``validate`` raises, each naming the plan field it
concerns, so the CLI (``render``), the DAG's ``validate`` task and the run report say the
same thing.

The checks, in ``judge``'s order:

* ``caller``: the connection is the registered StackSets delegated administrator
  (``call_as: DELEGATED_ADMIN``) or the management account (``call_as: SELF``);
* ``trusted_access``: trusted access between StackSets and Organizations is enabled;
* ``ous``: every OU the waves name exists (and the waves resolve as a run resolves them);
* ``regions``: the plan's Regions exist, and opt-in Regions are named;
* ``artifacts_bucket``: the artifacts bucket is usable, or the run may create it;
* ``package``: an existing package (and its pinned version) exists in every wave Region.

This module is the preflight's public face: the first three checks live in
``core.preflight_organization``, the last three in ``core.preflight_resources``, the
records they share (readings, ``Check``, ``Preflight``) in ``core.preflight_records``;
what the hook, the CLI and the operator use is importable from here.
"""

from __future__ import annotations

import textwrap

from distributor_rollout.core.plan import Plan
from distributor_rollout.core.preflight_organization import (
    STACKSETS_PRINCIPAL,
    caller_check,
    ou_check,
    trusted_access_check,
)
from distributor_rollout.core.preflight_records import (
    VERDICTS,
    BucketReading,
    Check,
    DocumentReading,
    PackageReading,
    Preflight,
    Readings,
    Refused,
    worst,
)
from distributor_rollout.core.preflight_resources import (
    bucket_check,
    document_ref,
    package_check,
    region_check,
    wave_regions,
)

__all__ = [
    "STACKSETS_PRINCIPAL",
    "VERDICTS",
    "BucketReading",
    "Check",
    "DocumentReading",
    "PackageReading",
    "Preflight",
    "Readings",
    "Refused",
    "document_ref",
    "judge",
    "render",
    "wave_regions",
    "worst",
]


def judge(plan: Plan, readings: Readings) -> Preflight:
    """Every check of the plan against what was read."""
    checks = [
        caller_check(plan.stack_set.call_as, readings),
        trusted_access_check(plan.stack_set.call_as, readings.access),
        ou_check(plan, readings.organization),
        region_check(plan, readings.regions),
        bucket_check(plan, readings),
    ]
    if plan.package.is_existing:
        checks.append(package_check(plan, readings.caller, readings.packages))
    return Preflight(
        plan=plan.name,
        caller=readings.caller,
        call_as=plan.stack_set.call_as,
        checks=tuple(checks),
    )


# Rendering -------------------------------------------------------------------------------

_WIDTH = 110


def render(preflight: Preflight) -> str:
    """The preflight as a table: a row per check (verdict, what was found, what to do)."""
    label = max([len("CHECK"), *(len(check.title) for check in preflight.checks)])
    lines = [
        f"preflight of plan {preflight.plan!r} as account {preflight.caller} "
        f"(call_as {preflight.call_as}); read-only",
        f"  {'CHECK':<{label}}  {'VERDICT':<8} FOUND",
    ]
    indent = " " * (2 + label + 2 + 8 + 1)
    for check in preflight.checks:
        verdict = check.verdict.upper() if check.verdict == "fail" else check.verdict
        head = f"  {check.title:<{label}}  {verdict:<8} "
        lines.extend(
            textwrap.wrap(check.found, _WIDTH, initial_indent=head, subsequent_indent=indent)
            or [head.rstrip()]
        )
        if check.verdict != "pass" and check.todo:
            lines.extend(
                textwrap.wrap(
                    f"to do: {check.todo}",
                    _WIDTH,
                    initial_indent=indent,
                    subsequent_indent=indent + "  ",
                )
            )
    counts = {verdict: sum(c.verdict == verdict for c in preflight.checks) for verdict in VERDICTS}
    summary = ", ".join(f"{count} {verdict}" for verdict, count in counts.items() if count)
    lines.append(f"preflight: {preflight.verdict.upper()} ({summary or 'no checks'})")
    return "\n".join(lines)
