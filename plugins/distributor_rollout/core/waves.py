"""Wave resolution: a plan's waves × an organization snapshot → concrete targets.

For each wave, in order: resolve its OU references (ids or paths) to ids, collect the
accounts in those OUs and every OU below them, apply the account filter (the accounts it
leaves out are kept as ``filtered``), leave out what StackSets would not deploy to (the
management account, suspended or closing accounts, reported as skipped), and cross the
accounts with the wave's Regions in Region order. A target reached by two waves is an
error: the second wave would redeploy the first's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from distributor_rollout.core.errors import Problem, ValidationError, wrong
from distributor_rollout.core.org import ACTIVE, Account, Organization
from distributor_rollout.core.plan import Plan, WaveSpec, wave_operation
from distributor_rollout.core.targets import Target

SKIP_MANAGEMENT = "management account: service-managed stack sets never deploy to it"
SKIP_NOT_ACTIVE = "account is {status}: StackSets skip it (SKIPPED_SUSPENDED_ACCOUNT)"
FILTERED_OUT = {
    "INTERSECTION": "not in the wave's account filter (INTERSECTION)",
    "DIFFERENCE": "in the wave's account filter (DIFFERENCE)",
}


@dataclass(frozen=True)
class SkippedAccount:
    """An account under a wave's OUs that the wave will not deploy to, and why."""

    account_id: str
    reason: str


