"""Schedule expressions: State Manager association schedules and Airflow DAG schedules.

State Manager accepts ``cron(...)``, ``rate(...)`` and ``at(...)``. Its cron has the
fields Minutes Hours Day-of-month Month Day-of-week and an optional Year; exactly one of
Day-of-month and Day-of-week is ``?``; State Manager does not support specifying months
for associations, so Month must be ``*``; and an association may not run more often than
every 30 minutes (rate expressions below 30 minutes are refused). See "Reference: Cron and
rate expressions for Systems Manager" in the Systems Manager user guide.

A DAG schedule is Airflow's: a five-field Unix cron (``0 6 * * 1``) or a preset.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from distributor_rollout.core.errors import describe

MIN_ASSOCIATION_INTERVAL_MINUTES = 30

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_AWS_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # 1-7
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_AT = re.compile(r"at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)")
_AIRFLOW_PRESETS = frozenset(
    {
        "@once",
        "@continuous",
        "@hourly",
        "@daily",
        "@weekly",
        "@monthly",
        "@quarterly",
        "@yearly",
        "@annually",
    }
)

_CRON_EXPECTED = (
    "cron(Min Hour Day-of-month Month Day-of-week [Year]), Month '*', one day field '?'"
)
_RATE_EXPECTED = "rate(N minute(s)|hour(s)|day(s)), at least 30 minutes"
_AT_EXPECTED = "at(YYYY-MM-DDThh:mm:ss) in UTC"
ASSOCIATION_EXPECTED = f"{_RATE_EXPECTED}; or {_CRON_EXPECTED}; or {_AT_EXPECTED}"
DAG_EXPECTED = "a five-field cron like '0 6 * * 1', or a preset like '@daily'"


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0  # the number the first name stands for


class _CronError(ValueError):
    pass


def _value(token: str, field: _Field) -> int:
    upper = token.upper()
    if field.names and upper in field.names:
        return field.names.index(upper) + field.name_base
    if not token.isdigit():
        raise _CronError(f"{field.name} has {token!r}")
    number = int(token)
    if not field.low <= number <= field.high:
        raise _CronError(f"{field.name} {number} is outside {field.low}-{field.high}")
    return number


def _expand(text: str, field: _Field, *, extra: re.Pattern[str] | None = None) -> set[int]:
    """The values a cron field selects; raises ``_CronError`` naming the field."""
    values: set[int] = set()
    for part in text.split(","):
        if extra is not None and extra.fullmatch(part.upper()):
            continue  # L, W and # forms: valid, and not needed for interval checks
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise _CronError(f"{field.name} has step {step_text!r}")
            step = int(step_text)
        if base == "*":
            low, high = field.low, field.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = _value(first, field), _value(last, field)
            if low > high:
                raise _CronError(f"{field.name} range {base!r} runs backwards")
        else:
            low = _value(base, field)
            high = field.high if step_text else low
        values.update(range(low, high + 1, step))
    return values


_AWS_MINUTES = _Field("minutes", 0, 59)
_AWS_HOURS = _Field("hours", 0, 23)
_AWS_DOM = _Field("day-of-month", 1, 31)
_AWS_MONTH = _Field("month", 1, 12, _MONTHS, 1)
_AWS_DOW = _Field("day-of-week", 1, 7, _AWS_DAYS, 1)
_AWS_YEAR = _Field("year", 1970, 2199)
_AWS_DOM_EXTRA = re.compile(r"L|LW|\d{1,2}W")
_AWS_DOW_EXTRA = re.compile(r"([1-7]|SUN|MON|TUE|WED|THU|FRI|SAT)(#[1-5]|L)")


def _aws_cron_problem(body: str) -> str | None:
    fields = body.split()
    if len(fields) not in (5, 6):
        return f"cron needs 5 or 6 fields, has {len(fields)}"
    minutes, hours, dom, month, dow = fields[:5]
    if month != "*":
        return "State Manager does not support months in association cron: Month must be '*'"
    if (dom == "?") == (dow == "?"):
        return "exactly one of day-of-month and day-of-week must be '?'"
    try:
        minute_values = _expand(minutes, _AWS_MINUTES)
        hour_values = _expand(hours, _AWS_HOURS)
        if dom != "?":
            _expand(dom, _AWS_DOM, extra=_AWS_DOM_EXTRA)
        if dow != "?":
            _expand(dow, _AWS_DOW, extra=_AWS_DOW_EXTRA)
        if len(fields) == 6 and fields[5] != "*":
            _expand(fields[5], _AWS_YEAR)
    except _CronError as error:
        return str(error)
    if _shortest_gap_minutes(minute_values, hour_values) < MIN_ASSOCIATION_INTERVAL_MINUTES:
        return f"runs more often than every {MIN_ASSOCIATION_INTERVAL_MINUTES} minutes"
    return None


def _shortest_gap_minutes(minutes: set[int], hours: set[int]) -> int:
    """The shortest gap between two runs within a day (and across midnight)."""
    times = sorted(hour * 60 + minute for hour in hours for minute in minutes)
    if len(times) < 2:
        return 24 * 60
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    gaps.append(times[0] + 24 * 60 - times[-1])
    return min(gaps)


def _rate_problem(amount: int, unit: str) -> str | None:
    if amount == 0:
        return "rate must be positive"
    if (amount == 1) != (not unit.endswith("s")):
        return "use a singular unit for 1, a plural one otherwise: 'rate(1 hour)', 'rate(2 hours)'"
    if unit.startswith("minute") and amount < MIN_ASSOCIATION_INTERVAL_MINUTES:
        return f"associations run at most every {MIN_ASSOCIATION_INTERVAL_MINUTES} minutes"
    return None


def association_schedule_problem(expression: str) -> str | None:
    """``None`` when State Manager accepts the schedule, else ``what (got X; expected Y)``."""
    text = expression.strip()
    problem: str | None
    expected = ASSOCIATION_EXPECTED
    if text.startswith("cron(") and text.endswith(")"):
        problem, expected = _aws_cron_problem(text[5:-1]), _CRON_EXPECTED
    elif match := _RATE.fullmatch(text):
        problem, expected = _rate_problem(int(match.group(1)), match.group(2)), _RATE_EXPECTED
    elif match := _AT.fullmatch(text):
        _, month, day, hour, minute, second = (int(g) for g in match.groups())
        valid = 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60
        problem, expected = (None if valid else "not a valid UTC timestamp"), _AT_EXPECTED
    else:
        problem = "not a cron, rate or at expression"
    if problem is None:
        return None
    return f"{problem} (got {describe(expression)}; expected {expected})"


def is_rate(expression: str) -> bool:
    """Whether an association schedule is a rate expression."""
    return expression.strip().startswith("rate(")


_UNIX_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day-of-week", 0, 7, _AWS_DAYS, 0),
)


def dag_schedule_problem(expression: str) -> str | None:
    """``None`` when Airflow accepts the DAG schedule, else the problem message."""
    text = expression.strip()
    if text in _AIRFLOW_PRESETS:
        return None
    fields = text.split()
    problem: str | None = None
    if len(fields) != 5:
        problem = f"cron needs 5 fields, has {len(fields)}"
    else:
        try:
            for field_text, field in zip(fields, _UNIX_FIELDS, strict=True):
                _expand(field_text, field)
        except _CronError as error:
            problem = str(error)
    if problem is None:
        return None
    return f"{problem} (got {describe(expression)}; expected {DAG_EXPECTED})"
