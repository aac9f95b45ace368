"""What each wave reaches in an organization file's fleet, and what to warn about before a run.

Given the resolved waves and the managed nodes of each account and Region (exact from a
snapshot's inventory, expected values from a simulated fleet: ``core.org_file``), this
counts per wave the nodes the plan's association targets (its tag, or every managed node),
by platform and architecture, online and offline apart, and the managed nodes it leaves
alone. The warnings are what would make a wave fail however well the rollout goes: nodes
whose platform, version and architecture the package's manifest has no file for (their
association fails), a wave that reaches no node, a gate ``min_nodes`` above the nodes that
can report, and more offline nodes than the gate's ``max_offline_percent`` allows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from distributor_rollout.core.gate import GateSettings
from distributor_rollout.core.manifest import ANY, PlatformTarget
from distributor_rollout.core.org_file import NodeGroup
from distributor_rollout.core.plan import AssociationSpec, Plan, wave_gate
from distributor_rollout.core.targets import Target
from distributor_rollout.core.waves import Resolution, ResolvedWave

UNKNOWN_ARCH: Final = "unknown"
# A hybrid node (mi-*) whose architecture EC2 does not know: awssim simulates it as x86_64,
# and most are; the manifest is read for it as for an x86_64 node.
ASSUMED_ARCH: Final = "x86_64"


@dataclass(frozen=True, slots=True)
class NodeCount:
    """How many nodes, how many of them offline, and whether the numbers are estimates."""

    count: float = 0.0
    offline: float = 0.0
    estimated: bool = False

    def __add__(self, other: NodeCount) -> NodeCount:
        return NodeCount(
            self.count + other.count,
            self.offline + other.offline,
            self.estimated or other.estimated,
        )

    @property
    def online(self) -> float:
        """The nodes whose agent reports."""
        return self.count - self.offline

    @classmethod
    def of(cls, group: NodeGroup) -> NodeCount:
        """A node group's counts."""
        return cls(group.count, group.offline, group.estimated)

    def shown(self, value: float | None = None) -> str:
        """``value`` (by default the count) as text: ``≈`` before an estimate."""
        number = self.count if value is None else value
        if not self.estimated or number == 0:
            return str(round(number))
        return f"≈{number:.0f}" if number >= 1 or number == 0 else f"≈{number:.1f}"


@dataclass(frozen=True)
class WaveReach:
    """The managed nodes in one wave's accounts and Regions.

    ``targeted`` are the nodes the association targets, by platform / version /
    architecture; ``untargeted`` the other managed nodes there; ``no_file`` the targeted
    nodes the manifest has no file for (None when no manifest was checked).
    """

    name: str
    targeted: Mapping[PlatformTarget, NodeCount] = field(default_factory=dict)
    untargeted: NodeCount = NodeCount()
    no_file: Mapping[PlatformTarget, NodeCount] | None = None

    @property
    def total(self) -> NodeCount:
        """Every node the association targets in the wave."""
        return sum(self.targeted.values(), NodeCount())

    def by_platform(self) -> dict[tuple[str, str], NodeCount]:
        """Targeted nodes by platform and architecture (versions added up)."""
        counts: dict[tuple[str, str], NodeCount] = {}
        for key, count in sorted(self.targeted.items()):
            pair = (key.platform, key.arch)
            counts[pair] = counts.get(pair, NodeCount()) + count
        return counts


def _pick(key: str, options: Collection[str]) -> str | None:
    if key in options:
        return key
    return ANY if ANY in options else None


def has_file(packages: Collection[PlatformTarget], node: PlatformTarget) -> bool:
    """Whether a manifest with these entries gives ``node`` a file.

    As Distributor (and awssim) pick: the node's platform, else ``_any``; within it its
    platform version, else ``_any``; within that its architecture, else ``_any``. A
    level that matches exactly is kept even when nothing below it matches.
    """
    platform = _pick(node.platform, {entry.platform for entry in packages})
    under_platform = [entry for entry in packages if entry.platform == platform]
    version = _pick(node.platform_version, {entry.platform_version for entry in under_platform})
    under_version = [entry for entry in under_platform if entry.platform_version == version]
    arch = ASSUMED_ARCH if node.arch == UNKNOWN_ARCH else node.arch
    return _pick(arch, {entry.arch for entry in under_version}) is not None


