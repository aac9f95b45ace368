"""A release: the stack set and the template version one rollout run deploys.

The prepare step renders this version's template, stores it as an immutable S3 object and
records what the stack set ran before; every later step of the run (waves, rollback,
report) works from this record, passed between tasks as its ``to_dict()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from distributor_rollout.core.changes import TemplateRef


@dataclass(frozen=True, slots=True)
class Release:
    """The stack set this run deploys to, this version's template, and the one before it.

    ``previous`` is the stack set's template and parameters before this run (what a
    ``previous_version`` rollback restores); None when this run created the stack set.
    """

    stack_set_name: str
    call_as: str
    region: str
    template: TemplateRef
    previous: TemplateRef | None
    created: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (XCom)."""
        return {
            "stack_set_name": self.stack_set_name,
            "call_as": self.call_as,
            "region": self.region,
            "template": self.template.to_dict(),
            "previous": self.previous.to_dict() if self.previous else None,
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Release:
        """The inverse of ``to_dict``."""
        previous = data.get("previous")
        return cls(
            stack_set_name=data["stack_set_name"],
            call_as=data["call_as"],
            region=data["region"],
            template=TemplateRef.from_dict(data["template"]),
            previous=TemplateRef.from_dict(previous) if previous else None,
            created=bool(data["created"]),
        )
