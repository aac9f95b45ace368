"""What a rollout changed: each stack instance a wave created or updated, and from what.

Operators record these as they deploy; the rollback plans from them (``core.rollback``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from distributor_rollout.core import rules
from distributor_rollout.core.errors import Problem, ValidationError, wrong
from distributor_rollout.core.targets import Target

ChangeKind = Literal["created", "updated"]


@dataclass(frozen=True, slots=True)
class TemplateRef:
    """A template as it was deployed: its immutable S3 URL and the parameter values."""

    template_url: str
    parameters: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A read-only sorted copy: the caller's dict may change, this record must not.
        frozen = MappingProxyType(dict(sorted(self.parameters.items())))
        object.__setattr__(self, "parameters", frozen)

    def __hash__(self) -> int:
        return hash((self.template_url, tuple(self.parameters.items())))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"template_url": self.template_url, "parameters": dict(self.parameters)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TemplateRef:
        """The inverse of ``to_dict``."""
        return cls(data["template_url"], dict(data.get("parameters", {})))


@dataclass(frozen=True, slots=True)
class TargetChange:
    """One stack instance a wave created or updated; ``previous`` is what ran before.

    ``ou_id`` is the OU the wave deployed through (it may be a parent of the account's
    own OU): the rollback targets the account through the same OU.
    """

    target: Target
    ou_id: str
    kind: ChangeKind
    previous: TemplateRef | None = None

    def __post_init__(self) -> None:
        problems = []
        if (message := rules.ou_id(self.ou_id)) is not None:
            problems.append(Problem("ou_id", message))
        if self.kind not in ("created", "updated"):
            problems.append(wrong("kind", "unknown change", self.kind, "created | updated"))
        if self.kind == "created" and self.previous is not None:
            problems.append(Problem("previous", "a created instance has no previous template"))
        if problems:
            raise ValidationError(f"change of {self.target}", problems)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "target": self.target.to_dict(),
            "ou_id": self.ou_id,
            "kind": self.kind,
            "previous": self.previous.to_dict() if self.previous else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetChange:
        """The inverse of ``to_dict``."""
        previous = data.get("previous")
        return cls(
            target=Target.from_dict(data["target"]),
            ou_id=data["ou_id"],
            kind=data["kind"],
            previous=TemplateRef.from_dict(previous) if previous else None,
        )


@dataclass(frozen=True, slots=True)
class WaveChanges:
    """Every instance one wave changed, in the order the waves ran."""

    wave: str
    changes: tuple[TargetChange, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "changes", tuple(self.changes))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, each previous template written once.

        A template's parameters hold the whole manifest (up to 64 KB); repeated per target
        they would make a wave's XCom grow with targets × manifest. Changes refer to an
        entry of ``templates`` by index instead.
        """
        templates: list[TemplateRef] = []
        changes = []
        for change in self.changes:
            item = change.to_dict()
            if change.previous is not None:
                if change.previous not in templates:
                    templates.append(change.previous)
                item["previous"] = templates.index(change.previous)
            changes.append(item)
        return {
            "wave": self.wave,
            "templates": [template.to_dict() for template in templates],
            "changes": changes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WaveChanges:
        """The inverse of ``to_dict`` (also reads changes with inline templates)."""
        templates = [TemplateRef.from_dict(t) for t in data.get("templates", [])]
        changes = []
        for item in data["changes"]:
            previous = item.get("previous")
            inline = templates[previous].to_dict() if isinstance(previous, int) else previous
            changes.append(TargetChange.from_dict({**item, "previous": inline}))
        return cls(data["wave"], tuple(changes))
