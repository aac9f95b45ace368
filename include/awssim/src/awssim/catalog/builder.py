"""Files, manifests and documents of the packages awssim provides itself.

A version's files are small zip archives holding install and uninstall scripts, built
byte for byte the same on every load so their sha256 never changes; the manifest names one
file per platform and architecture, as a Distributor manifest does, and the files sit in an
S3 bucket under ``<package>/<version>/``, the folder the document's ``SourceUrl`` names. The
simulated agent then installs these packages exactly as it installs any other: it reads the
manifest, downloads the file from S3 and checks its sha256.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass

from moto.s3.models import s3_backends
from moto.ssm.models import Document, Documents

# The manifest platform keys a Linux build serves (each with any platform version).
LINUX_PLATFORMS = (
    "amazon",
    "ubuntu",
    "debian",
    "redhat",
    "centos",
    "suse",
    "oracle",
    "rocky",
    "almalinux",
)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # a fixed date keeps the archives' bytes stable
_PARTITION = "aws"


@dataclass(frozen=True)
class PackageSpec:
    """A package awssim provides: its versions (oldest first; the last is the default) and
    the builds each version ships."""

    name: str
    publisher: str
    versions: tuple[str, ...]
    linux_arches: tuple[str, ...] = ("x86_64", "arm64")
    windows: bool = False

    def builds(self) -> list[tuple[str, str, str]]:
        """(family, architecture, file name) of each build, Linux first."""
        builds = [
            (f"linux-{arch}", arch, f"{self.name}-linux-{arch}.zip") for arch in self.linux_arches
        ]
        if self.windows:
            builds.append(("windows-x86_64", "x86_64", f"{self.name}-windows-x86_64.zip"))
        return builds


@dataclass(frozen=True)
class BuiltVersion:
    """One version of a package as it is stored: its manifest and the folder of its files."""

    version: str
    manifest: str
    source_url: str
    files: dict[str, bytes]


def _archive(spec: PackageSpec, version: str, family: str) -> bytes:
    windows = family.startswith("windows")
    script = "ps1" if windows else "sh"
    shebang = "" if windows else "#!/bin/sh\n"
    members = {
        f"install.{script}": f"{shebang}echo installing {spec.name} {version} ({family})\n",
        f"uninstall.{script}": f"{shebang}echo uninstalling {spec.name} {version} ({family})\n",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, text in members.items():
            archive.writestr(zipfile.ZipInfo(member, date_time=_ZIP_DATE), text)
    return buffer.getvalue()


def build_version(spec: PackageSpec, version: str, bucket: str, region: str) -> BuiltVersion:
    """The files and compact manifest of ``version``, to be stored under ``bucket``."""
    files: dict[str, bytes] = {}
    packages: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    for family, arch, file_name in spec.builds():
        files[file_name] = _archive(spec, version, family)
        platforms = ("windows",) if family.startswith("windows") else LINUX_PLATFORMS
        for platform in platforms:
            packages.setdefault(platform, {}).setdefault("_any", {})[arch] = {"file": file_name}
    manifest = {
        "schemaVersion": "2.0",
        "version": version,
        "publisher": spec.publisher,
        "packages": packages,
        "files": {
            name: {"checksums": {"sha256": hashlib.sha256(data).hexdigest()}}
            for name, data in files.items()
        },
    }
    return BuiltVersion(
        version=version,
        manifest=json.dumps(manifest, separators=(",", ":")),
        source_url=f"https://{bucket}.s3.{region}.amazonaws.com/{spec.name}/{version}",
        files=files,
    )


def store(
    spec: PackageSpec, *, account: str, bucket: str, region: str, policy: str | None = None
) -> list[BuiltVersion]:
    """Build every version of ``spec`` and put its files in ``account``'s ``bucket`` (created,
    with ``policy`` when given); returns the versions, oldest first."""
    backend = s3_backends[account][_PARTITION]
    if bucket not in backend.buckets:
        backend.create_bucket(bucket, region)
        if policy is not None:
            backend.put_bucket_policy(bucket, policy.encode())
    built = [build_version(spec, version, bucket, region) for version in spec.versions]
    for version in built:
        for file_name, data in version.files.items():
            backend.put_object(bucket, f"{spec.name}/{version.version}/{file_name}", data)
    return built


def documents(spec: PackageSpec, owner: str, versions: list[BuiltVersion]) -> Documents:
    """A Package document with one document version per package version (``1`` the oldest)
    owned by ``owner``; the newest is the default and latest version."""
    made = [
        Document(
            account_id=owner,
            name=spec.name,
            version_name=built.version,
            content=built.manifest,
            document_type="Package",
            document_format="JSON",
            requires=[],
            attachments=[{"Key": "SourceUrl", "Values": [built.source_url]}],
            target_type="",
            document_version=str(number),
        )
        for number, built in enumerate(versions, start=1)
    ]
    held = Documents(made[0])
    for document in made[1:]:
        held.add_new_version(document)
    held.default_version = held.latest_version
    return held
