"""Fault scenarios: named YAML files that make awssim fail the way AWS sometimes does.

A scenario is deterministic for a given seed. Per-call faults (throttling, 5xx, latency)
draw from one seeded random stream per (service, operation); node and stack instance
faults are a pure function of the seed and the node or target, so they do not depend on
the order in which calls arrive.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from awssim.orgspec import OrgSpec, validation_report

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(value: Any) -> Any:
    """``90``, ``"90s"``, ``"10m"``, ``"1h30m"`` → simulated seconds (others left to pydantic)."""
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if not text or _DURATION_PART.sub("", text):
            msg = f"{value!r} is not a duration: use seconds or e.g. 90s, 10m, 1h30m, 2d"
            raise ValueError(msg)
        return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    return value


Duration = Annotated[float, BeforeValidator(_seconds), Field(ge=0.0)]


class ScenarioError(ValueError):
    """A scenario file or name that cannot be loaded; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Where(_Strict):
    """Which accounts and Regions a fault applies to; empty lists mean all."""

    ous: list[str] = Field(default_factory=list, description="OU paths, e.g. /Prod/EU.")
    accounts: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)

    def matches(self, org: OrgSpec, account_id: str, region: str) -> bool:
        """Whether (account, region) is in scope."""
        if self.regions and region not in self.regions:
            return False
        if not self.ous and not self.accounts:
            return True
        if account_id in self.accounts:
            return True
        path = account_path(org, account_id)
        return path is not None and any(_under(path, ou) for ou in self.ous)


class StackInstanceFailure(Where):
    """Stack instance operations that fail in the chosen accounts/Regions."""

    actions: list[Literal["CREATE", "UPDATE", "DELETE"]] = Field(
        default_factory=lambda: ["CREATE", "UPDATE"]
    )
    fraction: Fraction = 1.0
    times: int | None = Field(
        default=None, ge=1, description="Fail each target at most this often; default always."
    )
    reason: str = "Resource handler returned message: Internal failure (simulated)"


class PackageFailure(Where):
    """Installs of a package that fail on a fraction of the targeted nodes."""

    package: str = "*"
    versions: list[str] | Literal["new"] = Field(
        default="new",
        description="Version globs, or 'new': versions no node had installed when the "
        "scenario was loaded.",
    )
    fraction: Fraction = 1.0
    reason: str = "Failed to install package; install script exited with code 1 (simulated failure)"


class UnmanagedNodes(Where):
    """Nodes whose SSM Agent never reports (PingStatus ConnectionLost)."""

    fraction: Fraction = 1.0


class OfflineNodes(Where):
    """Nodes whose SSM Agent loses its connection for a while (PingStatus ConnectionLost).

    Either a window on the simulated clock, ``from`` (default 0) and optionally ``until``,
    counted from when the scenario was loaded (the simulation start for ``--scenario`` and
    ``reset``); or ``after_install``: the agent goes offline that long after the node's
    first successful install while the scenario is loaded, whatever the clock then reads
    (robust against the timing of a rollout driven in real time). ``for`` bounds an outage
    of either kind; with neither ``until`` nor ``for`` the agent never comes back.
    """

    fraction: Fraction = 1.0
    start: Duration | None = Field(default=None, alias="from")
    until: Duration | None = None
    after_install: Duration | None = None
    duration: Duration | None = Field(default=None, alias="for", gt=0.0)

    @model_validator(mode="after")
    def _one_kind(self) -> OfflineNodes:
        if self.after_install is not None and self.start is not None:
            msg = "give either 'from' (a time on the simulated clock) or 'after_install', not both"
            raise ValueError(msg)
        if self.after_install is not None and self.until is not None:
            msg = "'until' is a time on the simulated clock; with 'after_install' use 'for'"
            raise ValueError(msg)
        if self.until is not None and self.duration is not None:
            msg = "give either 'until' or 'for', not both"
            raise ValueError(msg)
        if self.until is not None and self.until <= (self.start or 0.0):
            msg = f"'until' ({self.until:g}s) must be later than 'from' ({self.start or 0.0:g}s)"
            raise ValueError(msg)
        return self

    def window(self, loaded: float) -> tuple[float, float | None]:
        """(start, end) in simulated seconds of a clock-window outage (end None: never back)."""
        start = loaded + (self.start or 0.0)
        if self.until is not None:
            return start, loaded + self.until
        return start, (None if self.duration is None else start + self.duration)


