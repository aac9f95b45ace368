"""Ground truth about calls: every mutating API call, who made it, when, and its outcome.

Tests of the product assert on this log (for example "a dry run made no mutating call",
"a retried task did not start a second operation"), never on awssim internals.
"""

from __future__ import annotations

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
    """The append-only log of mutating calls."""

    def __init__(self) -> None:
        self._calls: list[Call] = []

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

    def clear(self) -> None:
        """Forget every call."""
        self._calls.clear()

    def __len__(self) -> int:
        return len(self._calls)
