"""The Distributor package manifest (schema 2.0): model, canonical rendering and validation.

A manifest maps every platform / platform version / architecture a package supports to one
attached zip, and lists every attached zip with its sha256::

    {"schemaVersion": "2.0", "version": "1.0.0", "publisher": "...",
     "packages": {"amazon": {"_any": {"x86_64": {"file": "Pkg_amazon.zip"}}}},
     "files": {"Pkg_amazon.zip": {"checksums": {"sha256": "<64 hex>"}}}}

Rendering is canonical (sorted keys, 2-space indent, trailing newline), so the same
manifest always has the same bytes and therefore the same sha256.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from distributor_rollout.core.errors import PackageError, Problem, wrong

SCHEMA_VERSION: Final = "2.0"
ANY: Final = "_any"

# Platform names as Distributor's "Supported package platforms and architectures" table
# spells them in manifests. centos stays although newer docs dropped it: existing
# packages still target it and Distributor still resolves it.
PLATFORMS: Final = frozenset(
    {
        "almalinux",
        "amazon",
        "centos",
        "debian",
        "opensuse",
        "opensuseleap",
        "oracle",
        "redhat",
        "rocky",
        "suse",
        "ubuntu",
        "windows",
    }
)
ARCHITECTURES: Final = frozenset({"x86_64", "arm64", "i386", ANY})

# Distributor limits: attachments per package document, and the document content size.
MAX_FILES: Final = 20
MAX_MANIFEST_BYTES: Final = 65_536

_SHA256 = re.compile(r"[0-9a-f]{64}")
_PLATFORM_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Attachment names become S3 keys and URL path segments: keep them to a safe alphabet.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,250}\.zip")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOP_KEYS: Final = frozenset({"schemaVersion", "version", "publisher", "packages", "files"})


def key_path(path: str, key: str) -> str:
    """Extend a dotted path by a mapping key, bracket-quoting keys that hold dots or spaces."""
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _one_of(values: frozenset[str]) -> str:
    return "one of " + ", ".join(sorted(values))


def platform_problems(path: str, value: str) -> list[Problem]:
    """Problems with a platform name (Distributor's documented manifest names only)."""
    if value in PLATFORMS:
        return []
    return [wrong(path, "unknown platform", value, _one_of(PLATFORMS))]


def platform_version_problems(path: str, value: str) -> list[Problem]:
    """Problems with a platform version: ``_any`` or a version such as ``2023`` or ``22.04``."""
    if value == ANY or _PLATFORM_VERSION.fullmatch(value):
        return []
    expected = "'_any' or a version of letters, digits, '.', '_', '-' (e.g. '22.04')"
    return [wrong(path, "invalid platform version", value, expected)]


def arch_problems(path: str, value: str) -> list[Problem]:
    """Problems with an architecture name."""
    if value in ARCHITECTURES:
        return []
    return [wrong(path, "unknown architecture", value, _one_of(ARCHITECTURES))]


def file_name_problems(path: str, value: str) -> list[Problem]:
    """Problems with an attachment name: a plain ``.zip`` file name, safe in S3 keys and URLs."""
    if _FILE_NAME.fullmatch(value):
        return []
    expected = "a .zip file name of letters, digits, '.', '_', '-' (at most 255 characters)"
    return [wrong(path, "invalid attachment name", value, expected)]


@dataclass(frozen=True, order=True)
class PlatformTarget:
    """One platform / platform version / architecture slot of the manifest's ``packages``."""

    platform: str
    platform_version: str
    arch: str

    def __str__(self) -> str:
        return f"{self.platform}/{self.platform_version}/{self.arch}"

    @classmethod
    def parse(cls, text: str) -> PlatformTarget:
        """Parse ``platform/platform_version/arch``; raise ValueError if it has another shape."""
        parts = text.split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"expected 'platform/platform_version/arch', got {text!r}")
        return cls(parts[0], parts[1], parts[2])

    def problems(self, path: str) -> list[Problem]:
        """Every problem with this target's three names, all reported at ``path``."""
        return [
            *platform_problems(path, self.platform),
            *platform_version_problems(path, self.platform_version),
            *arch_problems(path, self.arch),
        ]