class CallFault(_Strict):
    """Faults on API calls, by service and operation globs."""

    services: list[str] = Field(default_factory=lambda: ["*"])
    operations: list[str] = Field(default_factory=lambda: ["*"])

    def applies(self, service: str, operation: str) -> bool:
        """Whether the call (service, operation name) is in scope."""
        return any(fnmatch.fnmatchcase(service, s) for s in self.services) and any(
            fnmatch.fnmatchcase(operation, o) for o in self.operations
        )


class Throttling(CallFault):
    """A fraction of calls answered with the service's throttling error."""

    rate: Fraction


class ServerErrors(CallFault):
    """A fraction of calls answered with a 5xx error."""

    rate: Fraction
    status: Literal[500, 502, 503] = 503


class Latency(CallFault):
    """Added latency (real seconds) per call."""

    seconds: float = Field(ge=0.0, le=30.0)


class OrganizationSetup(_Strict):
    """The organization's StackSets prerequisites while the scenario is loaded.

    Loading a scenario changes only what differs from the setup applied before it (the
    org seeds with both on), so a test's own RegisterDelegatedAdministrator or
    ActivateOrganizationsAccess survives a switch between scenarios that agree.
    """

    stacksets_trusted_access: bool = Field(
        default=True,
        description="False: trusted access for StackSets is deactivated (CloudFormation's "
        "DescribeOrganizationsAccess answers DISABLED and service-managed stack set "
        "operations fail).",
    )
    stacksets_delegated_admin: bool = Field(
        default=True,
        description="False: the org file's delegated_admin (the account unknown credentials "
        "act as) is not registered as the StackSets delegated administrator.",
    )


class AwsConfigSetup(_Strict):
    """How AWS Config delivers configuration items to aggregators (``awssim.configservice``)."""

    delivery_delay: Duration = Field(
        default=120.0,
        description="Simulated time between a change (a configuration item's capture time) "
        "and the item reaching the aggregator's advanced query.",
    )


class Scenario(_Strict):
    """A named set of faults, and the organization's setup they run in."""

    name: str
    description: str = ""
    seed: int = 0
    stack_instance_failures: list[StackInstanceFailure] = Field(default_factory=list)
    package_failures: list[PackageFailure] = Field(default_factory=list)
    unmanaged_nodes: list[UnmanagedNodes] = Field(default_factory=list)
    offline_nodes: list[OfflineNodes] = Field(default_factory=list)
    throttling: list[Throttling] = Field(default_factory=list)
    server_errors: list[ServerErrors] = Field(default_factory=list)
    latency: list[Latency] = Field(default_factory=list)
    organization: OrganizationSetup = Field(default_factory=OrganizationSetup)
    aws_config: AwsConfigSetup = Field(default_factory=AwsConfigSetup)


def shipped_scenarios() -> list[str]:
    """Names of the scenarios in ``scenarios/``."""
    return sorted(path.stem for path in SCENARIOS_DIR.glob("*.yaml"))


def load_scenario(ref: str | Path | None) -> Scenario:
    """Load a scenario by shipped name or path; None is the fault-free ``happy`` scenario."""
    if ref is None:
        ref = "happy"
    path = Path(str(ref))
    if not path.suffix:
        path = SCENARIOS_DIR / f"{ref}.yaml"
    if not path.is_file():
        msg = (
            f"scenario {str(ref)!r}: no such file; expected a YAML path "
            f"or one of {shipped_scenarios()}"
        )
        raise ScenarioError(msg)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise ScenarioError(validation_report(error, str(path), "scenario")) from None


def account_path(org: OrgSpec, account_id: str) -> str | None:
    """The OU path holding a member account, or None for the management account/unknown."""
    for path, account in org.accounts():
        if account.id == account_id:
            return path
    return None


def _under(path: str, ou: str) -> bool:
    ou = ou.rstrip("/")
    return path == ou or path.startswith(ou + "/")


def draw(seed: int, *parts: object) -> float:
    """A uniform number in [0, 1) that depends only on the seed and ``parts``."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
