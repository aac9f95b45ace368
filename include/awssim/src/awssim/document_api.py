"""DescribeDocument, GetDocument and ListDocumentVersions over every document a caller sees.

``install`` replaces moto's DescribeDocument and GetDocument handlers and adds
ListDocumentVersions (moto has none). Each reads the document ``Name`` names for the caller
(``awssim.document_access``: its own, AWS's, or one shared with it by ARN) and answers in
botocore's output shape:

* a missing document is ``InvalidDocument``; a DocumentVersion or VersionName the document
  does not have is ``InvalidDocumentVersion``; ``$DEFAULT`` and ``$LATEST`` are understood;
* a Package document also tells its ``PlatformTypes`` and files (DescribeDocument's
  ``AttachmentsInformation``, GetDocument's ``AttachmentsContent`` with each file's sha256
  and URL), read from its manifest;
* ListDocumentVersions lists newest first, at most ``MaxResults`` (1-50) per page.

Tags are shown to the document's owner only.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ssm.exceptions import InvalidDocument, InvalidDocumentVersion
from moto.ssm.models import Document, Documents, SimpleSystemManagerBackend, ssm_backends
from moto.ssm.responses import SimpleSystemManagerResponse

from awssim.document_access import file_url, is_own, visible_documents
from awssim.fleet import PLATFORM_NAMES
from awssim.statemanager.paging import page

Response = SimpleSystemManagerResponse
_MISSING = "The specified document does not exist."
_NO_VERSION = "The document version is not valid or does not exist."


def _documents(response: Response) -> Documents:
    found = visible_documents(
        str(response._get_param("Name") or ""), response.current_account, response.region
    )
    if found is None:
        raise InvalidDocument(_MISSING)
    return found


def _version(response: Response, documents: Documents) -> Document:
    """The version DocumentVersion and/or VersionName pick (the default when neither)."""
    number = response._get_param("DocumentVersion")
    name = response._get_param("VersionName")
    if number in (None, "", "$DEFAULT"):
        number = documents.default_version if not name else None
    elif number == "$LATEST":
        number = documents.latest_version
    found = [
        document
        for version, document in documents.versions.items()
        if (number is None or version == number) and (not name or document.version_name == name)
    ]
    if not found:
        raise InvalidDocumentVersion(_NO_VERSION)
    return found[0]


def _tags(response: Response, documents: Documents, name: str) -> list[dict[str, str]]:
    if not is_own(documents, response.current_account):
        return []
    backend: SimpleSystemManagerBackend = ssm_backends[response.current_account][response.region]
    return backend._get_documents_tags(name)


def _manifest(document: Document) -> dict[str, Any]:
    content = document.content_json
    return content if document.document_type == "Package" and isinstance(content, dict) else {}


def _platform_types(manifest: dict[str, Any]) -> list[str]:
    kinds = {PLATFORM_NAMES.get(str(p), ("Linux", ""))[0] for p in manifest.get("packages") or {}}
    return sorted(kinds)


def _files(manifest: dict[str, Any]) -> dict[str, str]:
    """File name -> sha256 of a package manifest."""
    return {
        str(name): str(((entry or {}).get("checksums") or {}).get("sha256", ""))
        for name, entry in (manifest.get("files") or {}).items()
    }


def describe_document(self: Response) -> ActionResult:
    """DescribeDocument by name or ARN, of the default or a chosen version."""
    documents = _documents(self)
    document = _version(self, documents)
    tags = _tags(self, documents, document.name)
    description = documents.describe(document_version=document.document_version, tags=tags)
    manifest = _manifest(document)
    if manifest:
        description["PlatformTypes"] = _platform_types(manifest)
        description["AttachmentsInformation"] = [{"Name": name} for name in _files(manifest)]
    return ActionResult({"Document": description})


def get_document(self: Response) -> ActionResult:
    """GetDocument by name or ARN: the content in the document's format or the one asked."""
    documents = _documents(self)
    document = _version(self, documents)
    document_format = self._get_param("DocumentFormat") or document.document_format
    result: dict[str, Any] = {
        "Name": document.name,
        "CreatedDate": document.created_date,
        "DocumentVersion": document.document_version,
        "Status": document.status,
        "Content": SimpleSystemManagerBackend._get_document_content(document_format, document),
        "DocumentType": document.document_type,
        "DocumentFormat": document_format,
    }
    if document.version_name:
        result["VersionName"] = document.version_name
    if document.requires:
        result["Requires"] = document.requires
    manifest = _manifest(document)
    if manifest:
        result["AttachmentsContent"] = [
            {"Name": name, "Hash": digest, "HashType": "Sha256", "Url": file_url(document, name)}
            for name, digest in _files(manifest).items()
        ]
    return ActionResult(result)


def list_document_versions(self: Response) -> ActionResult:
    """ListDocumentVersions by name or ARN, newest first."""
    documents = _documents(self)
    newest_first = sorted(documents.versions.values(), key=lambda d: -int(d.document_version))
    rows = [
        {
            "Name": document.name,
            "DocumentVersion": document.document_version,
            **({"VersionName": document.version_name} if document.version_name else {}),
            "CreatedDate": document.created_date,
            "IsDefaultVersion": document.document_version == documents.default_version,
            "DocumentFormat": document.document_format,
            "Status": document.status,
        }
        for document in newest_first
    ]
    chunk, token = page(
        rows, "ListDocumentVersions", self._get_param("MaxResults"), self._get_param("NextToken")
    )
    result: dict[str, Any] = {"DocumentVersions": chunk}
    if token:
        result["NextToken"] = token
    return ActionResult(result)


def install() -> None:
    """Serve the three document reads from awssim (idempotent)."""
    Response.describe_document = describe_document  # type: ignore[method-assign]
    Response.get_document = get_document  # type: ignore[method-assign]
    Response.list_document_versions = list_document_versions  # type: ignore[attr-defined]
