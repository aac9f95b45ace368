"""Ground truth about calls: every mutating API call, who made it, when, and its outcome;
and how many calls of each operation arrived, reads included.

Tests of the product assert on this log (for example "a dry run made no mutating call",
"a retried task did not start a second operation"), never on awssim internals. The counts
are what benchmarks read (``bench/rollout_scale.py``: API calls per target by operation):
every request awssim answered, whether it succeeded, failed or was refused by a fault.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass, field

READ_PREFIXES = (
    "Describe",
    "List",
    "Get",
    "Head",
    "Validate",
    "Estimate",
    "Lookup",
    "Search",
    "Select",
    "Check",
)
# Calls that change no resource although their names do not say so.
READ_OPERATIONS = frozenset(
    {"AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML", "DecodeAuthorizationMessage"}
)


def is_mutating(operation: str) -> bool:
    """Whether an operation changes state (by the AWS naming convention)."""
    return not (operation.startswith(READ_PREFIXES) or operation in READ_OPERATIONS)


@dataclass(frozen=True)
class Call:
    """One mutating API call as the simulator received and answered it."""

    seq: int
    time: str
    sim_time: str
    account: str
    principal: str
    region: str
    service: str
    operation: str
    status: int
    error: str | None
    params: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether AWS accepted the call (2xx)."""
        return 200 <= self.status < 300

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return {**asdict(self), "ok": self.ok}


class Ledger:
    """The append-only log of mutating calls, and the count of every call by operation."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._counts: Counter[str] = Counter()
        # Requests are counted as they arrive, outside the simulator's lock: this one keeps
        # concurrent increments from losing a count.
        self._count_lock = threading.Lock()

    def record(self, **fields: object) -> Call:
        """Append a call (``seq`` is assigned here)."""
        call = Call(seq=len(self._calls) + 1, **fields)  # type: ignore[arg-type]
        self._calls.append(call)
        return call

    def calls(
        self, *, service: str | None = None, operation: str | None = None, ok: bool | None = None
    ) -> list[Call]:
        """Calls, optionally filtered by service, operation and success."""
        return [
            call
            for call in self._calls
            if (service is None or call.service == service)
            and (operation is None or call.operation == operation)
            and (ok is None or call.ok == ok)
        ]

    def count(self, service: str, operation: str) -> None:
        """Count one call of ``service.operation`` (any call: reads and failures too)."""
        with self._count_lock:
            self._counts[f"{service}.{operation}"] += 1

    def counts(self) -> dict[str, int]:
        """Calls so far by ``service.Operation`` (``ssm.DescribeAssociation``), sorted."""
        with self._count_lock:
            return dict(sorted(self._counts.items()))

    def clear(self) -> None:
        """Forget every call, and every count."""
        self._calls.clear()
        with self._count_lock:
            self._counts.clear()

    def __len__(self) -> int:
        return len(self._calls)
