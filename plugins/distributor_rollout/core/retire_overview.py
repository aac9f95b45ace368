"""What a retire run will remove, as its approval shows it before the first wave.

Read from StackSets just before asking: per wave, in the order the retire takes them (the
plan's last wave first), its OUs × Regions and the stack instances it still has; the
instances outside the plan's waves (they keep the stack set); and the buckets the run
was asked to delete.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from distributor_rollout.core.deployment import Instance
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.retire_buckets import RetiredBucket
from distributor_rollout.core.retire_waves import wave_instances
from distributor_rollout.core.run_steps import ApprovalQuestion
from distributor_rollout.core.waves import ResolvedWave


@dataclass(frozen=True, slots=True)
class WaveOverview:
    """One wave as the retire finds it: where it deploys, and what is left there."""

    name: str
    ous: tuple[str, ...]
    regions: tuple[str, ...]
    accounts: int
    instances: int


@dataclass(frozen=True, slots=True)
class RetireOverview:
    """Everything a retire run would remove, and what it would leave."""

    package: str
    stack_set: str
    stack_set_exists: bool
    waves: tuple[WaveOverview, ...]
    outside: int = 0
    buckets: tuple[str, ...] = ()

    @property
    def instances(self) -> int:
        """Stack instances in the plan's waves."""
        return sum(wave.instances for wave in self.waves)

    @property
    def nothing_to_remove(self) -> bool:
        """Whether there is nothing at all to remove (an approval would ask about nothing)."""
        return not (self.stack_set_exists or self.buckets)


def retire_overview(
    plan: Plan,
    waves: Sequence[ResolvedWave],
    instances: Iterable[Instance] | None,
    buckets: Sequence[RetiredBucket] = (),
) -> RetireOverview:
    """The overview from the resolved waves (plan order) and the stack set's instances
    (None: the stack set does not exist)."""
    found = tuple(instances) if instances is not None else ()
    by_name = {wave.name: wave for wave in waves}
    rows = []
    for spec in reversed(plan.waves):
        resolved = by_name[spec.name]
        rows.append(
            WaveOverview(
                name=spec.name,
                ous=tuple(spec.ous),
                regions=resolved.regions,
                accounts=len(resolved.accounts),
                instances=len(wave_instances(resolved, found)),
            )
        )
    planned = {target for wave in waves for target in wave.targets}
    return RetireOverview(
        package=plan.package.name,
        stack_set=plan.stack_set.name,
        stack_set_exists=instances is not None,
        waves=tuple(rows),
        outside=sum(1 for instance in found if instance.target not in planned),
        buckets=tuple(bucket.name for bucket in buckets),
    )


def retire_question(overview: RetireOverview, plan_name: str) -> ApprovalQuestion:
    """The approval before the first wave: what will be removed, wave by wave (Markdown)."""
    lines = [
        f"Retire **{overview.package}** from the organization (plan `{plan_name}`): "
        f"stack set **{overview.stack_set}**"
        + ("" if overview.stack_set_exists else " (already deleted)")
        + ".",
        "",
        "Each wave, in this order: uninstall the package through the association, wait "
        "until the reachable nodes report it gone, delete the wave's stack instances.",
        "",
        "| order | wave | OUs | Regions | accounts | stack instances |",
        "|---|---|---|---|---|---|",
    ]
    for order, wave in enumerate(overview.waves, start=1):
        lines.append(
            f"| {order} | {wave.name} | {', '.join(wave.ous)} | {', '.join(wave.regions)} | "
            f"{wave.accounts} | {wave.instances} |"
        )
    lines.append("")
    if overview.outside:
        lines.append(
            f"{overview.outside} stack instances are outside the plan's waves: they stay, "
            "and so does the stack set."
        )
    else:
        lines.append("Then the stack set is deleted.")
    if overview.buckets:
        lines.append(
            "Then these buckets are emptied (every object version) and deleted where they "
            "hold only this plan's objects: " + ", ".join(overview.buckets) + "."
        )
    lines += ["", "Approve to start; Reject stops the run before anything changes."]
    return ApprovalQuestion(
        subject=(
            f"Retire {overview.package}: {overview.instances} stack instances in "
            f"{len(overview.waves)} waves?"
        ),
        body="\n".join(lines),
    )
