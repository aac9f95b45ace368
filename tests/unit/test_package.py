"""Tests for distributor_rollout.core.package: building Distributor zips and manifest.json."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import tracemalloc
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distributor_rollout.core import package
from distributor_rollout.core.errors import PackageError
from distributor_rollout.core.manifest import parse_manifest
from distributor_rollout.core.package import BuildResult, build_package

EXAMPLE = Path(__file__).resolve().parents[2] / "include" / "packages" / "examplepackage"
LINUX = {"install.sh": b"#!/bin/sh\necho install\n", "uninstall.sh": b"#!/bin/sh\necho remove\n"}
WINDOWS = {"install.ps1": b"Write-Output install\n", "uninstall.ps1": b"Write-Output remove\n"}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def in_folder(folder: str, files: dict[str, bytes]) -> dict[str, bytes]:
    return {f"{folder}/{name}": data for name, data in files.items()}


def build(source: Path, out: Path, **kwargs: Any) -> BuildResult:
    options: dict[str, Any] = {"name": "ExamplePackage", "version": "1.0.0", **kwargs}
    return build_package(source, out, **options)


def problems(source: Path, out: Path, **kwargs: Any) -> list[str]:
    with pytest.raises(PackageError) as caught:
        build(source, out, **kwargs)
    assert not out.exists() or not any(out.iterdir()), "nothing may be written on failure"
    return [str(problem) for problem in caught.value.problems]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


# --- the example package -------------------------------------------------------------


def test_example_package_manifest_is_exactly_as_distributor_expects(tmp_path: Path) -> None:
    result = build(EXAMPLE, tmp_path)

    zips = [
        "ExamplePackage_amazon_any_x86_64.zip",
        "ExamplePackage_ubuntu_any_x86_64.zip",
        "ExamplePackage_windows_any_any.zip",
    ]
    digests = {name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() for name in zips}
    manifest_bytes = (tmp_path / "manifest.json").read_bytes()
    assert json.loads(manifest_bytes) == {
        "schemaVersion": "2.0",
        "version": "1.0.0",
        "packages": {
            "amazon": {"_any": {"x86_64": {"file": zips[0]}}},
            "ubuntu": {"_any": {"x86_64": {"file": zips[1]}}},
            "windows": {"_any": {"_any": {"file": zips[2]}}},
        },
        "files": {name: {"checksums": {"sha256": digests[name]}} for name in zips},
    }
    assert sorted(path.name for path in tmp_path.iterdir()) == [*zips, "manifest.json"]
    assert parse_manifest(manifest_bytes).to_json() == manifest_bytes
    assert result.manifest_path == tmp_path / "manifest.json"
    assert result.manifest_sha256 == hashlib.sha256(manifest_bytes).hexdigest()
    assert [(f.name, f.sha256, f.size) for f in result.files] == [
        (name, digests[name], (tmp_path / name).stat().st_size) for name in zips
    ]
    assert [f.targets for f in result.files] == [
        ("amazon/_any/x86_64",),
        ("ubuntu/_any/x86_64",),
        ("windows/_any/_any",),
    ]


def test_example_package_zips_hold_scripts_and_a_small_payload(tmp_path: Path) -> None:
    build(EXAMPLE, tmp_path)

    with zipfile.ZipFile(tmp_path / "ExamplePackage_amazon_any_x86_64.zip") as archive:
        assert archive.namelist() == [
            "examplepackage-1.0.0.noarch.rpm",
            "install.sh",
            "uninstall.sh",
        ]
        assert b"rpm -Uvh --replacepkgs" in archive.read("install.sh")
        assert b"rpm -e examplepackage" in archive.read("uninstall.sh")
    with zipfile.ZipFile(tmp_path / "ExamplePackage_windows_any_any.zip") as archive:
        assert archive.namelist() == ["examplepackage.msi", "install.ps1", "uninstall.ps1"]
        assert b"'/i','examplepackage.msi','/quiet'" in archive.read("install.ps1")
        assert b"'/x','examplepackage.msi','/quiet'" in archive.read("uninstall.ps1")
    assert all(path.stat().st_size < 2048 for path in EXAMPLE.rglob("*") if path.is_file())


def test_result_is_json_safe(tmp_path: Path) -> None:
    result = build(EXAMPLE, tmp_path, publisher="Example Corp")

    data = json.loads(json.dumps(result.to_dict()))

    assert data["manifest_path"] == str(tmp_path / "manifest.json")
    assert data["files"][0] == {
        "name": "ExamplePackage_amazon_any_x86_64.zip",
        "sha256": result.files[0].sha256,
        "size": result.files[0].size,
        "targets": ["amazon/_any/x86_64"],
    }
    assert json.loads((tmp_path / "manifest.json").read_bytes())["publisher"] == "Example Corp"


# --- determinism -----------------------------------------------------------------------


def test_same_input_gives_byte_identical_output(tmp_path: Path) -> None:
    first = build(EXAMPLE, tmp_path / "one")
    second = build(EXAMPLE, tmp_path / "two", workers=1)

    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")
    assert first.to_dict()["files"] == second.to_dict()["files"]


segments = st.text(alphabet="abcXYZ019_-", min_size=1, max_size=6)
relative_paths = st.builds(
    lambda parts, suffix: "/".join(parts) + suffix,
    st.lists(segments, min_size=1, max_size=3),
    st.sampled_from(["", ".txt", ".sh", ".ps1", ".rpm", ".tar.gz"]),
)


def no_file_is_a_folder(files: dict[str, bytes]) -> bool:
    return not any(other.startswith(path + "/") for path in files for other in files)


file_trees = st.dictionaries(relative_paths, st.binary(max_size=3000), max_size=8).filter(
    no_file_is_a_folder
)


@settings(max_examples=30, deadline=None)
@given(file_trees)
def test_random_trees_build_to_identical_bytes_whatever_the_file_metadata(
    files: dict[str, bytes],
) -> None:
    tree = in_folder("amazon/_any/x86_64", {**files, **LINUX})
    with tempfile.TemporaryDirectory() as temp:
        base = Path(temp)
        write_tree(base / "a", tree)
        # The same bytes, created in the other order, with other times and permissions.
        write_tree(base / "b", dict(reversed(tree.items())))
        for index, path in enumerate(sorted((base / "b").rglob("*"))):
            if path.is_file():
                path.chmod(0o600 if index % 2 else 0o777)
                os.utime(path, (1_000_000_000 + index, 1_700_000_000 - index))

        build(base / "a", base / "out-a")
        build(base / "b", base / "out-b")

        assert snapshot(base / "out-a") == snapshot(base / "out-b")
        with zipfile.ZipFile(base / "out-a" / "ExamplePackage_amazon_any_x86_64.zip") as archive:
            assert archive.namelist() == sorted({**files, **LINUX})
            assert {name: archive.read(name) for name in archive.namelist()} == {**files, **LINUX}


# --- zip contents ----------------------------------------------------------------------


def test_zip_entries_are_fixed_sorted_and_read_back_intact(tmp_path: Path) -> None:
    files = {
        **LINUX,
        "bin/agent": b"\x7fELF" + bytes(range(256)) * 8,
        "lib/agent-1.0.rpm": os.urandom(4096),
        "lib/sub/data.tar.gz": b"\x1f\x8b" + b"z" * 100,
        "etc/agent.conf": b"level = debug\n" * 50,
        "tools/setup.PS1": b"Write-Output hi\n",
    }
    write_tree(tmp_path / "src", in_folder("redhat/9/arm64", files))

    build(tmp_path / "src", tmp_path / "out")

    with zipfile.ZipFile(tmp_path / "out" / "ExamplePackage_redhat_9_arm64.zip") as archive:
        assert archive.testzip() is None  # every CRC checks out
        infos = archive.infolist()
        assert [info.filename for info in infos] == sorted(files)
        for info in infos:
            assert archive.read(info) == files[info.filename]
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.create_system == 3
            assert info.extra == b""
            assert not info.is_dir()
            executable = info.filename.lower().endswith((".sh", ".ps1"))
            assert info.external_attr >> 16 == (0o100755 if executable else 0o100644)
            stored = info.filename.endswith((".rpm", ".gz"))
            assert info.compress_type == (zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)


def test_deflated_entries_use_level_6(tmp_path: Path) -> None:
    payload = b"".join(b"line %d of a fairly repetitive config file\n" % i for i in range(5000))
    write_tree(tmp_path / "src", in_folder("amazon/_any/_any", {**LINUX, "agent.conf": payload}))

    build(tmp_path / "src", tmp_path / "out")

    path = tmp_path / "out" / "ExamplePackage_amazon_any_any.zip"
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("agent.conf")
    data = path.read_bytes()
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    expected = compressor.compress(payload) + compressor.flush()
    assert data[start : start + info.compress_size] == expected


def test_zip_is_written_sequentially_with_data_descriptors(tmp_path: Path) -> None:
    build(EXAMPLE, tmp_path)

    with zipfile.ZipFile(tmp_path / "ExamplePackage_ubuntu_any_x86_64.zip") as archive:
        assert all(info.flag_bits & 0x08 for info in archive.infolist())


def test_output_files_are_readable_and_no_temporary_files_remain(tmp_path: Path) -> None:
    build(EXAMPLE, tmp_path)

    assert {oct(path.stat().st_mode & 0o777) for path in tmp_path.iterdir()} == {"0o644"}
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_memory_does_not_grow_with_file_size(tmp_path: Path) -> None:
    folder = tmp_path / "src" / "amazon" / "_any" / "x86_64"
    write_tree(folder, LINUX)
    for name in ("big.bin", "big.rpm"):  # one deflated, one stored
        with (folder / name).open("wb") as handle:
            handle.truncate(64 << 20)  # sparse: cheap to make, 64 MiB to read

    tracemalloc.start()
    try:
        result = build(tmp_path / "src", tmp_path / "out", workers=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 6 << 20, f"peak {peak} bytes while zipping 128 MiB"
    assert result.files[0].size > 64 << 20
    with zipfile.ZipFile(tmp_path / "out" / result.files[0].name) as archive:
        assert archive.getinfo("big.bin").file_size == 64 << 20
        assert archive.getinfo("big.rpm").compress_size == 64 << 20


# --- package.yaml ----------------------------------------------------------------------


SPEC = """
publisher: Example Corp
files:
  - name: Agent_linux.zip
    source: linux
    targets: [amazon/_any/x86_64, amazon/_any/arm64, ubuntu/22.04/x86_64]
  - name: Agent_windows.zip
    source: win
    targets: ["windows/_any/_any"]
