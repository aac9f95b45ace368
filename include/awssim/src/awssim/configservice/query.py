"""The advanced-query SQL that awssim's Config aggregator answers: a deliberately small subset.

Accepted (keywords in any case, one predicate per base field, ANDed)::

    SELECT field[, field...]
    WHERE resourceType = '<type>'
      [AND configurationItemCaptureTime {>=|>|<=|<} '<ISO-8601>' ...]
      [AND accountId = '<12 digits>']

with fields among accountId, awsRegion, resourceId, resourceType, configurationItemCaptureTime
and configuration. Anything else (``*``, OR, NOT, LIKE, IN, BETWEEN, ORDER BY, GROUP BY,
functions, other properties) is ``InvalidExpressionException`` naming what is not supported,
so a product query that strays from what is simulated fails loudly instead of being
answered wrong.

Capture-time bounds become integer milliseconds since the Unix epoch, the precision at which
Config prints ``configurationItemCaptureTime`` ("2026-12-07T04:00:00.000Z"): a row printed
with a time compares with a literal of that time exactly as the text reads.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SELECTABLE = (
    "accountId",
    "awsRegion",
    "resourceId",
    "resourceType",
    "configurationItemCaptureTime",
    "configuration",
)
CAPTURE_TIME = "configurationItemCaptureTime"
_COMPARISONS = (">=", "<=", ">", "<")
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<op>>=|<=|<>|!=|=|>|<)|(?P<comma>,)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.:]*)|(?P<other>\S))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ExpressionError(ValueError):
    """The expression is outside the supported subset; the message says what."""


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed expression: the selected fields and the row filters."""

    fields: tuple[str, ...]
    resource_type: str
    account_id: str | None = None
    captured_from: int | None = None  # epoch ms, inclusive
    captured_to: int | None = None  # epoch ms, inclusive

    def key(self) -> tuple[object, ...]:
        """What identifies the rows this query selects (for paging and the result cache)."""
        return (
            self.fields,
            self.resource_type,
            self.account_id,
            self.captured_from,
            self.captured_to,
        )


def _tokens(expression: str) -> list[tuple[str, str]]:
    found = []
    position = 0
    text = expression.rstrip().removesuffix(";")
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            break
        kind = match.lastgroup or "other"
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class _Reader:
    def __init__(self, expression: str) -> None:
        self.tokens = _tokens(expression)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            msg = "The expression ends early: expected more after it."
            raise ExpressionError(msg)
        self.position += 1
        return token

    def keyword(self, word: str) -> None:
        kind, value = self.take()
        if kind != "word" or value.upper() != word:
            raise ExpressionError(_unsupported(value, f"expected {word}"))


def _unsupported(value: str, expected: str) -> str:
    return (
        f"Unsupported or invalid query element '{value}': {expected} (awssim simulates {_SUBSET})."
    )


_SUBSET = (
    "SELECT of accountId, awsRegion, resourceId, resourceType, configurationItemCaptureTime, "
    "configuration WHERE resourceType = '...' [AND configurationItemCaptureTime >=, >, <= or "
    "< '<ISO-8601>'] [AND accountId = '...']"
)


def parse(expression: str) -> Query:
    """The query an expression asks for; raises ExpressionError outside the subset."""
    reader = _Reader(expression)
    reader.keyword("SELECT")
    fields: list[str] = []
    while True:
        kind, value = reader.take()
        if kind != "word" or value not in SELECTABLE:
            raise ExpressionError(_unsupported(value, "expected a selectable field"))
        if value in fields:
            raise ExpressionError(_unsupported(value, "a field is selected twice"))
        fields.append(value)
        following = reader.peek()
        if following is None or following[0] != "comma":
            break
        reader.take()
    reader.keyword("WHERE")
    filters = _Filters()
    while True:
        filters.add(*_predicate(reader))
        following = reader.peek()
        if following is None:
            break
        reader.keyword("AND")
    if filters.resource_type is None:
        msg = "The WHERE clause must include resourceType = '...'"
        raise ExpressionError(_unsupported("WHERE", msg))
    return Query(
        tuple(fields),
        filters.resource_type,
        filters.account_id,
        filters.captured_from,
        filters.captured_to,
    )


def _predicate(reader: _Reader) -> tuple[str, str, str]:
    kind, name = reader.take()
    if kind != "word" or name not in ("resourceType", "accountId", CAPTURE_TIME):
        raise ExpressionError(
            _unsupported(name, "expected resourceType, accountId or configurationItemCaptureTime")
        )
    kind, operator = reader.take()
    allowed = _COMPARISONS if name == CAPTURE_TIME else ("=",)
    if kind != "op" or operator not in allowed:
        raise ExpressionError(_unsupported(operator, f"{name} takes {' or '.join(allowed)}"))
    kind, literal = reader.take()
    if kind != "string":
        raise ExpressionError(_unsupported(literal, "expected a quoted literal"))
    return name, operator, literal[1:-1].replace("''", "'")


class _Filters:
    def __init__(self) -> None:
        self.resource_type: str | None = None
        self.account_id: str | None = None
        self.captured_from: int | None = None
        self.captured_to: int | None = None

    def add(self, name: str, operator: str, value: str) -> None:
        if name == "resourceType":
            if self.resource_type is not None:
                raise ExpressionError(_unsupported(name, "resourceType is given twice"))
            self.resource_type = value
        elif name == "accountId":
            if self.account_id is not None:
                raise ExpressionError(_unsupported(name, "accountId is given twice"))
            self.account_id = value
        else:
            micros = _epoch_micros(value)
            if operator in (">=", ">"):
                bound = math.ceil(micros / 1000) if operator == ">=" else micros // 1000 + 1
                if self.captured_from is None or bound > self.captured_from:
                    self.captured_from = bound
            else:
                bound = micros // 1000 if operator == "<=" else math.ceil(micros / 1000) - 1
                if self.captured_to is None or bound < self.captured_to:
                    self.captured_to = bound


def _epoch_micros(value: str) -> int:
    """An ISO-8601 timestamp as microseconds since the epoch (UTC when no offset is given)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ExpressionError(
            _unsupported(value, "configurationItemCaptureTime needs an ISO-8601 timestamp")
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return epoch_micros(moment)


def epoch_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime, exactly (no float rounding)."""
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def epoch_ms_text(epoch_ms: int) -> str:
    """A capture time as advanced query prints it: ISO-8601, milliseconds, ``Z``."""
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"