@dataclass(frozen=True)
class ResolvedWave:
    """One wave's concrete targets and the StackSets deployment targets that reach them."""

    name: str
    ou_ids: tuple[str, ...]
    regions: tuple[str, ...]
    accounts: tuple[str, ...]
    account_filter: str | None = None
    filter_accounts: tuple[str, ...] = ()
    skipped: tuple[SkippedAccount, ...] = ()
    filtered: tuple[SkippedAccount, ...] = ()

    @property
    def targets(self) -> tuple[Target, ...]:
        """Accounts × Regions, Region-major in the wave's Region order."""
        return tuple(Target(a, r) for r in self.regions for a in self.accounts)

    def deployment_targets(self) -> dict[str, Any]:
        """The ``DeploymentTargets`` request structure for this wave."""
        targets: dict[str, Any] = {"OrganizationalUnitIds": list(self.ou_ids)}
        if self.account_filter:
            targets["AccountFilterType"] = self.account_filter
            targets["Accounts"] = list(self.filter_accounts)
        return targets

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (XCom, reports)."""
        return {
            "name": self.name,
            "ou_ids": list(self.ou_ids),
            "regions": list(self.regions),
            "accounts": list(self.accounts),
            "account_filter": self.account_filter,
            "filter_accounts": list(self.filter_accounts),
            "skipped": [{"account_id": s.account_id, "reason": s.reason} for s in self.skipped],
            "filtered": [{"account_id": f.account_id, "reason": f.reason} for f in self.filtered],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResolvedWave:
        """The inverse of ``to_dict``."""
        return cls(
            name=data["name"],
            ou_ids=tuple(data["ou_ids"]),
            regions=tuple(data["regions"]),
            accounts=tuple(data["accounts"]),
            account_filter=data.get("account_filter"),
            filter_accounts=tuple(data.get("filter_accounts", ())),
            skipped=tuple(SkippedAccount(**s) for s in data.get("skipped", ())),
            # Records written before ``filtered`` existed read as filtering nothing out.
            filtered=tuple(SkippedAccount(**f) for f in data.get("filtered", ())),
        )


@dataclass(frozen=True)
class Resolution:
    """Every wave resolved, with the problems that make the plan undeployable and the
    warnings an operator should read."""

    waves: tuple[ResolvedWave, ...]
    problems: tuple[Problem, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def raise_for_problems(self, subject: str = "waves") -> None:
        """``ValidationError`` with every problem, if there are any."""
        if self.problems:
            raise ValidationError(subject, self.problems)


def _resolve_ou(org: Organization, ref: str) -> str | None:
    if ref.startswith("/"):
        return org.id_by_path.get("/" + ref.strip("/") if ref != "/" else "/")
    return ref if org.contains(ref) else None


def _skip_reason(org: Organization, account: Account) -> str | None:
    if account.id == org.management_account_id:
        return SKIP_MANAGEMENT
    if account.status != ACTIVE:
        return SKIP_NOT_ACTIVE.format(status=account.status)
    return None


def _resolve_wave(
    plan: Plan, org: Organization, index: int, wave: WaveSpec
) -> tuple[ResolvedWave, list[Problem], list[str]]:
    problems: list[Problem] = []
    warnings: list[str] = []
    ou_ids: list[str] = []
    for position, ref in enumerate(wave.ous):
        ou_id = _resolve_ou(org, ref)
        if ou_id is None:
            known = ", ".join(sorted(org.id_by_path)[:10])
            problems.append(
                wrong(
                    f"waves[{index}].ous[{position}]",
                    "not in the organization",
                    ref,
                    f"an OU id or path that exists, e.g. {known}",
                )
            )
        elif ou_id not in ou_ids:
            ou_ids.append(ou_id)
    under = {a.id: a for ou in ou_ids for a in org.accounts_under(ou)}
    chosen = dict(under)
    filter_ids = tuple(wave.accounts.ids) if wave.accounts else ()
    if wave.accounts is not None and wave.accounts.filter == "INTERSECTION":
        chosen = {a: under[a] for a in filter_ids if a in under}
    elif wave.accounts is not None:
        chosen = {a: acct for a, acct in under.items() if a not in set(filter_ids)}
    filter_reason = FILTERED_OUT[wave.accounts.filter] if wave.accounts is not None else ""
    outside = [a for a in filter_ids if a not in under]
    if outside:
        warnings.append(
            f"wave {wave.name}: accounts {', '.join(outside)} in the account filter are not "
            "under the wave's OUs; the filter does nothing for them"
        )
    skipped = []
    accounts = []
    for account_id in sorted(chosen):
        reason = _skip_reason(org, chosen[account_id])
        if reason is None:
            accounts.append(account_id)
        else:
            skipped.append(SkippedAccount(account_id, reason))
    if ou_ids and not accounts:
        warnings.append(f"wave {wave.name}: no account to deploy to")
    resolved = ResolvedWave(
        name=wave.name,
        ou_ids=tuple(ou_ids),
        regions=wave_operation(plan, wave).region_order,
        accounts=tuple(accounts),
        account_filter=wave.accounts.filter if wave.accounts else None,
        filter_accounts=filter_ids,
        skipped=tuple(skipped),
        filtered=tuple(SkippedAccount(a, filter_reason) for a in sorted(set(under) - set(chosen))),
    )
    return resolved, problems, warnings


def _overlaps(waves: list[ResolvedWave]) -> Iterator[Problem]:
    owner: dict[Target, str] = {}
    for index, wave in enumerate(waves):
        clashes: dict[str, list[str]] = {}
        for target in wave.targets:
            first = owner.setdefault(target, wave.name)
            if first != wave.name:
                clashes.setdefault(first, []).append(str(target))
        for first, targets in clashes.items():
            shown = ", ".join(targets[:5]) + (
                f" and {len(targets) - 5} more" if len(targets) > 5 else ""
            )
            yield Problem(
                f"waves[{index}]",
                f"reaches targets wave {first!r} already deploys (got {shown}; expected each "
                "account and Region in one wave only: narrow the OUs or add an account filter)",
            )


def organization_scope(plan: Plan) -> tuple[str, ...]:
    """Every OU reference of the plan's waves: what a snapshot needs to resolve them
    (``OrganizationsHook.snapshot(scope=...)`` reads only those subtrees when all are paths)."""
    return tuple(dict.fromkeys(ref for wave in plan.waves for ref in wave.ous))


def resolve_waves(plan: Plan, org: Organization) -> Resolution:
    """Resolve every wave of the plan against the organization."""
    waves: list[ResolvedWave] = []
    problems: list[Problem] = []
    warnings: list[str] = []
    for index, wave in enumerate(plan.waves):
        resolved, wave_problems, wave_warnings = _resolve_wave(plan, org, index, wave)
        waves.append(resolved)
        problems.extend(wave_problems)
        warnings.extend(wave_warnings)
    problems.extend(_overlaps(waves))
    return Resolution(tuple(waves), tuple(problems), tuple(warnings))


def render_waves(
    resolution: Resolution,
    org: Organization,
    details: Mapping[str, Sequence[str]] | None = None,
    warnings: Sequence[str] = (),
) -> str:
    """A plain-text report of the resolved waves, for the CLI's ``plan`` command.

    A table, then per wave its OUs, Regions in order, the accounts it reaches and the ones
    it leaves out with why, followed by ``details[wave]`` (indented lines, such as the
    nodes it reaches); then the resolution's warnings and ``warnings``, then the problems.
    """
    rows = [("wave", "OUs", "regions", "accounts", "targets", "skipped")]
    for wave in resolution.waves:
        rows.append(
            (
                wave.name,
                ", ".join(org.path_of(ou) for ou in wave.ou_ids) or "-",
                ", ".join(wave.regions),
                str(len(wave.accounts)),
                str(len(wave.targets)),
                str(len(wave.skipped)),
            )
        )
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    names = {account.id: account.name for account in org.accounts}
    reached = [
        (wave.name, frozenset(wave.accounts), set(wave.regions)) for wave in resolution.waves
    ]
    for index, wave in enumerate(resolution.waves):
        lines.extend(_wave_lines(wave, org, names, reached, index))
        lines.extend(f"  {line}" for line in (details or {}).get(wave.name, ()))
    lines.extend(f"warning: {warning}" for warning in (*resolution.warnings, *warnings))
    lines.extend(f"error: {problem}" for problem in resolution.problems)
    return "\n".join(lines)


_Reached = list[tuple[str, frozenset[str], set[str]]]
"""Each wave's name, accounts and Regions, in plan order."""


