"""The project's exceptions: one base class, and errors that carry every problem found."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Final

Loc = tuple[int | str, ...]
DESCRIBE_MAX: Final = 80  # the longest rendering of a value in a message
MAX_REPORTED_PROBLEMS: Final = 50
"""Problems an error keeps and reports: beyond them a broken input says only how many more."""


class RolloutError(Exception):
    """Base class of every error this project raises on purpose."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input, located by a dotted path (``waves[1].regions[0]``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def path_of(loc: Loc) -> str:
    """``('waves', 1, 'ous', 0)`` → ``waves[1].ous[0]``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _bounded_repr(value: object, limit: int) -> str:
    """``repr(value)``, or a prefix of it at least ``limit`` long, at a cost bounded by
    ``limit`` rather than by the value: a plan can hold a 1 MiB string or a huge list."""
    if isinstance(value, str):
        return repr(value[:limit])
    if isinstance(value, Mapping):
        items = (
            f"{_bounded_repr(key, limit)}: {_bounded_repr(item, limit)}"
            for key, item in value.items()
        )
        return _joined("{", items, "}", limit)
    if isinstance(value, list):
        return _joined("[", (_bounded_repr(item, limit) for item in value), "]", limit)
    return repr(value)[: limit + 1]


def _joined(opening: str, items: Iterable[str], closing: str, limit: int) -> str:
    text = opening
    for index, item in enumerate(items):
        text += (", " if index else "") + item
        if len(text) > limit:
            return text
    return text + closing


def describe(value: object) -> str:
    """Render a user value for an error message: short, quoted like Python, never huge."""
    text = _bounded_repr(value, DESCRIBE_MAX)
    return text if len(text) <= DESCRIBE_MAX else text[: DESCRIBE_MAX - 3] + "..."


def wrong(path: str, what: str, got: object, expected: str) -> Problem:
    """The standard problem shape: ``path: what is wrong (got X; expected Y)``."""
    return Problem(path, f"{what} (got {describe(got)}; expected {expected})")


class ValidationError(RolloutError):
    """Raised with every problem found in an input, not just the first."""

    def __init__(self, subject: str, problems: Iterable[Problem]) -> None:
        self.subject = subject
        remaining = iter(problems)
        # Only the first few are kept: a generated or hostile input can hold a problem per
        # value, and the error travels into logs, XComs and run reports.
        self.problems: tuple[Problem, ...] = tuple(islice(remaining, MAX_REPORTED_PROBLEMS))
        self.total = len(self.problems) + sum(1 for _ in remaining)
        super().__init__(self.report())

    def report(self) -> str:
        """A multi-line report: a heading, one problem per line, then how many are not shown."""
        count = self.total
        lines = [f"{self.subject}: {count} problem{'s' if count != 1 else ''}"]
        lines.extend(f"  - {problem}" for problem in self.problems)
        if count > len(self.problems):
            lines.append(f"  ... and {count - len(self.problems)} more")
        return "\n".join(lines)


class PackageError(ValidationError):
    """A package folder, package.yaml or manifest that cannot become a Distributor package."""
