"""What the agent's AWS-ConfigureAWSPackage plugin does before it runs an install script.

It reads the package document (type Package) in the node's account and Region, picks the
manifest entry for the node's platform, version and architecture, downloads the file from
the document's attachment location in S3 and checks its sha256. Each failure is reported in
the words of the SSM Agent's configurepackage plugin.

Where real Distributor copies attachments when the document is created, awssim reads them
from the bucket when a node installs, so that a missing object, a wrong checksum or a bucket
policy that does not let the node's account read it fails on the node, where it shows.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from typing import Any, NoReturn

from moto.s3.models import s3_backends
from moto.ssm.models import Document

from awssim.bucket_policy import conditions_hold, request_context
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


def resolve_package(node: Node, name: str, version: str, org_id: str | None) -> str:
    """Find, download and verify ``name`` ``version`` for ``node``: the version it installs.

    Raises PackageFailure. An empty ``version`` means the document's default version.
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
    url = _attachment_url(document, file_name)
    data = _download(node, url, org_id)
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


def _attachment_url(document: Document, file_name: str) -> str:
    for attachment in document.attachments or []:
        values = attachment.get("Values") or []
        if attachment.get("Key") == "SourceUrl" and values:
            return f"{str(values[0]).rstrip('/')}/{file_name}"
        if attachment.get("Key") == "S3FileUrl" and values:
            for value in values:
                if str(value).rsplit("/", 1)[-1] == file_name:
                    return str(value)
    msg = "Could not retrieve the attachments for installation"
    raise PackageFailure(msg)


def _download(node: Node, url: str, org_id: str | None) -> bytes:
    match = _VIRTUAL_HOST.match(url) or _PATH_STYLE.match(url)
    owner = s3_backends.bucket_accounts.get(match["bucket"]) if match else None
    if match is None or owner is None:
        _http_error(url, "404 Not Found")
    bucket_name, key_name = match["bucket"], match["key"]
    backend = s3_backends[owner[1]][owner[0]]
    bucket = backend.buckets[bucket_name]
    if owner[1] != node.account_id and not _policy_allows(
        bucket.policy, bucket_name, key_name, node.account_id, org_id
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


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _policy_allows(
    policy: bytes | None, bucket: str, key: str, account: str, org_id: str | None
) -> bool:
    """Whether a bucket policy lets a principal of ``account`` s3:GetObject ``key``."""
    if not policy:
        return False
    try:
        statements = _as_list(json.loads(policy).get("Statement"))
    except (ValueError, AttributeError):
        return False
    # Real Distributor copies the attachments when the document is created, as the caller
    # of CreateDocument: the StackSets execution role of the member account.
    context = {
        **request_context(org_id),
        "aws:principalaccount": account,
        "aws:principalarn": f"arn:aws:iam::{account}:role/{STACKSETS_EXECUTION_ROLE}",
    }
    resource = f"arn:aws:s3:::{bucket}/{key}"
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict) or not _applies(statement, resource, account, context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _applies(
    statement: dict[str, Any], resource: str, account: str, context: dict[str, str]
) -> bool:
    actions = [str(a).lower() for a in _as_list(statement.get("Action"))]
    if not any(fnmatch.fnmatchcase("s3:getobject", action) for action in actions):
        return False
    if not any(fnmatch.fnmatchcase(resource, str(r)) for r in _as_list(statement.get("Resource"))):
        return False
    principal = statement.get("Principal")
    principals = ["*"] if principal == "*" else _as_list((principal or {}).get("AWS"))
    if not any(p in ("*", account, f"arn:aws:iam::{account}:root") for p in map(str, principals)):
        return False
    return conditions_hold(statement.get("Condition") or {}, context)
