"""Association schedules: ``rate(...)``, ``cron(...)`` and ``at(...)``, validated and stepped.

State Manager's cron has the fields Minutes Hours Day-of-month Month Day-of-week and an
optional Year; exactly one of the day fields is ``?``, and Month must be ``*`` (State
Manager does not support months for associations). Rates run at most every 30 minutes.
See "Reference: Cron and rate expressions for Systems Manager" in the user guide.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from awssim.statemanager.errors import InvalidSchedule

MIN_RATE_MINUTES = 30
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_SEARCH_DAYS = 366 * 8


@dataclass(frozen=True)
class _Range:
    low: int
    high: int
    names: tuple[str, ...] = ()


_MINUTE, _HOUR = _Range(0, 59), _Range(0, 23)
_DOM, _MONTH = _Range(1, 31), _Range(1, 12, _MONTHS)
_DOW, _YEAR = _Range(1, 7, _DAYS), _Range(1970, 2199)
_NTH = re.compile(r"([1-7]|SUN|MON|TUE|WED|THU|FRI|SAT)(#[1-5]|L)")
_NEAREST = re.compile(r"(\d{1,2})W|LW")


def _value(token: str, field: _Range) -> int:
    upper = token.upper()
    if upper in field.names:
        return field.names.index(upper) + field.low
    if not token.isdigit() or not field.low <= int(token) <= field.high:
        raise ValueError(token)
    return int(token)


def _expand(text: str, field: _Range) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else 0
        if step_text and not step:
            raise ValueError(part)
        if base == "*":
            low, high = field.low, field.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = _value(first, field), _value(last, field)
        else:
            low = _value(base, field)
            high = field.high if step else low
        if low > high:
            raise ValueError(part)
        values.update(range(low, high + 1, step or 1))
    return frozenset(values)


def _aws_weekday(day: date) -> int:
    """SUN=1 ... SAT=7, as AWS cron numbers days."""
    return (day.weekday() + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, wanted: int) -> int:
    last = calendar.monthrange(year, month)[1]
    day = date(year, month, min(wanted, last))
    if day.weekday() == 5:  # Saturday: the Friday before, unless that leaves the month
        return day.day - 1 if day.day > 1 else day.day + 2
    if day.weekday() == 6:  # Sunday: the Monday after, unless that leaves the month
        return day.day + 1 if day.day < last else day.day - 2
    return day.day


@dataclass(frozen=True)
class _DayRule:
    """Day-of-month or day-of-week field: plain values plus the L, W and # forms."""

    values: frozenset[int]
    specials: tuple[str, ...]
    weekday: bool

    @classmethod
    def parse(cls, text: str, *, weekday: bool) -> _DayRule:
        plain, specials = [], []
        for part in text.split(","):
            upper = part.upper()
            special = _NTH if weekday else _NEAREST
            if upper == "L" or special.fullmatch(upper):
                specials.append(upper)
            else:
                plain.append(part)
        values = _expand(",".join(plain), _DOW if weekday else _DOM) if plain else frozenset()
        return cls(values, tuple(specials), weekday)

    def matches(self, day: date) -> bool:
        last = calendar.monthrange(day.year, day.month)[1]
        if self.weekday:
            if _aws_weekday(day) in self.values:
                return True
            for special in self.specials:
                target = _value(special[:-1] if special.endswith("L") else special[:-2], _DOW)
                if _aws_weekday(day) != target:
                    continue
                if special.endswith("L") and day.day + 7 > last:
                    return True
                if "#" in special and (day.day - 1) // 7 + 1 == int(special[-1]):
                    return True
            return False
        if day.day in self.values:
            return True
        for special in self.specials:
            if special == "L":
                if day.day == last:
                    return True
                continue
            wanted = last if special == "LW" else int(special[:-1])
            if day.day == _nearest_weekday(day.year, day.month, wanted):
                return True
        return False


@dataclass(frozen=True)
class Schedule:
    """A parsed association schedule."""

    expression: str
    interval: float | None = None
    at: datetime | None = None
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: _DayRule | None = None
    years: frozenset[int] | None = None

    @property
    def is_rate(self) -> bool:
        """Whether this is a rate expression."""
        return self.interval is not None

    @property
    def is_cron(self) -> bool:
        """Whether this is a cron expression."""
        return self.days is not None

    def next_after(self, moment: datetime) -> datetime | None:
        """The first run strictly after ``moment`` (None: an ``at`` already past)."""
        if self.interval is not None:
            return moment + timedelta(seconds=self.interval)
        if self.at is not None:
            return self.at if self.at > moment else None
        assert self.days is not None
        start = (moment + timedelta(minutes=1)).replace(second=0, microsecond=0)
        day = start.date()
        times = sorted((hour, minute) for hour in self.hours for minute in self.minutes)
        for _ in range(_SEARCH_DAYS):
            if (self.years is None or day.year in self.years) and self.days.matches(day):
                for hour, minute in times:
                    candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                    if candidate >= start:
                        return candidate
            day += timedelta(days=1)
        return None


def parse_schedule(expression: str) -> Schedule:
    """Parse a schedule as State Manager accepts it; raises InvalidSchedule otherwise."""
    text = expression.strip()
    if match := _RATE.fullmatch(text):
        amount, unit = int(match.group(1)), match.group(2)
        seconds = amount * _UNIT_SECONDS[unit.rstrip("s")]
        if (
            amount >= 1
            and (amount == 1) == (not unit.endswith("s"))
            and seconds >= 60 * MIN_RATE_MINUTES
        ):
            return Schedule(text, interval=float(seconds))
    elif match := _AT.fullmatch(text):
        try:
            moment = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
        except ValueError:
            moment = None
        if moment is not None:
            return Schedule(text, at=moment)
    elif text.startswith("cron(") and text.endswith(")"):
        parsed = _parse_cron(text)
        if parsed is not None:
            return parsed
    msg = f"Schedule expression {expression} is not valid."
    raise InvalidSchedule(msg)


def _parse_cron(text: str) -> Schedule | None:
    fields = text[5:-1].split()
    if len(fields) not in (5, 6) or fields[3] != "*" or (fields[2] == "?") == (fields[4] == "?"):
        return None
    try:
        minutes, hours = _expand(fields[0], _MINUTE), _expand(fields[1], _HOUR)
        if fields[2] != "?":
            days = _DayRule.parse(fields[2], weekday=False)
        else:
            days = _DayRule.parse(fields[4], weekday=True)
        years = None if len(fields) == 5 or fields[5] == "*" else _expand(fields[5], _YEAR)
    except ValueError:
        return None
    return Schedule(text, minutes=minutes, hours=hours, days=days, years=years)