def _wave_lines(
    wave: ResolvedWave, org: Organization, names: Mapping[str, str], reached: _Reached, index: int
) -> list[str]:
    def named(account_id: str) -> str:
        return f"{account_id} {names[account_id]}" if account_id in names else account_id

    ous = ", ".join(org.path_of(ou) for ou in wave.ou_ids) or "no OU of the organization"
    lines = [f"wave {wave.name}: {ous}; Regions in order: {', '.join(wave.regions)}"]
    count = f"{len(wave.accounts)} account{'s' if len(wave.accounts) != 1 else ''}"
    lines.extend(_wrapped(f"reaches {count}:", [named(a) for a in wave.accounts] or ["none"]))
    for account in wave.accounts:
        also = _deployed_by(reached[:index], account, wave.regions)
        if also:
            lines.append(f"  reaches again {named(account)}: wave {also} already deploys it")
    others = [*reached[:index], *reached[index + 1 :]]
    for excluded in (*wave.skipped, *wave.filtered):
        also = _deployed_by(others, excluded.account_id, wave.regions)
        deployed = f"; wave {also} deploys it" if also else ""
        lines.append(f"  excludes {named(excluded.account_id)}: {excluded.reason}{deployed}")
    return lines


def _wrapped(heading: str, items: Sequence[str], width: int = 100) -> list[str]:
    """``heading`` and comma-separated ``items`` over indented lines, never splitting one."""
    lines = [f"  {heading}"]
    for position, item in enumerate(items):
        text = item + ("," if position < len(items) - 1 else "")
        if len(lines[-1]) + 1 + len(text) > width and lines[-1].strip() != heading:
            lines.append("   ")
        lines[-1] += " " + text
    return lines


def _deployed_by(waves: _Reached, account: str, regions: Sequence[str]) -> str:
    """The first of ``waves`` that deploys ``account`` in one of ``regions`` ("" if none)."""
    for name, accounts, wave_regions in waves:
        if account in accounts and not wave_regions.isdisjoint(regions):
            return name
    return ""
