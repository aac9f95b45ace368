"""``python -m distributor_rollout``: real processes, real files, exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
    assert lines[1].startswith(f"organization snapshot {example_org_path}: 15 member accounts")
    assert "it holds no nodes" in lines[1]
    assert lines[2].split() == ["wave", "OUs", "regions", "accounts", "targets", "skipped"]
    assert lines[4].split() == ["canary", "/Sandbox", "us-east-1", "2", "2", "0"]
    assert "wave nonprod: /NonProd; Regions in order: us-east-1, us-west-2" in lines
    assert (
        "  excludes 300666666667 nonprod-old: account is SUSPENDED: StackSets skip it "
        "(SKIPPED_SUSPENDED_ACCOUNT)"
    ) in lines
    assert "  prod: 25% of accounts at once, tolerate 10% failed per Region" in result.stdout
    assert "nodes targeted" not in result.stdout


def test_plan_with_a_broken_org_file(example_plan_path: Path, tmp_path: Path) -> None:
    org = tmp_path / "org.json"
    org.write_text("{not json")
    result = _run("plan", example_plan_path, "--org", org)
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_reads_the_awssim_demo_org(repo: Path, example_plan_path: Path) -> None:
    org = repo / "include/awssim/src/awssim/orgs/demo.yaml"
    result = _run("plan", example_plan_path, "--org", org)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith(f"organization 'demo' from {org}: 15 member accounts in 5 OUs")
    assert "node counts with ≈ are expected values" in lines[1]
    assert lines[4].split() == ["canary", "/Sandbox", "us-east-1", "2", "2", "0"]
    canary = lines.index("wave canary: /Sandbox; Regions in order: us-east-1")
    assert lines[canary + 2].startswith("  nodes targeted (tag Distributor=enabled): ≈")
    # The demo's untagged arm64 nodes have no file, but the association does not target them.
    assert "warning:" not in result.stdout


ORG_FILE = """\
name: acme
management_account: {id: "111111111111"}
delegated_admin: "222222222222"
regions: [us-east-1, us-west-2, eu-west-1]
source:
  taken_at: "2025-06-01T08:00:00Z"
  by: distributor_rollout snapshot
  anonymized: true
  tag_keys: [Distributor]
  unreadable: []
  accounts_in_root: []
units:
  - name: Security
    accounts: [{id: "222222222222", name: account-1, inventory: {}}]
  - name: Sandbox
    accounts:
      - id: "300000000001"
        name: account-2
        inventory:
          us-east-1:
            - {platform: amazon, platform_version: "2023", arch: x86_64,
               tags: {Distributor: enabled}, count: 2, offline: 1}
      - {id: "300000000002", name: account-3, status: PENDING_CLOSURE, inventory: {}}
  - name: NonProd
    accounts:
      - id: "300000000003"
        name: account-4
        inventory:
          us-east-1:
            - {platform: amazon, platform_version: "2023", arch: x86_64,
               tags: {Distributor: enabled}, count: 40}
          us-west-2:
            - {platform: windows, platform_version: "10.0.20348", arch: x86_64,
               tags: {Distributor: enabled}, count: 5}
  - name: Prod
    accounts:
      - id: "300000000004"
        name: account-5
        inventory:
          eu-west-1:
            - {platform: amazon, platform_version: "2023", arch: x86_64,
               tags: {Distributor: enabled}, count: 190, offline: 2}
            - {platform: amazon, platform_version: "2023", arch: arm64,
               tags: {Distributor: enabled}, count: 14}
            - {platform: ubuntu, platform_version: "22.04", arch: x86_64, count: 9}