"""


def spec_source(root: Path, spec: str = SPEC) -> Path:
    write_tree(
        root,
        {
            **in_folder("linux", {**LINUX, "agent.deb": b"deb"}),
            **in_folder("win", {**WINDOWS, "agent.msi": b"msi"}),
        },
    )
    (root / "package.yaml").write_text(spec)
    return root


def test_package_yaml_lets_one_zip_serve_several_targets(tmp_path: Path) -> None:
    result = build(spec_source(tmp_path / "src"), tmp_path / "out")

    manifest = json.loads((tmp_path / "out" / "manifest.json").read_bytes())
    assert manifest["publisher"] == "Example Corp"
    assert manifest["packages"] == {
        "amazon": {
            "_any": {"x86_64": {"file": "Agent_linux.zip"}, "arm64": {"file": "Agent_linux.zip"}}
        },
        "ubuntu": {"22.04": {"x86_64": {"file": "Agent_linux.zip"}}},
        "windows": {"_any": {"_any": {"file": "Agent_windows.zip"}}},
    }
    assert sorted(manifest["files"]) == ["Agent_linux.zip", "Agent_windows.zip"]
    assert [f.targets for f in result.files] == [
        ("amazon/_any/arm64", "amazon/_any/x86_64", "ubuntu/22.04/x86_64"),
        ("windows/_any/_any",),
    ]
    with zipfile.ZipFile(tmp_path / "out" / "Agent_linux.zip") as archive:
        assert archive.namelist() == ["agent.deb", "install.sh", "uninstall.sh"]


def test_package_yaml_wins_over_the_folder_layout(tmp_path: Path) -> None:
    source = spec_source(tmp_path / "src")
    write_tree(source, in_folder("amazon/_any/x86_64", LINUX))

    result = build(source, tmp_path / "out", publisher="Override Inc")

    assert [f.name for f in result.files] == ["Agent_linux.zip", "Agent_windows.zip"]
    assert json.loads(result.manifest_path.read_bytes())["publisher"] == "Override Inc"


def test_zip_serving_linux_and_windows_needs_both_script_sets(tmp_path: Path) -> None:
    spec = """
