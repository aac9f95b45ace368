"""``python -m distributor_rollout``: real processes, real files, exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent.parent / "data" / "bad_plans"


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "distributor_rollout", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_validate_example(example_plan_path: Path) -> None:
    result = _run("validate", example_plan_path)
    assert result.returncode == 0, result.stderr
    assert "valid plan 'examplepackage' (3 waves, digest " in result.stdout


@pytest.mark.parametrize("name", ["21-unknown-keys", "29-durations", "17-ou-region-twice"])
def test_validate_corpus_fails_clearly(name: str) -> None:
    path = CORPUS / f"{name}.yaml"
    result = _run("validate", path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    expected = [
        line.removeprefix("# expect: ")
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]
    assert result.stderr.splitlines()[1:] == [f"  - {line}" for line in expected]


def test_plan_prints_resolved_waves(example_plan_path: Path, example_org_path: Path) -> None:
    result = _run("plan", example_plan_path, "--org", example_org_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "plan 'examplepackage': ExamplePackage 1.0.2 (dry run: nothing is deployed)"
    assert lines[1].split() == ["wave", "OUs", "regions", "accounts", "targets", "skipped"]
    assert lines[3].split() == ["canary", "/Sandbox", "us-east-1", "2", "2", "0"]
    assert "skipped in nonprod: 300666666667 (account is SUSPENDED" in result.stdout
    assert "  prod: 25% of accounts at once, tolerate 10% failed per Region" in result.stdout


def test_plan_with_a_broken_org_file(example_plan_path: Path, tmp_path: Path) -> None:
    org = tmp_path / "org.json"
    org.write_text("{not json")
    result = _run("plan", example_plan_path, "--org", org)
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_build_example_package(repo: Path, example_plan_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run(
        "build", repo / "include/packages/examplepackage", out, "--plan", example_plan_path
    )
    assert result.returncode == 0, result.stderr
    built = json.loads(result.stdout)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == "1.0.2"
    assert sorted(manifest["files"]) == sorted(f["name"] for f in built["files"])
    assert len(built["files"]) == 3


def test_build_without_a_version_is_refused(repo: Path, tmp_path: Path) -> None:
    result = _run(
        "build", repo / "include/packages/examplepackage", tmp_path / "out", "--name", "Pkg"
    )
    assert result.returncode == 2
    assert "--version: missing" in result.stderr
    assert not (tmp_path / "out").exists()


def test_build_reports_package_problems(tmp_path: Path) -> None:
    source = tmp_path / "src" / "amazon" / "_any" / "x86_64"
    source.mkdir(parents=True)
    (source / "install.sh").write_text("echo hi\n")
    result = _run("build", tmp_path / "src", tmp_path / "out", "--name", "Pkg1", "--version", "1")
    assert result.returncode == 2
    assert "uninstall" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name: x\ndescription: caf\xe9\n", "not UTF-8 at line 2, byte 24"),
        (b"tags: " + b"[" * 10_000 + b"]" * 10_000 + b"\n", "nested more than 50 levels deep"),
        (b"a: &a [1, *a]\n", "alias *a refers to a value that contains it"),
    ],
    ids=["non-utf8", "deep", "recursive"],
)
def test_validate_refuses_hostile_yaml_with_a_message(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "plan.yaml"
    path.write_bytes(content)
    result = _run("validate", path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr


@pytest.mark.parametrize("version", ["..", "."])
def test_build_refuses_a_version_that_is_not_one_path_segment(
    repo: Path, tmp_path: Path, version: str
) -> None:
    out = tmp_path / "out"
    result = _run(
        "build",
        repo / "include/packages/examplepackage",
        out,
        "--name",
        "Pkg1",
        "--version",
        version,
    )
    assert result.returncode == 2
    assert f"version: not a safe single path segment (got {version!r}" in result.stderr
    assert not out.exists()


def test_build_prints_a_warning_for_an_empty_script(tmp_path: Path) -> None:
    source = tmp_path / "src" / "amazon" / "_any" / "x86_64"
    source.mkdir(parents=True)
    (source / "install.sh").write_text("echo hi\n")
    (source / "uninstall.sh").write_text("")
    result = _run("build", tmp_path / "src", tmp_path / "out", "--name", "Pkg1", "--version", "1")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: amazon/_any/x86_64/uninstall.sh: empty script (it runs and does nothing)"
    ]
    assert json.loads(result.stdout)["warnings"] == [
        "amazon/_any/x86_64/uninstall.sh: empty script (it runs and does nothing)"
    ]
