"""The project's exceptions: one base class, and errors that carry every problem found."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class RolloutError(Exception):
    """Base class of every error this project raises on purpose."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input, located by a dotted path (``waves[1].regions[0]``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def describe(value: object) -> str:
    """Render a user value for an error message: short, quoted like Python, never huge."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def wrong(path: str, what: str, got: object, expected: str) -> Problem:
    """The standard problem shape: ``path: what is wrong (got X; expected Y)``."""
    return Problem(path, f"{what} (got {describe(got)}; expected {expected})")


class ValidationError(RolloutError):
    """Raised with every problem found in an input, not just the first."""

    def __init__(self, subject: str, problems: Iterable[Problem]) -> None:
        self.subject = subject
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(self.report())

    def report(self) -> str:
        """A multi-line report: a heading, then one problem per line."""
        count = len(self.problems)
        lines = [f"{self.subject}: {count} problem{'s' if count != 1 else ''}"]
        lines.extend(f"  - {problem}" for problem in self.problems)
        return "\n".join(lines)


class PackageError(ValidationError):
    """A package folder, package.yaml or manifest that cannot become a Distributor package."""
