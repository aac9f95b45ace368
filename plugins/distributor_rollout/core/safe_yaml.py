"""Read a YAML file someone else wrote, at a bounded cost, or say why not.

A plan is read by the DAG processor on every parse and by the CLI, so a hostile or
careless file must not cost minutes or gigabytes: the file is read up to a size cap, and
``_BoundedLoader`` checks while composing, before any Python object exists, that
aliases expand to a bounded number of nodes (an alias bomb is small on disk and huge once
expanded), that nesting stays shallow (Python's recursion limit would end it with a
traceback), and that no mapping gives a key twice (YAML keeps the last one silently).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode

from distributor_rollout.core.errors import (
    DESCRIBE_MAX,
    Problem,
    ValidationError,
    path_of,
    wrong,
)

MAX_YAML_BYTES: Final = 1 << 20  # 1 MiB: a plan with hundreds of waves is under 100 KiB
MAX_YAML_NODES: Final = 100_000  # values after every alias is expanded
MAX_YAML_DEPTH: Final = 50  # a plan nests about 5 levels deep


@dataclass(frozen=True, slots=True)
class YamlLimits:
    """What a file of one kind may hold: bytes, values once aliases are expanded, depth."""

    max_bytes: int = MAX_YAML_BYTES
    max_nodes: int = MAX_YAML_NODES
    max_depth: int = MAX_YAML_DEPTH


PLAN_LIMITS: Final = YamlLimits()
"""Plans and package specs, written by people."""
ORG_FILE_LIMITS: Final = YamlLimits(max_bytes=64 << 20, max_nodes=5_000_000)
"""Organization files: a snapshot of thousands of accounts, each with an inventory per
Region (about 10 values per entry), runs to tens of MB; nesting stays shallow."""
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


class _Refused(yaml.MarkedYAMLError):
    """A limit the document breaks; composing stops there."""

    def __init__(self, what: str, expected: str, mark: Any) -> None:
        super().__init__(problem=what, problem_mark=mark)
        self.expected = expected


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader with limits checked as each node is composed.

    An alias costs the composer nothing (it returns the anchored node again), but every
    consumer of the loaded data walks it once per reference; so each alias counts the
    nodes and the depth of what it refers to.
    """

    def __init__(self, stream: str, limits: YamlLimits = PLAN_LIMITS) -> None:
        super().__init__(stream)
        self.limits = limits
        self.duplicates: list[tuple[int, Problem]] = []  # by the line of the repeated key
        self._nodes = 0
        self._depth = 0
        self._deepest = 0
        self._extent: dict[str, tuple[int, int]] = {}  # anchor → (nodes, height)
        self._open: set[str] = set()  # anchors whose node is still being composed
        self._path: list[int | str] = []

    def _grow(self, nodes: int, depth: int, mark: Any) -> None:
        self._nodes += nodes
        limits = self.limits
        if self._nodes > limits.max_nodes:
            raise _Refused(
                f"expands to more than {limits.max_nodes} values",
                f"at most {limits.max_nodes} values once every alias is expanded",
                mark,
            )
        if depth > limits.max_depth:
            raise _Refused(
                f"nested more than {limits.max_depth} levels deep",
                f"at most {limits.max_depth} levels, counting what aliases bring in",
                mark,
            )
        self._deepest = max(self._deepest, depth)

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        """Compose one node (see ``yaml.composer``), counting it against the limits."""
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        mark: Any = event.start_mark
        if isinstance(event, AliasEvent):
            if event.anchor in self._open:
                raise _Refused(
                    f"alias *{event.anchor} refers to a value that contains it",
                    "aliases to values defined before them, outside them",
                    mark,
                )
            # An undefined alias has no extent; the composer then reports it.
            nodes, height = self._extent.get(event.anchor or "", (1, 1))
            self._grow(nodes, self._depth + height, mark)
            return super().compose_node(parent, index)
        return self._compose_counted(event, parent, index)

    def _compose_counted(self, event: Any, parent: Node | None, index: Any) -> Node | None:
        anchor: str | None = event.anchor
        self._depth += 1
        self._grow(1, self._depth, event.start_mark)
        nodes_before, deepest_before = self._nodes - 1, self._deepest
        self._deepest = self._depth
        if anchor is not None:
            self._open.add(anchor)
        # A mapping's keys are composed with index None and share the mapping's path; a
        # value under a complex key (a list or mapping as key) shares it too.
        segment = _segment(index)
        if segment is not None:
            self._path.append(segment)
        node = super().compose_node(parent, index)
        if segment is not None:
            self._path.pop()
        if anchor is not None:
            self._open.discard(anchor)
            self._extent[anchor] = (self._nodes - nodes_before, self._deepest - self._depth + 1)
        self._deepest = max(self._deepest, deepest_before)
        self._depth -= 1
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        """Compose a mapping (see ``yaml.composer``) and note every key it gives twice."""
        node = super().compose_mapping_node(anchor)
        first: dict[tuple[str, str], ScalarNode] = {}
        for key, _ in node.value:
            # A merge key ('<<') may repeat; the keys it merges may be overridden on purpose.
            if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                continue
            earlier = first.setdefault((key.tag, key.value), key)
            if earlier is not key:
                first_line = earlier.start_mark.line + 1
                self.duplicates.append(
                    (
                        key.start_mark.line,
                        wrong(
                            path_of((*self._path, _key_text(key))),
                            f"duplicate key at line {key.start_mark.line + 1}",
                            key.value,
                            f"each key once in a mapping; it is first at line {first_line}",
                        ),
                    )
                )
        return node