def targets_node(association: AssociationSpec, group: NodeGroup) -> bool:
    """Whether the association's targets include these nodes (its tag, or every node)."""
    if association.target_tag_key is None or association.target_tag_value is None:
        return True
    return group.has_tag(association.target_tag_key, association.target_tag_value)


def wave_reach(
    wave: ResolvedWave,
    nodes: Mapping[Target, Sequence[NodeGroup]],
    association: AssociationSpec,
    packages: Collection[PlatformTarget] | None = None,
) -> WaveReach:
    """Count the nodes of ``wave``'s targets; ``packages`` are the manifest's entries."""
    targeted: dict[PlatformTarget, NodeCount] = {}
    untargeted = NodeCount()
    for target in wave.targets:
        for group in nodes.get(target, ()):
            if targets_node(association, group):
                key = PlatformTarget(group.platform, group.platform_version, group.arch)
                targeted[key] = targeted.get(key, NodeCount()) + NodeCount.of(group)
            else:
                untargeted = untargeted + NodeCount.of(group)
    no_file = None
    if packages is not None:
        no_file = {key: count for key, count in targeted.items() if not has_file(packages, key)}
    return WaveReach(wave.name, dict(sorted(targeted.items())), untargeted, no_file)


def plan_reach(
    plan: Plan,
    resolution: Resolution,
    nodes: Mapping[Target, Sequence[NodeGroup]],
    packages: Collection[PlatformTarget] | None = None,
) -> tuple[WaveReach, ...]:
    """Every wave's reach, in plan order."""
    return tuple(wave_reach(wave, nodes, plan.association, packages) for wave in resolution.waves)


def association_scope(association: AssociationSpec) -> str:
    """Which nodes the association targets, in words."""
    if association.target_tag_key is None:
        return "every managed node"
    return f"tag {association.target_tag_key}={association.target_tag_value}"


def render_reach(reach: WaveReach, association: AssociationSpec) -> list[str]:
    """Lines about one wave's nodes, for ``render_waves``' details."""
    total = reach.total
    lines = [
        f"nodes targeted ({association_scope(association)}): {total.shown()} "
        f"({total.shown(total.online)} online, {total.shown(total.offline)} offline)"
    ]
    if total.count:
        parts = [
            f"{platform} {arch} {count.shown()}"
            + (f" ({count.shown(count.offline)} offline)" if count.offline else "")
            for (platform, arch), count in reach.by_platform().items()
        ]
        lines.append("  by platform: " + ", ".join(parts))
    if reach.untargeted.count:
        lines.append(f"  not targeted: {reach.untargeted.shown()} other managed nodes")
    return lines


