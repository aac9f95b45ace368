"""Build a Distributor package from local files: deterministic, streamed, parallel zips.

``package_source`` checks the source and decides the zips; this module writes them. Zips
are written under temporary names through a hashing, non-seekable sink (so zipfile
streams with data descriptors and the sha256 is computed as the bytes go to disk), then
renamed into place; manifest.json comes last.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from distributor_rollout.core.errors import PackageError, wrong
from distributor_rollout.core.manifest import Manifest
from distributor_rollout.core.package_source import Member, ZipPlan, plan_package, script_warnings

MANIFEST_FILE: Final = "manifest.json"
MAX_ATTACHMENT_BYTES: Final = 1 << 30  # Distributor's "1 GB" per attachment
CHUNK_BYTES: Final = 1 << 20
# Already-compressed payloads: deflating them again costs CPU and saves nothing.
STORED_SUFFIXES: Final = frozenset(
    {".rpm", ".deb", ".msi", ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".jar", ".nupkg"}
    | {".cab", ".7z", ".msix", ".appx", ".pkg", ".dmg"}
)
EXECUTABLE_SUFFIXES: Final = frozenset({".sh", ".ps1"})
ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold


@dataclass(frozen=True)
class BuiltFile:
    """One zip written by a build, and the manifest targets it serves."""

    name: str
    sha256: str
    size: int
    targets: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {**vars(self), "targets": list(self.targets)}


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote: manifest.json (path and sha256 of its bytes) and every zip, and
    what it noticed without refusing (``warnings``, such as an empty install script)."""

    manifest_path: Path
    manifest_sha256: str
    files: tuple[BuiltFile, ...]
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, e.g. for an XCom."""
        return {
            "manifest_path": str(self.manifest_path),
            "manifest_sha256": self.manifest_sha256,
            "files": [file.to_dict() for file in self.files],
            "warnings": list(self.warnings),
        }


class _HashingSink:
    """A write-only, non-seekable file that hashes every byte on its way to disk.

    With no seek(), zipfile streams: it puts each entry's CRC and sizes in a data
    descriptor after the data instead of seeking back to patch the local header, so the
    bytes hashed here are exactly the bytes of the finished file.
    """

    def __init__(self, fd: int) -> None:
        self._raw = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes) -> int:
        """Write and hash ``data``."""
        written = self._raw.write(data)
        self._digest.update(data)
        self._size += written
        return written

    def tell(self) -> int:
        """Bytes written so far (zipfile records entry offsets with it)."""
        return self._size

    def flush(self) -> None:
        """Flush to the operating system."""
        self._raw.flush()

    def close(self) -> None:
        """Close the file (zipfile never closes a file object it was handed)."""
        self._raw.close()

    def hexdigest(self) -> str:
        """sha256 of everything written."""
        return self._digest.hexdigest()


def _add_member(archive: zipfile.ZipFile, member: Member, buffer: bytearray) -> None:
    suffix = Path(member.arcname).suffix.lower()
    info = zipfile.ZipInfo(member.arcname, date_time=ZIP_EPOCH)
    info.create_system = 3  # Unix, wherever it is built: the mode bits below mean what they say
    mode = 0o755 if suffix in EXECUTABLE_SUFFIXES else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    # Deflate at zipfile's default level, zlib's Z_DEFAULT_COMPRESSION, which is level 6.
    info.compress_type = zipfile.ZIP_STORED if suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
    # Set before open(): zipfile decides on zip64 (and its extra field) from file_size.
    info.file_size = member.size
    view = memoryview(buffer)
    with member.path.open("rb", buffering=0) as reader, archive.open(info, "w") as writer:
        while count := reader.readinto(buffer):
            writer.write(view[:count])


@dataclass(frozen=True)
class _Written:
    plan: ZipPlan
    temp: Path
    sha256: str
    size: int


def _write_zip(plan: ZipPlan, out: Path) -> _Written:
    fd, temp_name = tempfile.mkstemp(prefix=f".{plan.name}.", suffix=".partial", dir=out)
    temp = Path(temp_name)
    sink = _HashingSink(fd)
    try:
        buffer = bytearray(CHUNK_BYTES)
        with zipfile.ZipFile(sink, "w") as archive:
            for member in plan.members:
                _add_member(archive, member, buffer)
        sink.close()
        temp.chmod(0o644)  # mkstemp makes it 0600; a package is meant to be read
    except BaseException:
        sink.close()
        temp.unlink(missing_ok=True)
        raise
    return _Written(plan, temp, sink.hexdigest(), sink.tell())


def _discard(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _write_zips(plans: list[ZipPlan], out: Path, workers: int, subject: str) -> list[_Written]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_write_zip, plan, out) for plan in plans]
    written = [future.result() for future in futures if future.exception() is None]
    failures = [error for future in futures if (error := future.exception()) is not None]
    if failures:
        _discard(item.temp for item in written)
        raise failures[0]
    # Only known once written: how much deflate saves decides the size.
    limit = f"at most {MAX_ATTACHMENT_BYTES} bytes"
    oversized = [
        wrong(item.plan.name, "zip too large for Distributor", f"{item.size} bytes", limit)
        for item in written
        if item.size > MAX_ATTACHMENT_BYTES
    ]
    if oversized:
        _discard(item.temp for item in written)
        raise PackageError(subject, oversized)
    return written


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def build_package(
    source: Path,
    out: Path,
    *,
    name: str,
    version: str,
    publisher: str | None = None,
    workers: int | None = None,
) -> BuildResult:
    """Build package ``name`` ``version`` from ``source``: its zips and manifest.json in ``out``.

    ``publisher`` overrides package.yaml's. ``workers`` zips are written in parallel
    (default: one per zip, at most one per CPU). Raises PackageError listing every problem:
    before writing anything for bad input, and after removing what it wrote when a zip
    turns out larger than Distributor accepts.
    """
    plans, publisher = plan_package(
        source, out, name=name, version=version, publisher=publisher, workers=workers
    )
    out.mkdir(parents=True, exist_ok=True)
    count = workers or min(len(plans), os.cpu_count() or 1)
    written = _write_zips(plans, out, count, f"Distributor package {source}")
    for item in written:
        os.replace(item.temp, out / item.plan.name)
    manifest = Manifest.create(
        version,
        {target: plan.name for plan in plans for target in plan.targets},
        {item.plan.name: item.sha256 for item in written},
        publisher,
    )
    data = manifest.to_json()
    _write_atomically(out / MANIFEST_FILE, data)
    files = tuple(
        BuiltFile(item.plan.name, item.sha256, item.size, tuple(map(str, item.plan.targets)))
        for item in sorted(written, key=lambda item: item.plan.name)
    )
    digest = hashlib.sha256(data).hexdigest()
    return BuildResult(out / MANIFEST_FILE, digest, files, script_warnings(plans))