files:
  - {name: All.zip, source: linux, targets: [amazon/_any/_any, windows/_any/_any]}
"""

    found = problems(spec_source(tmp_path / "src", spec), tmp_path / "out")

    assert [p.split(" (")[0] for p in found] == [
        "linux: missing install.ps1",
        "linux: missing uninstall.ps1",
    ]
    assert "expected install.ps1 at its root (for windows)" in found[0]


# --- validation: one test per error ------------------------------------------------------


def test_missing_uninstall_script(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", in_folder("amazon/_any/x86_64", {"install.sh": b"x"}))

    assert problems(tmp_path / "src", tmp_path / "out") == [
        "amazon/_any/x86_64: missing uninstall.sh (got ['install.sh']; "
        "expected uninstall.sh at its root (for amazon))"
    ]


def test_scripts_below_the_root_do_not_count(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", in_folder("windows/_any/_any/scripts", WINDOWS))

    found = problems(tmp_path / "src", tmp_path / "out")

    assert [p.split(" (")[0] for p in found] == [
        "windows/_any/_any: missing install.ps1",
        "windows/_any/_any: missing uninstall.ps1",
    ]


def test_more_than_20_zips(tmp_path: Path) -> None:
    for index in range(21):
        write_tree(tmp_path / "src", in_folder(f"amazon/{index}/x86_64", LINUX))

    assert problems(tmp_path / "src", tmp_path / "out") == [
        "files: too many attachments (got '21 files'; expected at most 20)"
    ]


def test_unknown_platform(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", in_folder("gentoo/_any/x86_64", LINUX))

    found = problems(tmp_path / "src", tmp_path / "out")

    assert len(found) == 1
    assert found[0].startswith("gentoo: unknown platform (got 'gentoo'; expected one of almalinux")


def test_unknown_architecture_and_platform_version(tmp_path: Path) -> None:
    write_tree(
        tmp_path / "src",
        {**in_folder("amazon/_any/amd64", LINUX), **in_folder("amazon/2 023/x86_64", LINUX)},
    )

    found = [p.split(" (")[0] for p in problems(tmp_path / "src", tmp_path / "out")]

    assert found == [
        "amazon/2 023: invalid platform version",
        "amazon/_any/amd64: unknown architecture",
    ]


def test_unknown_key_in_package_yaml(tmp_path: Path) -> None:
    spec = """
