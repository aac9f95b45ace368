"""Association targets: which managed nodes of an account/Region an association applies to.

Keys: ``InstanceIds`` (``*`` or ids), ``tag:<Key>`` (any of the values), ``tag-key`` (any
of the keys). Several targets must all match (they are ANDed), as in Run Command.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from awssim.fleet import Node
from awssim.statemanager.errors import InvalidTarget

MAX_TARGETS = 5
_INSTANCE_ID = re.compile(r"^(i-(\w{8}|\w{17})|mi-\w{17})$")


def validate_targets(targets: Any) -> list[dict[str, Any]]:
    """Normalized targets; raises InvalidTarget for shapes State Manager refuses."""
    if not isinstance(targets, list) or not targets:
        msg = "Targets must contain at least one target."
        raise InvalidTarget(msg)
    if len(targets) > MAX_TARGETS:
        msg = f"You can specify at most {MAX_TARGETS} targets."
        raise InvalidTarget(msg)
    normalized = []
    for target in targets:
        key = target.get("Key") if isinstance(target, dict) else None
        values = target.get("Values") if isinstance(target, dict) else None
        if not isinstance(key, str) or not isinstance(values, list) or not values:
            msg = "Each target needs a Key and at least one value."
            raise InvalidTarget(msg)
        values = [str(value) for value in values]
        _check_target(key, values)
        normalized.append({"Key": key, "Values": values})
    return normalized


def _check_target(key: str, values: list[str]) -> None:
    if key.lower() == "instanceids":
        if values == ["*"]:
            return
        bad = [value for value in values if not _INSTANCE_ID.match(value)]
        if bad:
            msg = f"Instance ids {bad} are not valid (use * alone to target every node)."
            raise InvalidTarget(msg)
        return
    if key == "tag-key" or (key.startswith("tag:") and len(key) > len("tag:")):
        return
    if key.startswith("resource-groups:"):
        return
    msg = f"Target key {key} is not supported."
    raise InvalidTarget(msg)


def _matches(node: Node, key: str, values: list[str]) -> bool:
    if key.lower() == "instanceids":
        return values == ["*"] or node.instance_id in values
    if key == "tag-key":
        return any(value in node.tags for value in values)
    if key.startswith("tag:"):
        return node.tags.get(key[len("tag:") :]) in values
    # The simulated accounts have no resource groups: such targets select nothing.
    return False


def resolve_targets(nodes: Iterable[Node], targets: list[dict[str, Any]]) -> list[Node]:
    """The nodes every target matches, in the fleet's order."""
    return [
        node
        for node in nodes
        if targets and all(_matches(node, t["Key"], t["Values"]) for t in targets)
    ]


def targets_node(node: Node, targets: list[dict[str, Any]]) -> bool:
    """Whether the targets select ``node``."""
    return bool(resolve_targets([node], targets))
