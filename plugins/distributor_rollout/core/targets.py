"""One account in one Region: the unit a stack set deploys to and a gate measures."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from distributor_rollout.core import rules
from distributor_rollout.core.errors import Problem, ValidationError, wrong

# Syntax only: whether the Region exists is the plan's question (``rules.region``). A target
# read back from an API result must not be refused because AWS opened a Region after release.
_REGION_SHAPE = re.compile(r"[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}")


@dataclass(frozen=True, slots=True, order=True)
class Target:
    """A stack instance's address: one account in one Region; ``str()`` is ``"acct/region"``.

    Ordered by account, then Region, so sorted target lists read naturally in reports.
    """

    account_id: str
    region: str

    def __post_init__(self) -> None:
        problems = []
        account_problem = (
            rules.account_id(self.account_id)
            if isinstance(self.account_id, str)
            else "not an AWS account id"
        )
        if account_problem:
            problems.append(Problem("account_id", account_problem))
        if not isinstance(self.region, str) or not _REGION_SHAPE.fullmatch(self.region):
            problems.append(
                wrong("region", "not a Region name", self.region, "a name like 'eu-west-1'")
            )
        if problems:
            raise ValidationError("target", problems)

    def __str__(self) -> str:
        return f"{self.account_id}/{self.region}"

    @classmethod
    def parse(cls, text: str) -> Target:
        """The inverse of ``str()``: ``"123456789012/eu-west-1"``."""
        account, sep, region = text.partition("/")
        if not sep:
            raise ValidationError(
                "target", [wrong("", "not a target", text, "'123456789012/eu-west-1'")]
            )
        return cls(account, region)

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form, for XCom and trigger kwargs."""
        return {"account_id": self.account_id, "region": self.region}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Target:
        """The inverse of ``to_dict``."""
        return cls(data["account_id"], data["region"])