def _entry_path(target: PlatformTarget) -> str:
    path = key_path("packages", target.platform)
    return key_path(key_path(path, target.platform_version), target.arch)


@dataclass(frozen=True)
class Manifest:
    """A Distributor manifest. Build it with :meth:`create` so its entries are in order."""

    version: str
    packages: tuple[tuple[PlatformTarget, str], ...]
    files: tuple[tuple[str, str], ...]
    publisher: str | None = None

    @classmethod
    def create(
        cls,
        version: str,
        packages: Mapping[PlatformTarget, str],
        files: Mapping[str, str],
        publisher: str | None = None,
    ) -> Manifest:
        """A manifest from ``{target: file name}`` and ``{file name: sha256}``, sorted."""
        return cls(
            version, tuple(sorted(packages.items())), tuple(sorted(files.items())), publisher
        )

    def to_dict(self) -> dict[str, Any]:
        """The manifest as Distributor reads it, as plain JSON-safe data."""
        packages: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
        for target, file in self.packages:
            versions = packages.setdefault(target.platform, {})
            versions.setdefault(target.platform_version, {})[target.arch] = {"file": file}
        document: dict[str, Any] = {
            "schemaVersion": SCHEMA_VERSION,
            "version": self.version,
            "packages": packages,
            "files": {name: {"checksums": {"sha256": digest}} for name, digest in self.files},
        }
        if self.publisher is not None:
            document["publisher"] = self.publisher
        return document

    def to_json(self) -> bytes:
        """Canonical UTF-8 JSON: sorted keys, 2-space indent, trailing newline."""
        text = json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False)
        return (text + "\n").encode("utf-8")

    def limit_problems(self) -> list[Problem]:
        """Distributor's quotas only: attachment count and rendered size.

        A builder can check these before any zip exists, since a sha256 always renders as
        64 characters: a manifest with placeholder digests has exactly the final size.
        """
        return [*_count_problems(len(self.files)), *_size_problems(len(self.to_json()))]

    def problems(self) -> list[Problem]:
        """Every reason Distributor would refuse this manifest, including its rendered size."""
        return [*_content_problems(self), *_size_problems(len(self.to_json()))]


def _count_problems(count: int) -> list[Problem]:
    if count <= MAX_FILES:
        return []
    return [wrong("files", "too many attachments", f"{count} files", f"at most {MAX_FILES}")]


def _size_problems(size: int) -> list[Problem]:
    if size <= MAX_MANIFEST_BYTES:
        return []
    return [wrong("manifest", "too large", f"{size} bytes", f"at most {MAX_MANIFEST_BYTES} bytes")]


def _content_problems(manifest: Manifest) -> list[Problem]:
    problems: list[Problem] = []
    if not manifest.version:
        problems.append(wrong("version", "empty", manifest.version, "a package version"))
    if manifest.publisher is not None and not manifest.publisher.strip():
        problems.append(wrong("publisher", "blank", manifest.publisher, "a name, or no key"))
    if not manifest.packages:
        problems.append(wrong("packages", "no platform entries", {}, "at least one entry"))
    names = {name for name, _ in manifest.files}
    seen: set[PlatformTarget] = set()
    for target, file in manifest.packages:
        path = _entry_path(target)
        if target in seen:
            problems.append(wrong(path, "duplicate entry", str(target), "one file per target"))
        seen.add(target)
        problems.extend(target.problems(path))
        if file not in names:
            problems.append(
                wrong(key_path(path, "file"), "not listed in files", file, "a key of files")
            )
    referenced = {file for _, file in manifest.packages}
    for name, digest in manifest.files:
        path = key_path("files", name)
        problems.extend(file_name_problems(path, name))
        if name not in referenced:
            problems.append(wrong(path, "not referenced by packages", name, "every file used"))
        if not _SHA256.fullmatch(digest):
            sha_path = f"{path}.checksums.sha256"
            problems.append(wrong(sha_path, "invalid sha256", digest, "64 lowercase hex digits"))
    problems.extend(_count_problems(len(manifest.files)))
    return problems


