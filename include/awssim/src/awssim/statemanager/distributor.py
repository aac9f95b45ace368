"""What the agent's AWS-ConfigureAWSPackage plugin does before it runs an install script.

It reads the package document (type Package) the association's ``name`` names in the
node's account and Region: the account's own document, an AWS-provided one, or the ARN of
one another account shared with it (``awssim.document_access``). It picks the manifest
entry for the node's platform, version and architecture, downloads the file from the
document's attachment location in S3 and checks its sha256. Each failure is reported in the
words of the SSM Agent's configurepackage plugin.

Where real Distributor copies attachments when the document is created (as the document's
owner), awssim reads them from the bucket when a node installs, so that a missing object, a
wrong checksum or a bucket policy that does not let the owner's account read it fails on
the node, where it shows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any, NoReturn

from moto.s3.models import s3_backends

from awssim.bucket_policy import account_allowed, request_context
from awssim.document_access import file_url
from awssim.fleet import Node
from awssim.statemanager.settings import find_documents

STACKSETS_EXECUTION_ROLE = "stacksets-exec-awssim"
"""The name of the role service-managed StackSets create stacks with in member accounts
(``stacksets-exec-<id>`` in AWS)."""
_VIRTUAL_HOST = re.compile(
    r"^https://(?P<bucket>[a-z0-9][a-z0-9.-]*)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com"
    r"(?:\.cn)?/(?P<key>.*)$"
)
_PATH_STYLE = re.compile(
    r"^https://s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?/(?P<bucket>[^/]+)/(?P<key>.*)$"
)


class PackageFailure(Exception):
    """A package step failed on a node; the message is what the agent reports."""


def resolve_package(
    node: Node, name: str, version: str, org_id_of: Callable[[str], str | None]
) -> str:
    """Find, download and verify ``name`` ``version`` for ``node``: the version it installs.

    ``name`` is a document name or a shared document's ARN; an empty ``version`` means the
    document's default version. ``org_id_of`` gives an account's organization id (None
    outside the simulated organization). Raises PackageFailure.
    """
    documents = find_documents(name, node.account_id, node.region)
    if documents is None:
        _fail("InvalidDocument: The specified document does not exist.")
    document = documents.find_by_version_name(version) if version else None
    if version and document is None:
        _fail("InvalidDocumentVersion: The document version is not valid or does not exist.")
    document = document or documents.get_default_version()
    if document.document_type != "Package":
        msg = f"failed to parse manifest: document {name} is a {document.document_type} document"
        raise PackageFailure(msg)
    manifest = document.content_json if isinstance(document.content_json, dict) else {}
    file_name = _file_for(node, manifest)
    expected = ((manifest.get("files") or {}).get(file_name) or {}).get("checksums", {})
    if not expected:
        msg = f"failed to find file for {{FileName:{file_name}}}"
        raise PackageFailure(msg)
    url = file_url(document, file_name)
    if url is None:
        msg = "Could not retrieve the attachments for installation"
        raise PackageFailure(msg)
    # Distributor copies the files as the document's owner (an account id; AWS's own
    # packages are public), so the owner's access to the bucket is what counts.
    reader = str(document.owner) if str(document.owner).isdigit() else node.account_id
    data = _download(url, reader, org_id_of(reader))
    digest = hashlib.sha256(data).hexdigest()
    wanted = str(expected.get("sha256", "")).lower()
    if digest != wanted:
        msg = (
            f"failed to download installation package reliably, {url}, failed to verify hash "
            f"of downloadinput: sha256 {digest} does not match the manifest's {wanted}"
        )
        raise PackageFailure(msg)
    return document.version_name or str(manifest.get("version") or document.document_version)


def _fail(error: str) -> NoReturn:
    msg = f"failed to download manifest - failed to retrieve package document: {error}"
    raise PackageFailure(msg)


def _pick(key: str, options: dict[str, Any], *, versions: bool = False) -> str | None:
    if key in options:
        return key
    if versions:
        # A "major.*" entry matches by prefix; the longest prefix wins.
        best = max(
            (
                entry
                for entry in options
                if entry.endswith(".*") and (key + ".").startswith(entry[:-1])
            ),
            key=len,
            default=None,
        )
        if best is not None:
            return best
    return next((wild for wild in ("_any", "*") if wild in options), None)


def _file_for(node: Node, manifest: dict[str, Any]) -> str:
    packages = manifest.get("packages") or {}
    platform = _pick(node.platform, packages)
    versions = packages.get(platform, {}) if platform else {}
    version = _pick(node.platform_version, versions, versions=True)
    arches = versions.get(version, {}) if version else {}
    arch = _pick(node.arch, arches)
    entry = arches.get(arch) if arch else None
    if not isinstance(entry, dict) or not entry.get("file"):
        msg = (
            f"failed to find platform: no manifest found for platform: {node.platform}, "
            f"version {node.platform_version}, architecture {node.arch}"
        )
        raise PackageFailure(msg)
    return str(entry["file"])


def _download(url: str, reader: str, org_id: str | None) -> bytes:
    """The object at ``url`` as account ``reader`` may read it (in organization ``org_id``)."""
    match = _VIRTUAL_HOST.match(url) or _PATH_STYLE.match(url)
    owner = s3_backends.bucket_accounts.get(match["bucket"]) if match else None
    if match is None or owner is None:
        _http_error(url, "404 Not Found")
    bucket_name, key_name = match["bucket"], match["key"]
    backend = s3_backends[owner[1]][owner[0]]
    bucket = backend.buckets[bucket_name]
    if owner[1] != reader and not _policy_allows(
        bucket.policy, bucket_name, key_name, reader, org_id
    ):
        _http_error(url, "403 Forbidden")
    key = bucket.keys.get(key_name)
    if key is None:
        _http_error(url, "404 Not Found")
    return bytes(key.value)


def _http_error(url: str, status: str) -> NoReturn:
    code = status.split(maxsplit=1)[0]
    msg = (
        f"failed to download installation package reliably, {url}, "
        f"http request failed. status:{status} statuscode:{code}"
    )
    raise PackageFailure(msg)


def _policy_allows(
    policy: bytes | None, bucket: str, key: str, account: str, org_id: str | None
) -> bool:
    """Whether a bucket policy lets a principal of ``account`` s3:GetObject ``key``."""
    # Real Distributor copies the attachments when the document is created, as the caller
    # of CreateDocument: the StackSets execution role of the member account.
    context = {
        **request_context(org_id),
        "aws:principalaccount": account,
        "aws:principalarn": f"arn:aws:iam::{account}:role/{STACKSETS_EXECUTION_ROLE}",
    }
    return account_allowed(policy, "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", account, context)
