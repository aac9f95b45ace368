"""The preflight's records: what was read, and what each check judged of it.

``hooks.preflight`` fills ``Readings`` (an AWS read that failed arrives as ``Refused``);
the checks (``core.preflight_organization``, ``core.preflight_resources``) turn them into
``Check``s, and ``core.preflight.judge`` gathers those into a ``Preflight``, whose verdict is
its worst check's. ``Check`` and ``Preflight`` cross XCom (``to_dict``/``from_dict``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from distributor_rollout.core.errors import Problem, ValidationError, wrong
from distributor_rollout.core.org import Organization

Verdict = Literal["pass", "warn", "fail"]
VERDICTS: Final[tuple[Verdict, ...]] = ("pass", "warn", "fail")
"""From best to worst: the preflight's verdict is its worst check's."""

DENIED_CODES: Final = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
)


@dataclass(frozen=True, slots=True)
class Refused:
    """An AWS read that failed: the service's error code and message."""

    code: str
    message: str = ""

    @property
    def denied(self) -> bool:
        """Whether IAM or the service refused the caller (rather than the thing missing)."""
        return self.code in DENIED_CODES

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


@dataclass(frozen=True, slots=True)
class BucketReading:
    """What ``HeadBucket`` (with ``ExpectedBucketOwner``) said: ``exists`` (with its
    Region), ``missing`` (404) or ``not_yours`` (403: another account's, or unreadable)."""

    state: Literal["exists", "missing", "not_yours"]
    region: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentReading:
    """One version of an SSM document as ``DescribeDocument`` describes it."""

    name: str
    document_type: str
    status: str
    document_version: str
    version_name: str | None
    default_version: str = ""
    owner: str = ""


@dataclass(frozen=True, slots=True)
class PackageReading:
    """An existing package in one Region: its default version, and the pinned version when
    the plan pins one that is not the default (None otherwise)."""

    region: str
    ref: str
    default: DocumentReading | Refused
    pinned: DocumentReading | Refused | None = None


@dataclass(frozen=True)
class Readings:
    """Everything the preflight read, as the hook translated it."""

    caller: str
    management: str | Refused
    admins: tuple[str, ...] | Refused | None
    """ListDelegatedAdministrators for StackSets (None: not read, for call_as SELF)."""
    access: str | Refused
    """DescribeOrganizationsAccess(CallAs=the plan's call_as): its Status."""
    organization: Organization | Refused
    regions: Mapping[str, str] | Refused
    """DescribeRegions(AllRegions=True): OptInStatus by Region name."""
    bucket: str
    bucket_head: BucketReading | Refused
    packages: tuple[PackageReading, ...] = ()


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome: what it found and, unless it passed, what to do.

    ``problems`` (only when it failed) are what ``validate`` raises, each naming the plan
    field it concerns.
    """

    name: str
    title: str
    verdict: Verdict
    found: str
    todo: str = ""
    problems: tuple[Problem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``--json``)."""
        return {
            "name": self.name,
            "title": self.title,
            "verdict": self.verdict,
            "found": self.found,
            "todo": self.todo,
            "problems": [{"path": p.path, "message": p.message} for p in self.problems],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        """The inverse of ``to_dict``."""
        verdict = data["verdict"]
        if verdict not in VERDICTS:
            raise ValidationError(
                "preflight check", [wrong("verdict", "unknown", verdict, " | ".join(VERDICTS))]
            )
        return cls(
            name=str(data["name"]),
            title=str(data["title"]),
            verdict=cast("Verdict", verdict),
            found=str(data["found"]),
            todo=str(data.get("todo", "")),
            problems=tuple(
                Problem(str(p["path"]), str(p["message"])) for p in data.get("problems", ())
            ),
        )


@dataclass(frozen=True)
class Preflight:
    """Every check of one plan, as one caller sees AWS."""

    plan: str
    caller: str
    call_as: str
    checks: tuple[Check, ...]

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of the checks (``pass`` when there are none)."""
        return worst(check.verdict for check in self.checks)

    @property
    def problems(self) -> tuple[Problem, ...]:
        """The problems of the failed checks, in check order."""
        return tuple(problem for check in self.checks for problem in check.problems)

    @property
    def subject(self) -> str:
        """What a ``ValidationError`` of the preflight is about."""
        return f"preflight of plan {self.plan!r}"

    def raise_for_failures(self) -> None:
        """``ValidationError`` with the failed checks' problems, if any check failed."""
        if self.verdict == "fail":
            raise ValidationError(self.subject, self.problems)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``--json``)."""
        return {
            "plan": self.plan,
            "caller": self.caller,
            "call_as": self.call_as,
            "verdict": self.verdict,
            "checks": [check.to_dict() for check in self.checks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preflight:
        """The inverse of ``to_dict`` (the overall verdict is recomputed from the checks)."""
        return cls(
            plan=str(data["plan"]),
            caller=str(data["caller"]),
            call_as=str(data["call_as"]),
            checks=tuple(Check.from_dict(check) for check in data["checks"]),
        )


def worst(verdicts: Iterator[Verdict] | Sequence[Verdict]) -> Verdict:
    """The worst of some verdicts (``pass`` for none)."""
    return max(verdicts, key=VERDICTS.index, default="pass")


def whats(problems: Sequence[Problem]) -> str:
    """The problems' "what" parts, without their got/expected tails."""
    return "; ".join(problem.message.split(" (got ", 1)[0] for problem in problems)
