"""Read and check a package source before anything is written.

Two source forms:

* folder layout ``<source>/<platform>/<platform_version>/<arch>/...``: one zip per arch
  folder, named ``<name>_<platform>_<platform_version>_<arch>.zip`` (``_any`` → ``any``);
* ``<source>/package.yaml`` (wins when present)::

      publisher: Example Corp            # optional
      files:
        - name: ExamplePackage_linux.zip
          source: linux                  # folder relative to package.yaml
          targets: [amazon/_any/x86_64, ubuntu/_any/x86_64]

``plan_package`` collects every problem and raises one PackageError, or returns the zips
to write (``ZipPlan``) with their members in a fixed order.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from distributor_rollout.core import fields, rules
from distributor_rollout.core.errors import PackageError, Problem, ValidationError, wrong
from distributor_rollout.core.manifest import (
    ANY,
    Manifest,
    PlatformTarget,
    arch_problems,
    file_name_problems,
    platform_problems,
    platform_version_problems,
)
from distributor_rollout.core.safe_yaml import load_yaml

SPEC_FILE: Final = "package.yaml"
_SPEC_KEYS: Final = ("files", "publisher")
_SPEC_FILE_KEYS: Final = ("name", "source", "targets")
_OUTSIDE = "symlink leads outside the package source"
# Names Windows gives to devices whatever the extension ('nul.txt' is NUL too); writing to
# one on a Windows node writes to the device, not into the package folder.
_WINDOWS_DEVICE = re.compile(r"(con|prn|aux|nul|com[1-9¹²³]|lpt[1-9¹²³])(\..*)?", re.IGNORECASE)
_PORTABLE_NAME = (
    "a name without '\\', ':' or control characters, not a Windows device name "
    "(CON, PRN, AUX, NUL, COM1-9, LPT1-9) and not ending with '.' or ' '"
)


def required_scripts(platform: str) -> tuple[str, str]:
    """The install and uninstall scripts Distributor runs from a zip's root on ``platform``."""
    if platform == "windows":
        return ("install.ps1", "uninstall.ps1")
    return ("install.sh", "uninstall.sh")


@dataclass(frozen=True)
class Member:
    """One file going into a zip: its path inside the zip, on disk, and its size."""

    arcname: str
    path: Path
    size: int


@dataclass(frozen=True)
class ZipPlan:
    """One zip to write: its name, source folder, the manifest targets it serves, its files."""

    name: str
    folder: Path
    label: str  # the folder, relative to the source, as messages name it
    where: str  # where the zip is defined: its folder, or its package.yaml entry
    targets: tuple[PlatformTarget, ...]
    members: tuple[Member, ...] = ()


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


def _layout_plans(root: Path, name: str, problems: list[Problem]) -> list[ZipPlan]:
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
                plans.append(ZipPlan(zip_name, arch_dir, label, label, (target,)))
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
        document = load_yaml(path, SPEC_FILE)
    except ValidationError as error:
        problems.extend(
            Problem(".".join(part for part in (SPEC_FILE, p.path) if part), p.message)
            for p in error.problems
        )
        return None
    if isinstance(document, dict):
        return document
    problems.append(wrong(SPEC_FILE, "not a mapping", document, "keys files and publisher"))
    return None


def _spec_plans(root: Path, problems: list[Problem]) -> tuple[list[ZipPlan], str | None]:
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
            plans.append(ZipPlan(name, folder, label, path, targets))
    return plans, publisher