def _mapping(value: object, path: str, what: str, problems: list[Problem]) -> dict[str, Any]:
    """``value`` if it is a JSON object; otherwise record a problem and return ``{}``."""
    if isinstance(value, dict):
        return value
    problems.append(wrong(path, f"not an object of {what}", value, f"an object of {what}"))
    return {}


def _string(value: object, path: str, problems: list[Problem]) -> str | None:
    if isinstance(value, str):
        return value
    problems.append(wrong(path, "not a string", value, "a string"))
    return None


def _exact_keys(
    value: dict[str, Any], keys: frozenset[str], path: str, problems: list[Problem]
) -> None:
    for key in sorted(set(value) - keys):
        problems.append(wrong(key_path(path, key), "unknown key", key, _one_of(keys)))


def _parse_packages(value: object, problems: list[Problem]) -> dict[PlatformTarget, str]:
    entries: dict[PlatformTarget, str] = {}
    platforms = _mapping(value, "packages", "platforms", problems)
    for platform, versions in platforms.items():
        platform_path = key_path("packages", platform)
        for version, arches in _mapping(versions, platform_path, "versions", problems).items():
            version_path = key_path(platform_path, version)
            for arch, entry in _mapping(arches, version_path, "architectures", problems).items():
                entry_path = key_path(version_path, arch)
                body = _mapping(entry, entry_path, "entry fields", problems)
                _exact_keys(body, frozenset({"file"}), entry_path, problems)
                file = _string(body.get("file"), key_path(entry_path, "file"), problems)
                if file is not None:
                    entries[PlatformTarget(platform, version, arch)] = file
    return entries


def _parse_files(value: object, problems: list[Problem]) -> dict[str, str]:
    digests: dict[str, str] = {}
    for name, entry in _mapping(value, "files", "files", problems).items():
        path = key_path("files", name)
        body = _mapping(entry, path, "file fields", problems)
        _exact_keys(body, frozenset({"checksums"}), path, problems)
        checksums_path = f"{path}.checksums"
        checksums = _mapping(body.get("checksums"), checksums_path, "checksums", problems)
        _exact_keys(checksums, frozenset({"sha256"}), checksums_path, problems)
        digest = _string(checksums.get("sha256"), f"{checksums_path}.sha256", problems)
        if digest is not None:
            digests[name] = digest
    return digests


def parse_manifest(data: bytes, subject: str = "manifest.json") -> Manifest:
    """Parse and validate manifest bytes; raise PackageError listing every problem found."""
    problems = _size_problems(len(data))
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        problems.append(wrong("", "not UTF-8 JSON", str(error), "a JSON object"))
        raise PackageError(subject, problems) from error
    if not isinstance(document, dict):
        problems.append(wrong("", "not a manifest", document, "a JSON object"))
        raise PackageError(subject, problems)
    top: dict[str, Any] = document
    _exact_keys(top, _TOP_KEYS, "", problems)
    if top.get("schemaVersion") != SCHEMA_VERSION:
        got = top.get("schemaVersion")
        problems.append(wrong("schemaVersion", "unsupported schema", got, repr(SCHEMA_VERSION)))
    version = _string(top.get("version"), "version", problems) or ""
    publisher = None
    if "publisher" in top:
        publisher = _string(top["publisher"], "publisher", problems)
    manifest = Manifest.create(
        version,
        _parse_packages(top.get("packages"), problems),
        _parse_files(top.get("files"), problems),
        publisher,
    )
    # One problem per place: a field already reported as malformed is not re-reported as,
    # say, empty by the content checks.
    reported = {problem.path for problem in problems}
    problems.extend(p for p in _content_problems(manifest) if p.path not in reported)
    if problems:
        raise PackageError(subject, problems)
    return manifest
