"""Durations as operators write them in plans and trigger forms: ``90``, ``"45s"``,
``"30m"``, ``"1h30m"``, ``"2d"``. Always stored as whole seconds."""

from __future__ import annotations

import re

from distributor_rollout.core.errors import describe

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNIT_SECONDS = (86_400, 3_600, 60, 1)
EXPECTED = "seconds as a number, or a duration like '45s', '30m', '1h30m', '2d'"


def parse_duration(value: object) -> int:
    """Whole seconds for a duration; ``ValueError`` with the project's message shape."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration (got {describe(value)}; expected {EXPECTED})")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"negative duration (got {value}; expected {EXPECTED})")
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return int(text)
        match = _DURATION.fullmatch(text)
        if text and match:
            return sum(
                int(n or 0) * unit for n, unit in zip(match.groups(), _UNIT_SECONDS, strict=True)
            )
    raise ValueError(f"not a duration (got {describe(value)}; expected {EXPECTED})")


def format_duration(seconds: float) -> str:
    """A short human form: ``1h30m``, ``45s``, ``0s``."""
    remaining = round(seconds)
    if remaining == 0:
        return "0s"
    parts = []
    for unit, suffix in zip(_UNIT_SECONDS, "dhms", strict=True):
        count, remaining = divmod(remaining, unit)
        if count:
            parts.append(f"{count}{suffix}")
    return "".join(parts)