def _is_utf8(text: str) -> bool:
    # Names the filesystem could not decode carry surrogates that no zip can encode.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _name_problem(name: str) -> str | None:
    """Why a Windows node could not unpack ``name`` as a file of the package folder, if so.

    Windows reads ``\\`` as a folder separator and ``:`` as a drive or an alternate data
    stream, drops a trailing dot or space, and opens a device for CON, NUL, COM1...; so
    such a name lands somewhere else than its zip entry says. Refused on every platform:
    one rule for every zip, and a Linux file with such a name is a mistake too.
    """
    if "\\" in name or ":" in name:
        return "name holds '\\' or ':'"
    if any(unicodedata.category(char) == "Cc" for char in name):
        return "name holds a control character"
    if name.endswith((".", " ")):
        return "name ends with '.' or ' '"
    if _WINDOWS_DEVICE.fullmatch(name.rstrip(" ")):
        return "name is a Windows device name"
    return None


def _file_problem(real: Path, arcname: str) -> tuple[str, object, str] | None:
    """What is wrong with a regular file ``real`` going into a zip as ``arcname``."""
    if not _is_utf8(arcname):
        return "name is not UTF-8", arcname, "a UTF-8 file name"
    links = real.stat().st_nlink
    if links > 1:
        # Where the other links are would take a scan of the whole filesystem; a hard link
        # shares its data with a file that may be outside the source, so none is taken.
        expected = "a file with one link (copy it into the source instead of linking it)"
        return f"hard link ({links} links)", arcname, expected
    return None


def _scan(folder: Path, label: str, root: Path, problems: list[Problem]) -> tuple[Member, ...]:
    """Every file under ``folder``, by forward-slash path relative to it, in sorted order.

    Refused: a symlink that leads outside the source, a symlink loop, anything neither
    file nor folder, a name a Windows node would unpack elsewhere (``_name_problem``),
    and a file with more than one hard link (``_file_problem``).
    """
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
            if (bad_name := _name_problem(child.name)) is not None:
                # Named by its folder: the name itself may hold a line break or an escape.
                folder_path = f"{label}/{prefix}".rstrip("/")
                problems.append(wrong(folder_path, bad_name, child.name, _PORTABLE_NAME))
            elif not real.is_relative_to(root):
                problems.append(wrong(where, _OUTSIDE, str(real), "a path inside it"))
            elif real.is_dir() and real in visited:
                problems.append(wrong(where, "folder seen twice", str(real), "no symlink loops"))
            elif real.is_dir():
                visited.add(real)
                pending.append((child, arcname + "/"))
            elif not real.is_file():
                problems.append(wrong(where, "not a regular file", str(real), "a file or folder"))
            elif (bad_file := _file_problem(real, arcname)) is not None:
                problems.append(wrong(where, *bad_file))
            else:
                members.append(Member(arcname, child, real.stat().st_size))
    return tuple(sorted(members, key=lambda member: member.arcname))


def _script_problems(plan: ZipPlan) -> list[Problem]:
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


def script_warnings(plans: list[ZipPlan]) -> tuple[str, ...]:
    """Install and uninstall scripts that do nothing (empty or only whitespace).

    A warning, not an error: an uninstall with nothing to undo can be empty on purpose,
    but an empty install script usually means a file was not written.
    """
    warnings = []
    for plan in plans:
        scripts = {
            script for target in plan.targets for script in required_scripts(target.platform)
        }
        for member in plan.members:
            if member.arcname in scripts and _blank(member.path, member.size):
                warnings.append(
                    f"{plan.label}/{member.arcname}: empty script (it runs and does nothing)"
                )
    return tuple(warnings)


def _blank(path: Path, size: int) -> bool:
    # A script of more than a page is not blank in practice; reading it whole is not needed.
    if size > 4096:
        return False
    return not path.read_bytes().strip()


def _duplicate_problems(plans: list[ZipPlan]) -> list[Problem]:
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


def plan_package(
    source: Path, out: Path, *, name: str, version: str, publisher: str | None, workers: int | None
) -> tuple[list[ZipPlan], str | None]:
    """Validate everything about a build without writing; raise PackageError if anything is off."""
    subject = f"Distributor package {source}"
    problems = _rule_problems("name", rules.package_name(name))
    problems += _rule_problems("version", fields.version(version))
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