publisher: X
signing: true
files:
  - {name: A.zip, src: linux, source: linux, targets: [amazon/_any/_any]}
"""

    assert problems(spec_source(tmp_path / "src", spec), tmp_path / "out") == [
        "package.yaml.signing: unknown key (got 'signing'; expected one of files, publisher)",
        "package.yaml.files[0].src: unknown key (got 'src'; expected one of name, source, targets)",
    ]


def test_package_yaml_entries_are_validated_together(tmp_path: Path) -> None:
    spec = """
files:
  - {name: a.tar, source: ../elsewhere, targets: [amazon/_any]}
  - {name: B.zip, source: missing, targets: []}
  - {name: C.zip, source: linux, targets: [amazon/_any/x86_64]}
  - {name: C.zip, source: linux, targets: [amazon/_any/x86_64, beos/_any/x86_64]}
"""
    found = [
        p.split(" (")[0] for p in problems(spec_source(tmp_path / "src", spec), tmp_path / "out")
    ]

    assert found == [
        "package.yaml.files[0].name: invalid attachment name",
        "package.yaml.files[0].source: outside the package source",
        "package.yaml.files[0].targets[0]: not a target",
        "package.yaml.files[1].source: no such folder",
        "package.yaml.files[1].targets: no targets",
        "package.yaml.files[3].targets[1]: unknown platform",
    ]


def test_package_yaml_duplicate_names_and_targets(tmp_path: Path) -> None:
    spec = """
files:
  - {name: C.zip, source: linux, targets: [amazon/_any/x86_64]}
  - {name: C.zip, source: linux, targets: [amazon/_any/x86_64]}
