"""Tests for distributor_rollout.core.manifest: the Distributor manifest, schema 2.0."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distributor_rollout.core import manifest as manifest_module
from distributor_rollout.core.errors import PackageError
from distributor_rollout.core.manifest import (
    ARCHITECTURES,
    MAX_FILES,
    MAX_MANIFEST_BYTES,
    PLATFORMS,
    Manifest,
    PlatformTarget,
    key_path,
    parse_manifest,
)

SHA_A = "a" * 64
SHA_B = "0123456789abcdef" * 4


def example_document() -> dict[str, Any]:
    """A manifest shaped like AWS's ExamplePackage, with one zip serving two targets."""
    return {
        "schemaVersion": "2.0",
        "version": "1.0.0",
        "publisher": "Example Corp",
        "packages": {
            "amazon": {"_any": {"x86_64": {"file": "Pkg_linux.zip"}}},
            "ubuntu": {"22.04": {"arm64": {"file": "Pkg_linux.zip"}}},
            "windows": {"_any": {"_any": {"file": "Pkg_windows.zip"}}},
        },
        "files": {
            "Pkg_linux.zip": {"checksums": {"sha256": SHA_A}},
            "Pkg_windows.zip": {"checksums": {"sha256": SHA_B}},
        },
    }


def encode(document: object) -> bytes:
    return json.dumps(document).encode()


def problems_of(document: object) -> list[str]:
    with pytest.raises(PackageError) as caught:
        parse_manifest(encode(document))
    return [str(problem) for problem in caught.value.problems]


def test_parse_reads_every_field() -> None:
    manifest = parse_manifest(encode(example_document()))

    assert manifest.version == "1.0.0"
    assert manifest.publisher == "Example Corp"
    assert dict(manifest.packages) == {
        PlatformTarget("amazon", "_any", "x86_64"): "Pkg_linux.zip",
        PlatformTarget("ubuntu", "22.04", "arm64"): "Pkg_linux.zip",
        PlatformTarget("windows", "_any", "_any"): "Pkg_windows.zip",
    }
    assert dict(manifest.files) == {"Pkg_linux.zip": SHA_A, "Pkg_windows.zip": SHA_B}


def test_render_is_canonical_json() -> None:
    manifest = parse_manifest(encode(example_document()))

    data = manifest.to_json()

    expected = json.dumps(example_document(), sort_keys=True, indent=2) + "\n"
    assert data == expected.encode()
    assert data.endswith(b"}\n")


def test_render_does_not_depend_on_insertion_order() -> None:
    targets = {
        PlatformTarget("windows", "_any", "_any"): "b.zip",
        PlatformTarget("amazon", "2", "arm64"): "a.zip",
        PlatformTarget("amazon", "2", "x86_64"): "a.zip",
    }
    digests = {"b.zip": SHA_B, "a.zip": SHA_A}

    forward = Manifest.create("1", targets, digests)
    backward = Manifest.create(
        "1", dict(reversed(targets.items())), dict(reversed(digests.items()))
    )

    assert forward == backward
    assert forward.to_json() == backward.to_json()


def test_publisher_is_left_out_when_none() -> None:
    manifest = Manifest.create(
        "1", {PlatformTarget("amazon", "_any", "_any"): "a.zip"}, {"a.zip": SHA_A}
    )

    assert "publisher" not in manifest.to_dict()
    assert manifest.problems() == []


platform_targets = st.builds(
    PlatformTarget,
    st.sampled_from(sorted(PLATFORMS)),
    st.sampled_from(["_any", "2", "2023", "22.04", "8.9"]),
    st.sampled_from(sorted(ARCHITECTURES)),
)
file_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}\.zip", fullmatch=True)
digests = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    names = draw(st.lists(file_names, min_size=1, max_size=MAX_FILES, unique=True))
    targets = draw(st.lists(platform_targets, min_size=len(names), max_size=40, unique=True))
    # Every file serves at least one target, the rest are spread at random.
    entries = {target: names[index % len(names)] for index, target in enumerate(targets)}
    files = {name: draw(digests) for name in names}
    publisher = draw(st.none() | st.text(min_size=1, max_size=30).filter(str.strip))
    return Manifest.create(
        draw(st.from_regex(r"[a-z0-9.]{1,10}", fullmatch=True)), entries, files, publisher
    )


