"""Plan YAML read at a bounded cost: size, alias expansion, depth, duplicate keys, encoding,
and errors that keep and show a bounded amount."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from distributor_rollout.core.errors import (
    MAX_REPORTED_PROBLEMS,
    Problem,
    ValidationError,
    describe,
)
from distributor_rollout.core.plan_validation import load_plan, read_yaml, validate_plan
from distributor_rollout.core.safe_yaml import (
    MAX_YAML_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    ORG_FILE_LIMITS,
    load_yaml,
)


def _problems(tmp_path: Path, content: str | bytes) -> list[str]:
    path = tmp_path / "plan.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ValidationError) as raised:
        read_yaml(path, "plan")
    return [str(problem) for problem in raised.value.problems]


def _alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    lines.append(f"tags: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    started = time.monotonic()
    problems = _problems(tmp_path, _alias_bomb(9))
    assert time.monotonic() - started < 5
    assert problems == [
        f"refused (line 6, column 10: expands to more than {MAX_YAML_NODES} values; "
        f"expected at most {MAX_YAML_NODES} values once every alias is expanded)"
    ]


def test_aliases_within_the_limits_load(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("regions: &eu [eu-west-1, eu-central-1]\nagain: *eu\nmerged: {<<: {a: 1}}\n")
    assert read_yaml(path, "plan") == {
        "regions": ["eu-west-1", "eu-central-1"],
        "again": ["eu-west-1", "eu-central-1"],
        "merged": {"a": 1},
    }


def test_a_merge_key_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("base: &base {a: 1, b: 2}\nchild:\n  <<: *base\n  b: 3\n")
    assert read_yaml(path, "plan") == {"base": {"a": 1, "b": 2}, "child": {"a": 1, "b": 3}}


def test_deep_nesting_is_refused_without_recursion(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "tags: " + "[" * 5000 + "]" * 5000 + "\n")
    assert problems == [
        f"refused (line 1, column {MAX_YAML_DEPTH + 6}: nested more than {MAX_YAML_DEPTH} levels "
        f"deep; expected at most {MAX_YAML_DEPTH} levels, counting what aliases bring in)"
    ]


def test_depth_counts_what_an_alias_brings_in(tmp_path: Path) -> None:
    nested = "[" * 30 + "]" * 30
    problems = _problems(tmp_path, f"a: &a {nested}\nb: {'[' * 30}*a{']' * 30}\n")
    assert problems[0].startswith(
        f"refused (line 2, column 34: nested more than {MAX_YAML_DEPTH} levels deep"
    )


def test_a_self_referencing_alias_is_refused(tmp_path: Path) -> None:
    assert _problems(tmp_path, "a: &a [1, *a]\n") == [
        "refused (line 1, column 11: alias *a refers to a value that contains it; "
        "expected aliases to values defined before them, outside them)"
    ]


def test_every_duplicate_key_is_named_with_its_line(tmp_path: Path) -> None:
    content = "name: a\nwaves:\n- name: x\n  name: y\nname: b\n"
    assert _problems(tmp_path, content) == [
        "waves[0].name: duplicate key at line 4 "
        "(got 'name'; expected each key once in a mapping; it is first at line 3)",
        "name: duplicate key at line 5 "
        "(got 'name'; expected each key once in a mapping; it is first at line 1)",
    ]


def test_an_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    started = time.monotonic()
    problems = _problems(tmp_path, "description: " + "x" * (50 << 20) + "\n")
    assert time.monotonic() - started < 5
    assert problems == [
        f"file too large (got 'over {MAX_YAML_BYTES} bytes'; "
        f"expected at most {MAX_YAML_BYTES} bytes (1 MiB))"
    ]


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    assert _problems(tmp_path, b"name: a\ndescription: caf\xe9\n") == [
        "not UTF-8 at line 2, byte 24 (got b'\\xe9'; expected a UTF-8 encoded file)"
    ]


def test_an_integer_python_cannot_hold_is_a_problem(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, "a: " + "9" * 5000 + "\n")
    assert problem.startswith("a value cannot be read (got 'Exceeds the limit (4300 digits)")


def test_load_plan_refuses_a_bomb_in_tags(tmp_path: Path, example_plan_path: Path) -> None:
    text = example_plan_path.read_text(encoding="utf-8")
    bomb = _alias_bomb(9).replace("tags: ", "bomb: ")
    lines = [line for line in text.splitlines() if not line.startswith("tags:")]
    path = tmp_path / "plan.yaml"
    path.write_text(bomb + "\n".join(lines) + "\ntags: *a8\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="expands to more than"):
        load_plan(path)


def test_problems_kept_and_shown_are_bounded() -> None:
    error = ValidationError("plan", (Problem(f"p{n}", "bad") for n in range(1_000)))
    assert len(error.problems) == MAX_REPORTED_PROBLEMS
    assert error.total == 1_000
    lines = error.report().splitlines()
    assert lines[0] == "plan: 1000 problems"
    assert len(lines) == MAX_REPORTED_PROBLEMS + 2
    assert lines[-1] == f"  ... and {1_000 - MAX_REPORTED_PROBLEMS} more"


def test_a_plan_with_many_bad_values_reports_a_bounded_list() -> None:
    data = {"name": "x", "tags": ["t"] * 15, "waves": [{"name": f"w{n}"} for n in range(200)]}
    with pytest.raises(ValidationError) as raised:
        validate_plan(data)
    assert len(raised.value.problems) == MAX_REPORTED_PROBLEMS
    assert raised.value.total > MAX_REPORTED_PROBLEMS
    assert raised.value.report().endswith(
        f"  ... and {raised.value.total - MAX_REPORTED_PROBLEMS} more"
    )


@pytest.mark.parametrize(
    "value",
    ["x" * (10 << 20), ["x" * 1000] * 100_000, {str(n): [n] * 1000 for n in range(10_000)}],
    ids=["string", "list", "mapping"],
)
def test_describe_is_bounded_in_cost_and_length(value: object) -> None:
    started = time.monotonic()
    text = describe(value)
    assert time.monotonic() - started < 0.05
    assert len(text) == 80
    assert text.endswith("...")


@pytest.mark.parametrize("value", ["short", ["a", 1, None], {"k": [1, 2]}, 3.5, "x" * 78, "it's"])
def test_describe_still_renders_small_values_as_repr(value: object) -> None:
    assert describe(value) == repr(value)


def test_a_long_duplicate_key_is_named_bounded(tmp_path: Path) -> None:
    key = "k" * 10_000  # longer than a plain key may be: an explicit '?' key
    (problem,) = _problems(tmp_path, f"? {key}\n: 1\n? {key}\n: 2\n")
    assert problem.startswith("k" * 77 + "...: duplicate key at line 3 (got 'kkk")
    assert len(problem) < 300


def test_an_org_file_may_be_larger_than_a_plan_but_is_still_bounded(tmp_path: Path) -> None:
    # A snapshot of a large organization holds far more values than a plan may; an org
    # file is read under its own, larger, limits, which still refuse an alias bomb.
    accounts = "\n".join(
        f"  - {{id: '{index:012d}', name: a{index}, tags: [x, y, z]}}"
        for index in range(MAX_YAML_NODES // 5)
    )
    path = tmp_path / "org.yaml"
    path.write_text(f"accounts:\n{accounts}\n", encoding="utf-8")
    assert path.stat().st_size > MAX_YAML_BYTES
    with pytest.raises(ValidationError, match="file too large"):
        load_yaml(path, "plan")
    document = load_yaml(path, "org", ORG_FILE_LIMITS)
    assert isinstance(document, dict)
    assert len(document["accounts"]) == MAX_YAML_NODES // 5
    path.write_text(_alias_bomb(9), encoding="utf-8")
    with pytest.raises(ValidationError, match=f"more than {ORG_FILE_LIMITS.max_nodes} values"):
        load_yaml(path, "org", ORG_FILE_LIMITS)
