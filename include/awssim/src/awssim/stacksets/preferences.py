"""OperationPreferences: Region order, concurrency and failure tolerance of an operation.

Without preferences AWS deploys one account at a time, Region after Region, and stops at
the first failure (MaxConcurrentCount 1, FailureToleranceCount 0, SEQUENTIAL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from awssim.stacksets.errors import ValidationError

SEQUENTIAL = "SEQUENTIAL"
PARALLEL = "PARALLEL"
STRICT = "STRICT_FAILURE_TOLERANCE"
SOFT = "SOFT_FAILURE_TOLERANCE"


@dataclass(frozen=True)
class Preferences:
    """A validated StackSetOperationPreferences."""

    region_concurrency: str = SEQUENTIAL
    region_order: list[str] = field(default_factory=list)
    failure_tolerance_count: int | None = None
    failure_tolerance_percentage: int | None = None
    max_concurrent_count: int | None = None
    max_concurrent_percentage: int | None = None
    concurrency_mode: str | None = None

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> Preferences:
        """Validate the request's OperationPreferences (None: the defaults)."""
        raw = raw or {}
        prefs = cls(
            region_concurrency=raw.get("RegionConcurrencyType") or SEQUENTIAL,
            region_order=list(raw.get("RegionOrder") or []),
            failure_tolerance_count=_optional_int(raw, "FailureToleranceCount"),
            failure_tolerance_percentage=_optional_int(raw, "FailureTolerancePercentage"),
            max_concurrent_count=_optional_int(raw, "MaxConcurrentCount"),
            max_concurrent_percentage=_optional_int(raw, "MaxConcurrentPercentage"),
            concurrency_mode=raw.get("ConcurrencyMode"),
        )
        prefs._validate()
        return prefs

    def _validate(self) -> None:
        tolerances = (self.failure_tolerance_count, self.failure_tolerance_percentage)
        if None not in tolerances:
            raise ValidationError(
                message="You can specify either FailureToleranceCount or "
                "FailureTolerancePercentage, but not both."
            )
        if self.max_concurrent_count is not None and self.max_concurrent_percentage is not None:
            raise ValidationError(
                message="You can specify either MaxConcurrentCount or "
                "MaxConcurrentPercentage, but not both."
            )
        for name, value, low, high in (
            ("FailureToleranceCount", self.failure_tolerance_count, 0, None),
            ("FailureTolerancePercentage", self.failure_tolerance_percentage, 0, 100),
            ("MaxConcurrentCount", self.max_concurrent_count, 1, None),
            ("MaxConcurrentPercentage", self.max_concurrent_percentage, 1, 100),
        ):
            if value is not None and (value < low or (high is not None and value > high)):
                bound = f"between {low} and {high}" if high is not None else f"at least {low}"
                raise ValidationError(message=f"{name} must be {bound} (got {value})")
        if self.region_concurrency not in {SEQUENTIAL, PARALLEL}:
            raise ValidationError(
                message=f"RegionConcurrencyType must be SEQUENTIAL or PARALLEL "
                f"(got {self.region_concurrency})"
            )
        if self.concurrency_mode not in {None, STRICT, SOFT}:
            raise ValidationError(
                message=f"ConcurrencyMode must be {STRICT} or {SOFT} (got {self.concurrency_mode})"
            )

    @property
    def strict(self) -> bool:
        """Whether failures lower the concurrency (the default mode)."""
        return self.concurrency_mode != SOFT

    def ordered_regions(self, regions: list[str]) -> list[str]:
        """RegionOrder first (the Regions it names that the operation has), then the rest."""
        first = [region for region in self.region_order if region in regions]
        return first + [region for region in regions if region not in first]

    def max_concurrent(self, targets: int) -> int:
        """Accounts deployed at once in a Region of ``targets`` accounts.

        A percentage rounds down, but never below one account.
        """
        if self.max_concurrent_count is not None:
            return self.max_concurrent_count
        if self.max_concurrent_percentage is not None:
            return max(1, targets * self.max_concurrent_percentage // 100)
        return 1

    def tolerance(self, targets: int) -> int:
        """Failures a Region of ``targets`` accounts may have before the operation stops there.

        A percentage rounds down.
        """
        if self.failure_tolerance_count is not None:
            return self.failure_tolerance_count
        if self.failure_tolerance_percentage is not None:
            return targets * self.failure_tolerance_percentage // 100
        return 0

    def to_dict(self) -> dict[str, Any]:
        """The preferences as AWS describes them (only what was set, plus the defaults)."""
        described: dict[str, Any] = {"RegionConcurrencyType": self.region_concurrency}
        if self.region_order:
            described["RegionOrder"] = list(self.region_order)
        for key, value in (
            ("FailureToleranceCount", self.failure_tolerance_count),
            ("FailureTolerancePercentage", self.failure_tolerance_percentage),
            ("MaxConcurrentCount", self.max_concurrent_count),
            ("MaxConcurrentPercentage", self.max_concurrent_percentage),
            ("ConcurrencyMode", self.concurrency_mode),
        ):
            if value is not None:
                described[key] = value
        return described


def _optional_int(raw: dict[str, Any], key: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(message=f"{key} must be an integer (got {value!r})") from None
