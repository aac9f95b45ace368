"""Reading a run's records as a later task or the report finds them.

A record another task stored (an XCom, a state-store entry) may be missing, partial,
damaged, or written by another version of this code. A reader that must still give an
answer (the report, the rollback's reasons) treats any of those as no record at all;
what no record means is each reader's own decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from distributor_rollout.core.errors import ValidationError

Record = TypeVar("Record")


def read_or_none(from_dict: Callable[[Mapping[str, Any]], Record], value: object) -> Record | None:
    """``from_dict(value)``, or None when ``value`` is no record (not a mapping, or empty)
    or one ``from_dict`` cannot read."""
    if not isinstance(value, Mapping) or not value:
        return None
    try:
        return from_dict(value)
    except (KeyError, TypeError, ValueError, ValidationError):
        return None
