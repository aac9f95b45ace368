"""Which SSM documents a caller can read: its own, AWS's, and those shared with it by ARN.

moto reads a caller's own documents only, by name. AWS also answers for

* AWS-provided documents (``AmazonCloudWatchAgent``...), by name, from every account and
  Region; the caller's own document of the same name would win, but AWS reserves those
  names (see ``awssim.documents``);
* a document another account shared with the caller (ModifyDocumentPermission with the
  caller's account id or ``All``), by its ARN ``arn:aws:ssm:<region>:<owner>:document/<name>``,
  from the Region it lives in only: SSM documents are regional.

The caller's own document may be named by its ARN too. Anything else does not exist for
the caller (InvalidDocument), shared with someone else or not.
"""

from __future__ import annotations

import re

from moto.ssm.models import Document, Documents, ssm_backends

from awssim import runtime

_DOCUMENT_ARN = re.compile(
    r"^arn:aws[a-z-]*:ssm:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):document/"
    r"(?P<name>[a-zA-Z0-9_\-.]{3,128})$"
)
SHARED_WITH_EVERYONE = "all"
"""How a document shared with ``All`` lists its account (AWS takes any case)."""


def document_name(reference: str) -> str:
    """The document name a reference (a name or a document ARN) names."""
    match = _DOCUMENT_ARN.match(reference)
    return match["name"] if match else reference


def visible_documents(reference: str, account: str, region: str) -> Documents | None:
    """The document (all its versions) ``reference`` names for ``account`` in ``region``,
    or None when it does not exist for that caller."""
    match = _DOCUMENT_ARN.match(reference)
    if match is None:
        own = held_documents(account, region, reference)
        return own if own is not None else runtime.current().catalog.aws_owned(reference)
    owner, home, name = match["account"], match["region"], match["name"]
    if home != region:
        return None
    documents = held_documents(owner, region, name)
    if documents is None or (owner != account and not shared_with(documents, account)):
        return None
    return documents


def held_documents(owner: str, region: str, name: str) -> Documents | None:
    """The document ``name`` that ``owner`` holds in ``region``, if any."""
    if owner not in ssm_backends or region not in ssm_backends[owner]:
        return None
    return ssm_backends[owner][region]._documents.get(name)


def shared_with(documents: Documents, account: str) -> bool:
    """Whether the owner shared the document with ``account`` (by id, or with everyone)."""
    shared = {str(entry).lower() for entry in documents.permissions}
    return SHARED_WITH_EVERYONE in shared or account in shared


def is_own(documents: Documents, account: str) -> bool:
    """Whether ``account`` owns the document."""
    return str(documents.get_default_version().owner) == account


def file_url(document: Document, file_name: str) -> str | None:
    """Where a package file is, from the document's attachments: the ``SourceUrl`` folder
    joined with the name, or the ``S3FileUrl`` ending with it (None: no such attachment)."""
    for attachment in document.attachments or []:
        values = attachment.get("Values") or []
        if attachment.get("Key") == "SourceUrl" and values:
            return f"{str(values[0]).rstrip('/')}/{file_name}"
        if attachment.get("Key") == "S3FileUrl" and values:
            for value in values:
                if str(value).rsplit("/", 1)[-1] == file_name:
                    return str(value)
    return None
