"""What State Manager keeps: associations, their versions, executions and per-node results.

Times are simulated seconds (``Simulator.now()``); the API layer turns them into datetimes.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from awssim.events import EventHandle

# Per-node and per-target statuses. Pending: not run yet (or never, for a node whose agent
# does not report); Skipped: not dispatched because the run hit MaxErrors; Cancelled:
# dropped because a newer run of the association superseded the run.
PENDING = "Pending"
IN_PROGRESS = "InProgress"
SUCCESS = "Success"
FAILED = "Failed"
SKIPPED = "Skipped"
CANCELLED = "Cancelled"
TERMINAL = frozenset({SUCCESS, FAILED})


@dataclass(frozen=True)
class Settings:
    """One association version: everything CreateAssociation/UpdateAssociation can set."""

    document: str
    document_version: str = "$DEFAULT"
    parameters: dict[str, list[str]] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    instance_id: str | None = None
    schedule: str | None = None
    association_name: str | None = None
    output_location: dict[str, Any] | None = None
    max_concurrency: str | None = None
    max_errors: str | None = None
    compliance_severity: str | None = None
    sync_compliance: str | None = None
    apply_only_at_cron_interval: bool = False
    calendar_names: list[str] | None = None
    schedule_offset: int | None = None
    duration: int | None = None


@dataclass(frozen=True)
class Version:
    """An association version: its number ("1", "2", ...), settings and creation time."""

    number: int
    settings: Settings
    created: float


@dataclass
class NodeRecord:
    """Where one targeted node stands with the association's current version."""

    status: str
    version: int
    execution_id: str | None
    date: float
    reason: str | None = None
    output_id: str | None = None
    document_version: str | None = None


@dataclass
class TargetRun:
    """One node's part in one execution."""

    instance_id: str
    ready: float
    run_time: float
    status: str = PENDING
    dispatched: bool = False
    date: float | None = None
    reason: str | None = None
    output_id: str | None = None


@dataclass
class Execution:
    """One run of an association over its targets."""

    id: str
    version: int
    settings: Settings
    created: float
    trigger: str
    targets: dict[str, TargetRun]
    queue: list[str]
    limit: int
    max_errors: int | None
    document_version: str
    status: str = PENDING
    running: int = 0
    errors: int = 0
    # Targets whose agent was offline when their turn came: Pending until they reconnect.
    waiting: set[str] = field(default_factory=set)
    # The run hit MaxErrors: it sends the association to no further target.
    stopped: bool = False
    done: bool = False
    finished: float | None = None
    handles: list[EventHandle] = field(default_factory=list)


@dataclass
class Association:
    """A State Manager association in one account and Region."""

    id: str
    account: str
    region: str
    created: float
    versions: list[Version]
    updated: float
    executions: list[Execution] = field(default_factory=list)
    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    last_execution: float | None = None
    last_success: float | None = None
    timer: EventHandle | None = None
    last_trigger: float | None = None

    @property
    def latest(self) -> Version:
        """The newest version."""
        return self.versions[-1]

    @property
    def settings(self) -> Settings:
        """The newest version's settings."""
        return self.latest.settings

    @property
    def title(self) -> str:
        """AssociationName, or the document name when the association has none."""
        return self.settings.association_name or self.settings.document

    def version(self, number: int) -> Version | None:
        """One version by number."""
        return next((v for v in self.versions if v.number == number), None)

    def in_flight(self) -> list[Execution]:
        """Executions that still have work scheduled."""
        return [execution for execution in self.executions if not execution.done]


class IdSource:
    """UUIDs drawn from the simulator's seed, so a replayed scenario gets the same ids."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._count = itertools.count()

    def uuid(self, kind: str) -> str:
        """A fresh version-4-shaped UUID string."""
        digest = hashlib.sha256(f"{self._seed}:{kind}:{next(self._count)}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))
