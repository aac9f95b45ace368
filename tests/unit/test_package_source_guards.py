"""Package sources a Windows node or a hard link would turn against the worker: file names
unpacked outside the package folder, hard links, versions that are not one path segment,
hostile package.yaml; and empty scripts, which are only a warning."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from distributor_rollout.core.errors import PackageError
from distributor_rollout.core.package import BuildResult, build_package
from distributor_rollout.core.package_source import _name_problem

LINUX = {"install.sh": b"#!/bin/sh\necho install\n", "uninstall.sh": b"#!/bin/sh\necho remove\n"}
ARCH = "amazon/_any/x86_64"


def _source(tmp_path: Path, extra: dict[str, bytes] | None = None) -> Path:
    root = tmp_path / "src"
    for name, data in {**LINUX, **(extra or {})}.items():
        path = root / ARCH / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _build(source: Path, out: Path, **kwargs: Any) -> BuildResult:
    return build_package(source, out, **{"name": "Pkg1", "version": "1.0.0", **kwargs})


def _problems(source: Path, out: Path, **kwargs: Any) -> list[str]:
    with pytest.raises(PackageError) as caught:
        _build(source, out, **kwargs)
    assert not out.exists(), "nothing may be written on failure"
    return [str(problem) for problem in caught.value.problems]


PORTABLE = (
    "expected a name without '\\', ':' or control characters, not a Windows device name "
    "(CON, PRN, AUX, NUL, COM1-9, LPT1-9) and not ending with '.' or ' ')"
)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("..\\..\\evil.ps1", "name holds '\\' or ':'"),
        ("C:evil.ps1", "name holds '\\' or ':'"),
        ("data.txt:stream", "name holds '\\' or ':'"),
        ("bell\x07.txt", "name holds a control character"),
        ("line\nbreak.txt", "name holds a control character"),
        ("CON", "name is a Windows device name"),
        ("nul.txt", "name is a Windows device name"),
        ("Com1.tar.gz", "name is a Windows device name"),
        ("lpt9", "name is a Windows device name"),
        ("aux ", "name ends with '.' or ' '"),
        ("trailing.", "name ends with '.' or ' '"),
    ],
)
def test_names_a_windows_node_would_unpack_elsewhere_are_refused(
    tmp_path: Path, name: str, why: str
) -> None:
    source = _source(tmp_path, {name: b"payload"})
    found = _problems(source, tmp_path / "out")
    assert found == [f"{ARCH}: {why} (got {name!r}; {PORTABLE}"]


def test_a_folder_with_a_device_name_is_refused(tmp_path: Path) -> None:
    source = _source(tmp_path, {"prn/readme.txt": b"x"})
    assert _problems(source, tmp_path / "out") == [
        f"{ARCH}: name is a Windows device name (got 'prn'; {PORTABLE}"
    ]


@pytest.mark.parametrize(
    "name", ["console.txt", "COM10", "lpt", "nullable.ps1", "a.b.c", "con-fig", "auxiliary"]
)
def test_ordinary_names_are_kept(name: str) -> None:
    assert _name_problem(name) is None


def test_a_hard_link_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    source = _source(tmp_path)
    os.link(outside, source / ARCH / "payload.txt")
    assert _problems(source, tmp_path / "out") == [
        f"{ARCH}/payload.txt: hard link (2 links) (got 'payload.txt'; expected a file with one "
        "link (copy it into the source instead of linking it))"
    ]


def test_a_symlink_to_a_hard_linked_file_is_refused(tmp_path: Path) -> None:
    source = _source(tmp_path, {"data.bin": b"x"})
    os.link(source / ARCH / "data.bin", tmp_path / "elsewhere.bin")
    (source / ARCH / "alias.bin").symlink_to(source / ARCH / "data.bin")
    found = _problems(source, tmp_path / "out")
    assert [line.split(":")[0] for line in found] == [f"{ARCH}/alias.bin", f"{ARCH}/data.bin"]


@pytest.mark.parametrize("version", ["..", ".", "...", "1.0."])
def test_a_version_that_is_not_one_path_segment_is_refused(tmp_path: Path, version: str) -> None:
    found = _problems(_source(tmp_path), tmp_path / "out", version=version)
    assert found == [
        f"version: not a safe single path segment (got {version!r}; expected 1-128 letters, "
        "digits, '_', '-' or '.', not only dots and not ending with '.')"
    ]


def test_an_alias_bomb_in_package_yaml_is_refused(tmp_path: Path) -> None:
    source = _source(tmp_path)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 9)]
    (source / "package.yaml").write_text("\n".join(lines) + "\nfiles: *a8\n")
    (found,) = _problems(source, tmp_path / "out")
    assert found.startswith("package.yaml: refused (line 6, column 10: expands to more than")


def test_duplicate_keys_in_package_yaml_are_refused(tmp_path: Path) -> None:
    source = _source(tmp_path)
    (source / "package.yaml").write_text("publisher: A\npublisher: B\nfiles: []\n")
    assert _problems(source, tmp_path / "out") == [
        "package.yaml.publisher: duplicate key at line 2 "
        "(got 'publisher'; expected each key once in a mapping; it is first at line 1)"
    ]


@pytest.mark.parametrize("content", [b"", b"  \n\t\n"], ids=["empty", "whitespace"])
def test_an_empty_script_is_a_warning(tmp_path: Path, content: bytes) -> None:
    source = _source(tmp_path, {"uninstall.sh": content})
    result = _build(source, tmp_path / "out")
    assert result.warnings == (f"{ARCH}/uninstall.sh: empty script (it runs and does nothing)",)
    assert result.to_dict()["warnings"] == list(result.warnings)


def test_scripts_with_content_give_no_warning(tmp_path: Path) -> None:
    result = _build(_source(tmp_path, {"notes.txt": b""}), tmp_path / "out")
    assert result.warnings == ()