def _segment(index: Any) -> int | str | None:
    """The path segment of a node composed at ``index`` (see ``Composer.compose_node``)."""
    if isinstance(index, int):
        return index
    if isinstance(index, ScalarNode):
        return _key_text(index)
    return None


def _key_text(key: ScalarNode) -> str:
    # A message names the key; a 1 MiB key would make the message 1 MiB.
    text = str(key.value)
    return text if len(text) <= DESCRIBE_MAX else text[: DESCRIBE_MAX - 3] + "..."


def _read_bounded(path: Path, max_bytes: int) -> bytes:
    # Read one byte past the cap rather than trusting stat(): a FIFO or /dev/zero has no size.
    with path.open("rb") as handle:
        return handle.read(max_bytes + 1)


def _decoded(data: bytes, subject: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        bad = data[error.start : error.end]
        raise ValidationError(
            subject,
            [
                wrong(
                    "",
                    f"not UTF-8 at line {line}, byte {error.start}",
                    bad,
                    "a UTF-8 encoded file",
                )
            ],
        ) from None


def _where(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


def load_yaml(path: Path, subject: str, limits: YamlLimits = PLAN_LIMITS) -> object:
    """The one document in a YAML file, or ``ValidationError`` naming what is wrong.

    Everything a file can do wrong becomes a problem rather than an exception of another
    kind: unreadable, over ``limits.max_bytes``, not UTF-8, not YAML, over
    ``limits.max_nodes`` values once aliases are expanded, nested over
    ``limits.max_depth``, or a key given twice in a mapping (every such key is reported).
    """
    return parse_yaml(read_limited(path, subject, limits), subject, limits)


def read_limited(path: Path, subject: str, limits: YamlLimits = PLAN_LIMITS) -> bytes:
    """A file's bytes, or ``ValidationError`` when it cannot be read or is over
    ``limits.max_bytes`` (the first half of ``load_yaml``)."""
    try:
        data = _read_bounded(path, limits.max_bytes)
    except OSError as error:
        raise ValidationError(
            subject, [Problem("", f"cannot read the file ({error.strerror})")]
        ) from None
    if len(data) > limits.max_bytes:
        raise ValidationError(
            subject,
            [
                wrong(
                    "",
                    "file too large",
                    f"over {limits.max_bytes} bytes",
                    f"at most {limits.max_bytes} bytes ({limits.max_bytes / (1 << 20):g} MiB)",
                )
            ],
        )
    return data


def parse_yaml(data: bytes, subject: str, limits: YamlLimits = PLAN_LIMITS) -> object:
    """The one document in bytes ``read_limited`` returned, within ``limits`` (the second
    half of ``load_yaml``, which says what is refused)."""
    loader = _BoundedLoader(_decoded(data, subject), limits)
    try:
        document = loader.get_single_data()
    except _Refused as error:
        message = f"refused ({_where(error)}{error.problem}; expected {error.expected})"
        raise ValidationError(subject, [Problem("", message)]) from None
    except yaml.YAMLError as error:
        detail = getattr(error, "problem", None) or str(error)
        raise ValidationError(
            subject, [Problem("", f"not valid YAML ({_where(error)}{detail})")]
        ) from None
    except ValueError as error:
        # A constructor's own limit, such as Python's on the digits of an int.
        expected = "values Python can hold (integers up to 4300 digits)"
        raise ValidationError(
            subject, [wrong("", "a value cannot be read", str(error), expected)]
        ) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        # Inner mappings are composed first; the report follows the file instead.
        raise ValidationError(subject, [problem for _, problem in sorted(loader.duplicates)])
    return document