"""


def test_plan_counts_a_snapshots_nodes_and_warns_before_a_run(
    example_plan_path: Path, tmp_path: Path
) -> None:
    org = tmp_path / "acme.yaml"
    org.write_text(ORG_FILE)
    result = _run("plan", example_plan_path, "--org", org)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == (
        f"organization 'acme' from {org} (taken_at 2025-06-01T08:00:00Z, by "
        "distributor_rollout snapshot, anonymized true): 5 member accounts in 4 OUs; "
        "node counts from its inventory"
    )
    canary = lines.index("wave canary: /Sandbox; Regions in order: us-east-1")
    assert lines[canary + 1 : canary + 5] == [
        "  reaches 1 account: 300000000001 account-2",
        "  excludes 300000000002 account-3: account is PENDING_CLOSURE: StackSets skip it "
        "(SKIPPED_SUSPENDED_ACCOUNT)",
        "  nodes targeted (tag Distributor=enabled): 2 (1 online, 1 offline)",
        "    by platform: amazon x86_64 2 (1 offline)",
    ]
    prod = lines.index("wave prod: /Prod; Regions in order: us-east-1, us-west-2, eu-west-1")
    assert lines[prod + 2 : prod + 5] == [
        "  nodes targeted (tag Distributor=enabled): 204 (202 online, 2 offline)",
        "    by platform: amazon arm64 14, amazon x86_64 190 (2 offline)",
        "    not targeted: 9 other managed nodes",
    ]
    warnings = [line for line in lines if line.startswith("warning:")]
    assert warnings == [
        "warning: wave canary: the gate needs 3 nodes to report (min_nodes) but the wave "
        "reaches 1 online nodes the association targets: the gate cannot pass",
        "warning: wave canary: 1 of 2 targeted nodes (50%) are offline, above the gate's "
        "max_offline_percent 20%: it does not pass until enough of them report again",
        "warning: wave prod: 14 amazon 2023 arm64 nodes the association targets have no file "
        "in the package's manifest (it has amazon/_any/x86_64): their association will fail",
    ]


def test_plan_checks_platforms_against_a_given_manifest(
    example_plan_path: Path, tmp_path: Path
) -> None:
    org = tmp_path / "acme.yaml"
    org.write_text(ORG_FILE)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "schemaVersion": "2.0",
                "version": "1.0.2",
                "packages": {"amazon": {"_any": {"_any": {"file": "Pkg.zip"}}}},
                "files": {"Pkg.zip": {"checksums": {"sha256": "0" * 64}}},
            }
        )
    )
    result = _run("plan", example_plan_path, "--org", org, "--manifest", manifest)
    assert result.returncode == 0, result.stderr
    assert "wave nonprod: 5 windows 10.0.20348 x86_64 nodes the association targets have " in (
        result.stdout
    )
    assert "(it has no windows entry)" in result.stdout
    assert "amazon 2023 arm64" not in result.stdout


def test_plan_reads_an_org_file_written_as_json(example_plan_path: Path, tmp_path: Path) -> None:
    org = tmp_path / "acme.json"
    org.write_text(json.dumps(yaml.safe_load(ORG_FILE)))
    result = _run("plan", example_plan_path, "--org", org)
    assert result.returncode == 0, result.stderr
    assert "organization 'acme' from" in result.stdout


def test_plan_names_the_field_of_a_broken_org_file(example_plan_path: Path, tmp_path: Path) -> None:
    org = tmp_path / "acme.yaml"
    org.write_text(ORG_FILE.replace("status: PENDING_CLOSURE", "status: CLOSED"))
    result = _run("plan", example_plan_path, "--org", org)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{org}: 1 problem",
        "  - units[1].accounts[1].status: not allowed (got 'CLOSED'; expected one of "
        "'ACTIVE', 'SUSPENDED' or 'PENDING_CLOSURE')",
    ]


def test_plan_against_an_org_file_says_ou_ids_are_made_up(
    repo: Path, example_plan_path: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.yaml"
    text = example_plan_path.read_text().replace("ous: [/Sandbox]", "ous: [ou-ex01-sandbox1]")
    plan.write_text(
        text.replace("../packages/examplepackage", str(repo / "include/packages/examplepackage"))
    )
    org = tmp_path / "acme.yaml"
    org.write_text(ORG_FILE)
    result = _run("plan", plan, "--org", org)
    assert result.returncode == 2
    assert "error: waves[0].ous[0]: not in the organization (got 'ou-ex01-sandbox1'" in (
        result.stdout
    )
    assert "note: an organization file names OUs by path only" in result.stdout


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


def test_snapshot_is_a_command_and_refuses_bad_input_before_any_aws_call(tmp_path: Path) -> None:
    # No Regions (neither --regions nor --plan): exit 2 naming both, and no connection is
    # looked up (the environment has none; an AWS call would fail differently).
    result = _run("snapshot", "--out", tmp_path / "org.yaml")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--regions" in result.stderr
    assert "--plan" in result.stderr
    assert not (tmp_path / "org.yaml").exists()
