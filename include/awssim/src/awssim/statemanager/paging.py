"""NextToken paging for the State Manager and compliance list calls.

A token is opaque to callers: the call it was issued by and the offset of the next page. A
token from another call, or one that was never issued, is InvalidNextToken.
"""

from __future__ import annotations

import base64
import json
from typing import TypeVar

from awssim.statemanager.errors import InvalidNextToken, ValidationException

T = TypeVar("T")


def _encode(call: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([call, offset]).encode()).decode()


def _decode(call: str, token: str) -> int:
    try:
        issued_by, offset = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise InvalidNextToken() from None
    if issued_by != call or not isinstance(offset, int) or offset < 0:
        raise InvalidNextToken()
    return offset


def page(
    rows: list[T],
    call: str,
    max_results: int | None,
    token: str | None,
    *,
    bounds: tuple[int, int] = (1, 50),
    default: int | None = None,
) -> tuple[list[T], str | None]:
    """One page of ``rows`` and the token for the next page (None on the last page)."""
    low, high = bounds
    if max_results is not None and not low <= int(max_results) <= high:
        msg = (
            f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to "
            f"satisfy constraint: Member must have value between {low} and {high}"
        )
        raise ValidationException(msg)
    start = _decode(call, token) if token else 0
    if start > len(rows):
        raise InvalidNextToken()
    size = int(max_results) if max_results is not None else (default or high)
    end = start + size
    return rows[start:end], (_encode(call, end) if end < len(rows) else None)