"""
    assert problems(spec_source(tmp_path / "src", spec), tmp_path / "out") == [
        "package.yaml.files[1]: zip name taken (got 'C.zip'; "
        "expected not package.yaml.files[0]'s name)",
        "package.yaml.files[1]: target taken (got 'amazon/_any/x86_64'; "
        "expected not package.yaml.files[0]'s)",
    ]


@pytest.mark.parametrize("text", ["files: [", "- just\n- a list\n", ""])
def test_package_yaml_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    found = problems(spec_source(tmp_path / "src", text), tmp_path / "out")

    assert len(found) == 1
    assert found[0].startswith("package.yaml: not")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"version": "1.0 beta"}, "version: not a valid package version (got '1.0 beta'"),
        ({"version": "v" * 129}, "version: not a valid package version"),
        ({"name": "AWS-Agent"}, "name: uses a prefix AWS reserves"),
        ({"name": "ab"}, "name: not a valid SSM document name"),
        ({"workers": 0}, "workers: too few (got 0"),
        ({"publisher": "  "}, "publisher: blank"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], expected: str) -> None:
    found = problems(EXAMPLE, tmp_path / "out", **kwargs)

    assert len(found) == 1
    assert found[0].startswith(expected), found


def test_manifest_over_64_kib(tmp_path: Path) -> None:
    found = problems(EXAMPLE, tmp_path / "out", publisher="p" * 65_536)

    assert len(found) == 1
    assert found[0].startswith("manifest: too large (got '")
    assert found[0].endswith("bytes'; expected at most 65536 bytes)")


def test_attachment_over_the_limit_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = {f.name: f.size for f in build(EXAMPLE, tmp_path / "reference").files}
    largest = max(sizes, key=sizes.__getitem__)
    # A real 1 GiB zip would take too long; the limit is what is checked, so shrink it to
    # just under the largest zip.
    limit = sizes[largest] - 1
    monkeypatch.setattr(package, "MAX_ATTACHMENT_BYTES", limit)
    out = tmp_path / "out"

    with pytest.raises(PackageError) as caught:
        build(EXAMPLE, out)

    assert [str(p) for p in caught.value.problems] == [
        f"{largest}: zip too large for Distributor (got '{sizes[largest]} bytes'; "
        f"expected at most {limit} bytes)"
    ]
    assert list(out.iterdir()) == []


def test_symlink_escaping_the_source(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    folder = (
        write_tree(tmp_path / "src", in_folder("amazon/_any/x86_64", LINUX)) / "amazon/_any/x86_64"
    )
    (folder / "link.txt").symlink_to(outside)

    found = problems(tmp_path / "src", tmp_path / "out")

    assert len(found) == 1
    assert found[0].startswith(
        "amazon/_any/x86_64/link.txt: symlink leads outside the package source (got '/"
    )
    assert found[0].endswith("; expected a path inside it)")


def test_symlink_inside_the_source_is_followed(tmp_path: Path) -> None:
    source = write_tree(
        tmp_path / "src",
        {**in_folder("amazon/_any/x86_64", LINUX), **in_folder("ubuntu/_any/x86_64", LINUX)},
    )
    (source / "ubuntu/_any/x86_64/shared.sh").symlink_to(source / "amazon/_any/x86_64/install.sh")

    build(source, tmp_path / "out")

    with zipfile.ZipFile(tmp_path / "out" / "ExamplePackage_ubuntu_any_x86_64.zip") as archive:
        assert archive.read("shared.sh") == LINUX["install.sh"]


def test_symlink_loop(tmp_path: Path) -> None:
    folder = (
        write_tree(tmp_path / "src", in_folder("amazon/_any/x86_64", LINUX)) / "amazon/_any/x86_64"
    )
    (folder / "again").symlink_to(folder)

    found = problems(tmp_path / "src", tmp_path / "out")

    assert [p.split(" (")[0] for p in found] == ["amazon/_any/x86_64/again: folder seen twice"]


def test_empty_folders(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", in_folder("amazon/_any/x86_64", LINUX))
    (source / "amazon/_any/x86_64/logs").mkdir()
    (source / "ubuntu/_any/x86_64").mkdir(parents=True)
    (source / "debian").mkdir()

    found = [p.split(" (")[0] for p in problems(source, tmp_path / "out")]

    assert found == [
        "debian: empty folder",
        "amazon/_any/x86_64/logs: empty folder",
        "ubuntu/_any/x86_64: empty folder",
    ]


def test_stray_file_in_the_layout(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {**in_folder("amazon/_any/x86_64", LINUX), "README.md": b"hi"})

    assert problems(tmp_path / "src", tmp_path / "out") == [
        "README.md: unexpected file (got 'README.md'; expected only platform folders here)"
    ]


def test_any_and_plain_any_folders_would_share_a_zip_name(tmp_path: Path) -> None:
    write_tree(
        tmp_path / "src",
        {**in_folder("amazon/_any/x86_64", LINUX), **in_folder("amazon/any/x86_64", LINUX)},
    )

    found = [p.split(" (")[0] for p in problems(tmp_path / "src", tmp_path / "out")]

    assert found == ["amazon/any/x86_64: zip name taken"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    write_tree(
        tmp_path / "src",
        {
            **in_folder("amazon/_any/x86_64", {"install.sh": b"x"}),
            **in_folder("macos/_any/x86_64", LINUX),
        },
    )

    found = [p.split(" (")[0] for p in problems(tmp_path / "src", tmp_path / "out", version="")]

    assert found == [
        "version: not a valid package version",
        "macos: unknown platform",
        "amazon/_any/x86_64: missing uninstall.sh",
    ]


def test_source_must_be_a_folder(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope", tmp_path / "out") == [
        f"source: not a folder (got '{tmp_path / 'nope'}'; expected a package source folder)"
    ]


def test_out_inside_the_source_is_refused(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", in_folder("amazon/_any/x86_64", LINUX))

    with pytest.raises(PackageError, match="out: inside the source"):
        build(source, source / "dist")
    assert not (source / "dist").exists()


def test_a_failing_read_leaves_no_partial_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(package, "_add_member", broken)

    with pytest.raises(OSError, match="disk on fire"):
        build(EXAMPLE, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