@settings(max_examples=50, deadline=None)
@given(manifests())
def test_parse_of_render_round_trips(manifest: Manifest) -> None:
    data = manifest.to_json()

    assert parse_manifest(data) == manifest
    assert parse_manifest(data).to_json() == data


def test_every_problem_is_reported_at_once() -> None:
    document = example_document()
    document["schemaVersion"] = "1.0"
    document["packages"]["amazon"]["_any"]["x86_64"]["file"] = "Missing.zip"
    document["packages"]["centOS"] = {"_any": {"x86_64": {"file": "Pkg_windows.zip"}}}
    document["packages"]["ubuntu"]["22.04"] = {"aarch64": {"file": "Pkg_windows.zip"}}
    document["files"]["Pkg_windows.zip"]["checksums"]["sha256"] = SHA_B.upper()

    problems = problems_of(document)

    assert problems == [
        "schemaVersion: unsupported schema (got '1.0'; expected '2.0')",
        "packages.amazon._any.x86_64.file: not listed in files (got 'Missing.zip'; "
        "expected a key of files)",
        "packages.centOS._any.x86_64: unknown platform (got 'centOS'; expected one of "
        + ", ".join(sorted(PLATFORMS))
        + ")",
        "packages.ubuntu[\"22.04\"].aarch64: unknown architecture (got 'aarch64'; "
        "expected one of _any, arm64, i386, x86_64)",
        "files[\"Pkg_linux.zip\"]: not referenced by packages (got 'Pkg_linux.zip'; "
        "expected every file used)",
        'files["Pkg_windows.zip"].checksums.sha256: invalid sha256 (got '
        f"{SHA_B.upper()!r}; expected 64 lowercase hex digits)",
    ]


def test_error_names_its_subject() -> None:
    with pytest.raises(PackageError, match=r"^s3://bucket/manifest\.json: 1 problem"):
        parse_manifest(b"[]", subject="s3://bucket/manifest.json")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("schemaVersion"), "schemaVersion: unsupported schema (got None"),
        (lambda d: d.update(schemaVersion=2.0), "schemaVersion: unsupported schema (got 2.0"),
        (lambda d: d.pop("version"), "version: not a string (got None"),
        (lambda d: d.update(version=""), "version: empty"),
        (lambda d: d.update(publisher=7), "publisher: not a string (got 7"),
        (lambda d: d.update(extra=1), "extra: unknown key (got 'extra'"),
        (lambda d: d.update(packages=[]), "packages: not an object of platforms (got []"),
        (lambda d: d.update(packages={}), "packages: no platform entries"),
        (
            lambda d: d["packages"]["amazon"]["_any"]["x86_64"].update(url="x"),
            "packages.amazon._any.x86_64.url: unknown key",
        ),
        (
            lambda d: d["packages"]["amazon"]["_any"].update(x86_64={"file": 3}),
            "packages.amazon._any.x86_64.file: not a string (got 3",
        ),
        (
            lambda d: d["packages"]["ubuntu"].update(
                {"22 04": {"arm64": {"file": "Pkg_linux.zip"}}}
            ),
            'packages.ubuntu["22 04"].arm64: invalid platform version',
        ),
        (
            lambda d: d["files"]["Pkg_linux.zip"]["checksums"].update(md5="x"),
            'files["Pkg_linux.zip"].checksums.md5: unknown key',
        ),
        (
            lambda d: d["files"]["Pkg_linux.zip"]["checksums"].update(sha256="abc"),
            'files["Pkg_linux.zip"].checksums.sha256: invalid sha256',
        ),
        (
            lambda d: d["files"]["Pkg_linux.zip"].pop("checksums"),
            'files["Pkg_linux.zip"].checksums: not an object of checksums (got None',
        ),
        (
            lambda d: d["files"].update({"a/b.zip": {"checksums": {"sha256": SHA_A}}}),
            'files["a/b.zip"]: invalid attachment name',
        ),
    ],
)
def test_each_problem_is_found(change: Any, expected: str) -> None:
    document = example_document()
    change(document)

    assert any(problem.startswith(expected) for problem in problems_of(document)), expected


