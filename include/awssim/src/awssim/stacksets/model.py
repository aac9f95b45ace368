"""The state StackSets keeps: stack sets, their stack instances and their operations.

Plain records; the scheduler (``awssim.stacksets.scheduling``) moves operations and
instances through their states, the engine (``awssim.stacksets.engine``) creates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from awssim.stacksets.preferences import Preferences

if TYPE_CHECKING:
    from moto.cloudformation.models import Stack

    from awssim.events import EventHandle

# Operation status (StackSetOperationStatus).
QUEUED = "QUEUED"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
STOPPING = "STOPPING"
STOPPED = "STOPPED"
ACTIVE_STATUSES = frozenset({QUEUED, RUNNING, STOPPING})

# Per-target result status (StackSetOperationResultStatus) and instance detailed status.
PENDING = "PENDING"
CANCELLED = "CANCELLED"
INOPERABLE = "INOPERABLE"
SKIPPED_SUSPENDED_ACCOUNT = "SKIPPED_SUSPENDED_ACCOUNT"

# Stack instance status (StackInstanceStatus).
CURRENT = "CURRENT"
OUTDATED = "OUTDATED"

SUSPENDED_REASON = (
    "This account is suspended. To remove this instance from the stack set, "
    "run DeleteStackInstances with the RetainStacks parameter."
)


@dataclass
class StackInstance:
    """One account/Region of a stack set, and the stack it owns there (if any)."""

    account: str
    region: str
    ou_id: str
    stack_name: str
    overrides: dict[str, str] = field(default_factory=dict)
    status: str = OUTDATED
    detailed_status: str = PENDING
    reason: str | None = None
    last_operation_id: str = ""
    version: int = -1
    deployed_parameters: dict[str, str] = field(default_factory=dict)
    """The parameter values the instance's stack last deployed with (what it runs), which
    may differ from the stack set's own while the instance is OUTDATED."""
    stack: Stack | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(account, Region)."""
        return (self.account, self.region)

    @property
    def stack_id(self) -> str | None:
        """The member stack's id once it exists."""
        return None if self.stack is None else str(self.stack.stack_id)


@dataclass
class Target:
    """One account/Region an operation acts on, and its result."""

    account: str
    region: str
    ou_id: str
    status: str = PENDING
    reason: str | None = None
    overrides: dict[str, str] | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(account, Region)."""
        return (self.account, self.region)


@dataclass
class Change:
    """The template and parameters an operation deploys (a snapshot of the stack set's)."""

    body: str
    template: dict[str, Any]
    parameters: dict[str, str]
    version: int


@dataclass
class RegionRun:
    """An operation's progress in one Region."""

    region: str
    targets: list[Target]
    max_concurrent: int
    tolerance: int
    strict: bool
    failures: int = 0
    halted: bool = False
    running: dict[tuple[str, str], EventHandle] = field(default_factory=dict)
    _first_pending: int = field(default=0, repr=False)
    """No target before this index is PENDING (a target never becomes PENDING again)."""

    def next_pending(self) -> Target | None:
        """The first target not started yet, in launch order (None when none is left).

        Called once per finished target: a scan from the start each time would make an
        operation over N targets cost N²."""
        while self._first_pending < len(self.targets):
            target = self.targets[self._first_pending]
            if target.status == PENDING:
                return target
            self._first_pending += 1
        return None

    def pending(self) -> list[Target]:
        """Targets not started yet."""
        if self.next_pending() is None:
            return []
        return [t for t in self.targets[self._first_pending :] if t.status == PENDING]

    def concurrency(self) -> int:
        """How many targets may run at once now.

        STRICT_FAILURE_TOLERANCE starts at min(max concurrent, tolerance + 1) and lowers it
        as failures occur, so no more than ``tolerance + 1`` targets can fail; SOFT keeps the
        maximum (API_StackSetOperationPreferences, ConcurrencyMode).
        """
        if not self.strict:
            return self.max_concurrent
        return max(1, min(self.max_concurrent, self.tolerance + 1 - self.failures))


@dataclass
class Operation:
    """A stack set operation: its request, its per-target results and its progress."""

    operation_id: str
    action: str
    created: float
    preferences: Preferences
    targets: list[Target]
    deployment_targets: dict[str, Any] | None = None
    retain_stacks: bool | None = None
    change: Change | None = None
    status: str = QUEUED
    status_reason: str | None = None
    ended: float | None = None
    regions: list[RegionRun] = field(default_factory=list)
    region_index: int = 0
    marks_outdated: bool = False
    """An ``UpdateStackSet`` that marks every instance OUTDATED when it starts."""

    def failed_count(self) -> int:
        """Targets that failed (StatusDetails.FailedStackInstancesCount)."""
        return sum(1 for target in self.targets if target.status == FAILED)


@dataclass
class StackSet:
    """A stack set in its administrator's account and Region."""

    name: str
    stack_set_id: str
    arn: str
    account: str
    region: str
    call_as: str
    permission_model: str
    change: Change
    description: str | None = None
    capabilities: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    auto_deployment: dict[str, Any] | None = None
    managed_execution: bool = False
    administration_role_arn: str | None = None
    execution_role_name: str | None = None
    status: str = "ACTIVE"
    client_request_token: str | None = None
    instances: dict[tuple[str, str], StackInstance] = field(default_factory=dict)
    operations: list[Operation] = field(default_factory=list)
    last_version: int = 0

    def next_version(self) -> int:
        """A new template/parameters version number (versions only grow)."""
        self.last_version += 1
        return self.last_version

    def operation(self, operation_id: str) -> Operation | None:
        """The operation with that id, if any."""
        return next((op for op in self.operations if op.operation_id == operation_id), None)

    def active_operations(self) -> list[Operation]:
        """Operations queued, running or stopping, in request order."""
        return [op for op in self.operations if op.status in ACTIVE_STATUSES]
