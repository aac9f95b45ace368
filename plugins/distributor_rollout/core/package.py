"""Build a Distributor package from local files: deterministic, streamed, parallel zips.

Two source forms:

* folder layout ``<source>/<platform>/<platform_version>/<arch>/...``: one zip per arch
  folder, named ``<name>_<platform>_<platform_version>_<arch>.zip`` (``_any`` → ``any``);
* ``<source>/package.yaml`` (wins when present)::

      publisher: Example Corp            # optional
      files:
        - name: ExamplePackage_linux.zip
          source: linux                  # folder relative to package.yaml
          targets: [amazon/_any/x86_64, ubuntu/_any/x86_64]

Every problem is collected and raised as one PackageError before any output is written.
Zips are written under temporary names and renamed into place; manifest.json comes last.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import yaml

from distributor_rollout.core import rules
from distributor_rollout.core.errors import PackageError, Problem, wrong
from distributor_rollout.core.manifest import (
    ANY,
    Manifest,
    PlatformTarget,
    arch_problems,
    file_name_problems,
    platform_problems,
    platform_version_problems,
)

SPEC_FILE: Final = "package.yaml"
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

_SPEC_KEYS: Final = ("files", "publisher")
_SPEC_FILE_KEYS: Final = ("name", "source", "targets")
_OUTSIDE = "symlink leads outside the package source"


def required_scripts(platform: str) -> tuple[str, str]:
    """The install and uninstall scripts Distributor runs from a zip's root on ``platform``."""
    if platform == "windows":
        return ("install.ps1", "uninstall.ps1")
    return ("install.sh", "uninstall.sh")


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
    """What a build wrote: manifest.json (path and sha256 of its bytes) and every zip."""

    manifest_path: Path
    manifest_sha256: str
    files: tuple[BuiltFile, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, e.g. for an XCom."""
        return {
            "manifest_path": str(self.manifest_path),
            "manifest_sha256": self.manifest_sha256,
            "files": [file.to_dict() for file in self.files],
        }


@dataclass(frozen=True)
class _Member:
    arcname: str
    path: Path
    size: int


@dataclass(frozen=True)
class _ZipPlan:
    name: str
    folder: Path
    label: str  # the folder, relative to the source, as messages name it
    where: str  # where the zip is defined: its folder, or its package.yaml entry
    targets: tuple[PlatformTarget, ...]
    members: tuple[_Member, ...] = ()


def _realpath(path: Path) -> Path:
    # Unlike Path.resolve, os.path.realpath does not raise on a symlink loop: the loop's
    # path is then neither file nor folder, and is reported as such.
    return Path(os.path.realpath(path))


def _rule_problems(path: str, message: str | None) -> list[Problem]:
    return [] if message is None else [Problem(path, message)]


def _subfolders(folder: Path, label: str, what: str, problems: list[Problem]) -> list[Path]:
    children = sorted(folder.iterdir())
    if not children:
        problems.append(wrong(label or ".", "empty folder", [], f"{what} inside"))
    for child in children:
        if not child.is_dir():
            path = f"{label}/{child.name}" if label else child.name
            problems.append(wrong(path, "unexpected file", child.name, f"only {what} here"))
    return [child for child in children if child.is_dir()]


def _layout_plans(root: Path, name: str, problems: list[Problem]) -> list[_ZipPlan]:
    plans = []
    for platform_dir in _subfolders(root, "", "platform folders", problems):
        platform = platform_dir.name
        if found := platform_problems(platform, platform):
            problems.extend(found)
            continue
        for version_dir in _subfolders(platform_dir, platform, "version folders", problems):
            version = version_dir.name
            version_label = f"{platform}/{version}"
            if found := platform_version_problems(version_label, version):
                problems.extend(found)
                continue
            for arch_dir in _subfolders(version_dir, version_label, "arch folders", problems):
                arch, label = arch_dir.name, f"{version_label}/{arch_dir.name}"
                if found := arch_problems(label, arch):
                    problems.extend(found)
                    continue
                plain = [
                    part.removeprefix("_") if part == ANY else part for part in (version, arch)
                ]
                zip_name = f"{name}_{platform}_{plain[0]}_{plain[1]}.zip"
                target = PlatformTarget(platform, version, arch)
                plans.append(_ZipPlan(zip_name, arch_dir, label, label, (target,)))
    return plans


def _unknown_keys(document: dict[Any, Any], known: tuple[str, ...], path: str) -> list[Problem]:
    expected = "one of " + ", ".join(known)
    unknown = sorted(set(document) - set(known), key=str)
    return [wrong(f"{path}.{key}", "unknown key", key, expected) for key in unknown]


def _spec_source(root: Path, value: object, path: str, problems: list[Problem]) -> Path | None:
    if not isinstance(value, str) or not value:
        problems.append(
            wrong(path, "not a folder path", value, "a folder relative to package.yaml")
        )
        return None
    folder = root / value
    if Path(value).is_absolute() or not _realpath(folder).is_relative_to(_realpath(root)):
        problems.append(wrong(path, "outside the package source", value, "a folder inside it"))
    elif not folder.is_dir():
        problems.append(wrong(path, "no such folder", value, "an existing folder"))
    else:
        return folder
    return None


def _spec_targets(value: object, path: str, problems: list[Problem]) -> tuple[PlatformTarget, ...]:
    if not isinstance(value, list) or not value:
        problems.append(wrong(path, "no targets", value, "a non-empty list of targets"))
        return ()
    targets = []
    for index, text in enumerate(value):
        try:
            target = PlatformTarget.parse(text) if isinstance(text, str) else None
        except ValueError:
            target = None
        if target is None:
            expected = "'platform/platform_version/arch'"
            problems.append(wrong(f"{path}[{index}]", "not a target", text, expected))
        elif found := target.problems(f"{path}[{index}]"):
            problems.extend(found)
        else:
            targets.append(target)
    return tuple(sorted(targets)) if len(targets) == len(value) else ()


def _read_spec(path: Path, problems: list[Problem]) -> dict[Any, Any] | None:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problems.append(wrong(SPEC_FILE, "not valid YAML", where, "a YAML mapping"))
        return None
    if isinstance(document, dict):
        return document
    problems.append(wrong(SPEC_FILE, "not a mapping", document, "keys files and publisher"))
    return None


def _spec_plans(root: Path, problems: list[Problem]) -> tuple[list[_ZipPlan], str | None]:
    document = _read_spec(root / SPEC_FILE, problems)
    if document is None:
        return [], None
    problems.extend(_unknown_keys(document, _SPEC_KEYS, SPEC_FILE))
    publisher = document.get("publisher")
    if publisher is not None and not isinstance(publisher, str):
        problems.append(wrong(f"{SPEC_FILE}.publisher", "not a string", publisher, "a name"))
        publisher = None
    entries = document.get("files")
    if not isinstance(entries, list) or not entries:
        problems.append(wrong(f"{SPEC_FILE}.files", "no files", entries, "a non-empty list"))
        return [], publisher
    plans = []
    for index, entry in enumerate(entries):
        path = f"{SPEC_FILE}.files[{index}]"
        if not isinstance(entry, dict):
            problems.append(wrong(path, "not a mapping", entry, "keys name, source, targets"))
            continue
        problems.extend(_unknown_keys(entry, _SPEC_FILE_KEYS, path))
        name = entry.get("name")
        if not isinstance(name, str):
            problems.append(wrong(f"{path}.name", "not a zip name", name, "a .zip file name"))
        elif found := file_name_problems(f"{path}.name", name):
            problems.extend(found)
            name = None
        folder = _spec_source(root, entry.get("source"), f"{path}.source", problems)
        targets = _spec_targets(entry.get("targets"), f"{path}.targets", problems)
        if isinstance(name, str) and folder is not None and targets:
            label = Path(os.path.normpath(entry["source"])).as_posix()
            plans.append(_ZipPlan(name, folder, label, path, targets))
    return plans, publisher


def _is_utf8(text: str) -> bool:
    # Names the filesystem could not decode carry surrogates that no zip can encode.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _scan(folder: Path, label: str, root: Path, problems: list[Problem]) -> tuple[_Member, ...]:
    """Every file under ``folder``, by forward-slash path relative to it, in sorted order."""
    if not _realpath(folder).is_relative_to(root):
        problems.append(wrong(label, _OUTSIDE, str(_realpath(folder)), "a folder inside it"))
        return ()
    members = []
    visited = {_realpath(folder)}
    pending = [(folder, "")]
    while pending:
        directory, prefix = pending.pop()
        children = sorted(directory.iterdir())
        if not children:
            # A zip holds no directory entries: an empty folder would silently vanish.
            here = f"{label}/{prefix}".rstrip("/")
            problems.append(wrong(here, "empty folder", [], "files (zips keep no empty folders)"))
        for child in children:
            arcname, real = prefix + child.name, _realpath(child)
            where = f"{label}/{arcname}"
            if not real.is_relative_to(root):
                problems.append(wrong(where, _OUTSIDE, str(real), "a path inside it"))
            elif real.is_dir() and real in visited:
                problems.append(wrong(where, "folder seen twice", str(real), "no symlink loops"))
            elif real.is_dir():
                visited.add(real)
                pending.append((child, arcname + "/"))
            elif not real.is_file():
                problems.append(wrong(where, "not a regular file", str(real), "a file or folder"))
            elif not _is_utf8(arcname):
                problems.append(wrong(where, "name is not UTF-8", arcname, "a UTF-8 file name"))
            else:
                members.append(_Member(arcname, child, real.stat().st_size))
    return tuple(sorted(members, key=lambda member: member.arcname))


def _script_problems(plan: _ZipPlan) -> list[Problem]:
    present = {member.arcname for member in plan.members}
    at_root = sorted(name for name in present if "/" not in name)
    needed: dict[str, list[str]] = {}
    for platform in sorted({target.platform for target in plan.targets}):
        for script in required_scripts(platform):
            needed.setdefault(script, []).append(platform)
    return [
        wrong(
            plan.label, f"missing {script}", at_root, f"{script} at its root (for {', '.join(by)})"
        )
        for script, by in needed.items()
        if script not in present
    ]


def _duplicate_problems(plans: list[_ZipPlan]) -> list[Problem]:
    problems = []
    names: dict[str, str] = {}
    owners: dict[PlatformTarget, str] = {}
    for plan in plans:
        if (first := names.setdefault(plan.name, plan.where)) != plan.where:
            problems.append(wrong(plan.where, "zip name taken", plan.name, f"not {first}'s name"))
        for target in plan.targets:
            if (owner := owners.setdefault(target, plan.where)) != plan.where:
                problems.append(wrong(plan.where, "target taken", str(target), f"not {owner}'s"))
    return problems


def _plan(
    source: Path, out: Path, *, name: str, version: str, publisher: str | None, workers: int | None
) -> tuple[list[_ZipPlan], str | None]:
    """Validate everything about a build without writing; raise PackageError if anything is off."""
    subject = f"Distributor package {source}"
    problems = _rule_problems("name", rules.package_name(name))
    problems += _rule_problems("version", rules.version(version))
    if workers is not None and workers < 1:
        problems.append(wrong("workers", "too few", workers, "at least 1, or None"))
    if not source.is_dir():
        problems.append(wrong("source", "not a folder", str(source), "a package source folder"))
        raise PackageError(subject, problems)
    root = _realpath(source)
    if _realpath(out).is_relative_to(root):
        problems.append(wrong("out", "inside the source", str(out), "a folder outside it"))
    elif out.exists() and not out.is_dir():
        problems.append(wrong("out", "not a folder", str(out), "a folder, or a path to create"))
    if (source / SPEC_FILE).is_file():
        drafts, spec_publisher = _spec_plans(source, problems)
        publisher = spec_publisher if publisher is None else publisher
    else:
        drafts = _layout_plans(source, name, problems)
    if publisher is not None and not publisher.strip():
        problems.append(wrong("publisher", "blank", publisher, "a name, or None"))
    plans = [replace(d, members=_scan(d.folder, d.label, root, problems)) for d in drafts]
    for plan in plans:
        problems.extend(_script_problems(plan) if plan.members else [])
    problems.extend(_duplicate_problems(plans))
    if plans:
        # A sha256 always renders as 64 characters, so placeholder digests give the
        # manifest's exact final size: its limits are checked before any zip is written.
        entries = {target: plan.name for plan in plans for target in plan.targets}
        digests = {plan.name: "0" * 64 for plan in plans}
        problems.extend(Manifest.create(version, entries, digests, publisher).limit_problems())
    elif not problems:
        problems.append(wrong("source", "nothing to package", str(source), "platform folders"))
    if problems:
        raise PackageError(subject, problems)
    return plans, publisher


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


def _add_member(archive: zipfile.ZipFile, member: _Member, buffer: bytearray) -> None:
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
    plan: _ZipPlan
    temp: Path
    sha256: str
    size: int


def _write_zip(plan: _ZipPlan, out: Path) -> _Written:
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


def _write_zips(plans: list[_ZipPlan], out: Path, workers: int, subject: str) -> list[_Written]:
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
    plans, publisher = _plan(
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
    return BuildResult(out / MANIFEST_FILE, hashlib.sha256(data).hexdigest(), files)