def snapshot_warnings(source: Mapping[str, Any] | None, association: AssociationSpec) -> list[str]:
    """What a snapshot's ``source`` block says the counts leave out, as warnings.

    ``snapshot`` records there the tag keys it kept (``tag_keys``), the accounts and
    Regions it could not read (``unreadable``) and the member accounts directly in the
    root, which an org file has no place for (``accounts_in_root``). The block is
    free-form: anything not shaped so is ignored.
    """
    source = source or {}
    warnings = []
    kept, key = source.get("tag_keys"), association.target_tag_key
    if key is not None and isinstance(kept, list) and key not in kept:
        shown = ", ".join(map(str, kept)) or "none"
        warnings.append(
            f"the snapshot kept only the tags {shown}, not {key}, which the association "
            f"targets: no node counts as targeted (take it again with --tag-key {key})"
        )
    unread = [item for item in _list(source.get("unreadable")) if isinstance(item, Mapping)]
    if unread:
        first = unread[0]
        where = "/".join(str(first[k]) for k in ("account", "region") if first.get(k))
        warnings.append(
            f"the snapshot could not read {len(unread)} account(s) or Region(s) "
            f"(source.unreadable): their nodes are not counted, e.g. {where}: "
            f"{first.get('reason', 'no reason given')}"
        )
    in_root = [str(item) for item in _list(source.get("accounts_in_root"))]
    if in_root:
        warnings.append(
            f"{len(in_root)} member account(s) directly in the root are not in the file "
            f"(source.accounts_in_root: {', '.join(in_root[:5])}"
            f"{' ...' if len(in_root) > 5 else ''}): a wave on / reaches them too"
        )
    return warnings


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def reach_warnings(
    plan: Plan,
    resolution: Resolution,
    reaches: Iterable[WaveReach],
    packages: Collection[PlatformTarget] = (),
) -> list[str]:
    """What would make a wave fail however well the rollout goes, one message each.

    ``packages`` (the manifest's entries) only name, in a message about nodes without a
    file, what the manifest has for their platform.
    """
    warnings: list[str] = []
    waves = {wave.name: wave for wave in resolution.waves}
    for reach in reaches:
        gate = wave_gate(plan, plan.wave(reach.name))
        warnings.extend(_file_warnings(reach, gate, packages))
        if waves[reach.name].accounts:
            warnings.extend(_count_warnings(reach, gate, plan.association))
    return warnings


def _has_for(packages: Collection[PlatformTarget], platform: str) -> str:
    entries = sorted(str(entry) for entry in packages if entry.platform in (platform, ANY))
    return f"it has {', '.join(entries)}" if entries else f"it has no {platform} entry"


def _file_warnings(
    reach: WaveReach, gate: GateSettings, packages: Collection[PlatformTarget]
) -> list[str]:
    if not reach.no_file:
        return []
    warnings = [
        f"wave {reach.name}: {count.shown()} {key.platform} {key.platform_version} "
        f"{key.arch} node{'s' if count.count != 1 else ''} the association targets "
        f"have no file in the package's manifest ({_has_for(packages, key.platform)}): "
        "their association will fail"
        for key, count in reach.no_file.items()
    ]
    total = reach.total
    missing = sum(reach.no_file.values(), NodeCount())
    best = 100 * (total.count - missing.count) / total.count
    if best < gate.threshold_percent:
        verdict = "may be unreachable" if total.estimated else "is unreachable"
        warnings.append(
            f"wave {reach.name}: with {missing.shown()} of {total.shown()} targeted nodes "
            f"failing for want of a file, at most {best:.1f}% can comply: the gate's "
            f"threshold {gate.threshold_percent:g}% {verdict}"
        )
    return warnings


def _count_warnings(
    reach: WaveReach, gate: GateSettings, association: AssociationSpec
) -> list[str]:
    total = reach.total
    expected = "expected " if total.estimated else ""
    cannot = "may not pass" if total.estimated else "cannot pass"
    if not total.count:
        return [
            f"wave {reach.name} reaches no managed node the association targets "
            f"({association_scope(association)}): its gate cannot pass"
        ]
    warnings = []
    if total.online < gate.min_nodes:
        warnings.append(
            f"wave {reach.name}: the gate needs {gate.min_nodes} nodes to report (min_nodes) "
            f"but the wave reaches {expected}{total.shown(total.online)} online nodes the "
            f"association targets: the gate {cannot}"
        )
    offline_percent = 100 * total.offline / total.count
    if offline_percent > gate.max_offline_percent:
        warnings.append(
            f"wave {reach.name}: {total.shown(total.offline)} of {total.shown()} targeted "
            f"nodes ({offline_percent:.0f}%) are offline, above the gate's "
            f"max_offline_percent {gate.max_offline_percent:g}%: it does not pass until "
            "enough of them report again"
        )
    return warnings