def test_invalid_json_is_one_problem() -> None:
    with pytest.raises(PackageError) as caught:
        parse_manifest(b'{"schemaVersion": ')

    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].message.startswith("not UTF-8 JSON")


def test_more_than_twenty_files_is_a_problem() -> None:
    names = [f"f{index:02}.zip" for index in range(MAX_FILES + 1)]
    targets = [PlatformTarget("amazon", str(index), "x86_64") for index in range(len(names))]
    manifest = Manifest.create(
        "1", dict(zip(targets, names, strict=True)), dict.fromkeys(names, SHA_A)
    )

    assert [str(p) for p in manifest.limit_problems()] == [
        "files: too many attachments (got '21 files'; expected at most 20)"
    ]
    assert manifest.limit_problems() == manifest.problems()
    with pytest.raises(PackageError, match="too many attachments"):
        parse_manifest(manifest.to_json())


def test_twenty_files_is_fine() -> None:
    names = [f"f{index:02}.zip" for index in range(MAX_FILES)]
    targets = [PlatformTarget("amazon", str(index), "x86_64") for index in range(len(names))]
    manifest = Manifest.create(
        "1", dict(zip(targets, names, strict=True)), dict.fromkeys(names, SHA_A)
    )

    assert parse_manifest(manifest.to_json()) == manifest


def test_manifest_over_64_kib_is_a_problem() -> None:
    base = Manifest.create(
        "1", {PlatformTarget("amazon", "_any", "_any"): "a.zip"}, {"a.zip": SHA_A}
    )
    empty = Manifest.create("1", dict(base.packages), dict(base.files), "")
    room = MAX_MANIFEST_BYTES - len(empty.to_json())
    at_limit = Manifest.create("1", dict(base.packages), dict(base.files), "p" * room)
    over = Manifest.create("1", dict(base.packages), dict(base.files), "p" * (room + 1))

    assert len(at_limit.to_json()) == MAX_MANIFEST_BYTES
    assert at_limit.problems() == []
    assert [str(p) for p in over.problems()] == [
        "manifest: too large (got '65537 bytes'; expected at most 65536 bytes)"
    ]
    with pytest.raises(PackageError, match="manifest: too large"):
        parse_manifest(over.to_json())


def test_size_limit_is_read_when_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest_module, "MAX_MANIFEST_BYTES", 100)
    manifest = Manifest.create(
        "1", {PlatformTarget("amazon", "_any", "_any"): "a.zip"}, {"a.zip": SHA_A}
    )

    assert [p.path for p in manifest.limit_problems()] == ["manifest"]


def test_duplicate_target_in_a_hand_built_manifest_is_a_problem() -> None:
    target = PlatformTarget("amazon", "_any", "_any")
    manifest = Manifest("1", ((target, "a.zip"), (target, "a.zip")), (("a.zip", SHA_A),))

    assert [p.message.split(" (")[0] for p in manifest.problems()] == ["duplicate entry"]


@pytest.mark.parametrize("text", ["amazon/_any", "amazon//x86_64", "a/b/c/d", ""])
def test_target_parse_refuses_other_shapes(text: str) -> None:
    with pytest.raises(ValueError, match="platform/platform_version/arch"):
        PlatformTarget.parse(text)


def test_target_parse_and_str_round_trip() -> None:
    target = PlatformTarget.parse("windows/_any/_any")

    assert target == PlatformTarget("windows", "_any", "_any")
    assert str(target) == "windows/_any/_any"
    assert target.problems("t") == []


def test_key_path_quotes_keys_that_are_not_identifiers() -> None:
    assert key_path("", "files") == "files"
    assert key_path("files", "a.zip") == 'files["a.zip"]'
    assert key_path("packages", "_any") == "packages._any"
