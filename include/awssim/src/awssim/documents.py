"""Rules of SSM documents that moto does not enforce.

* *Reserved names.* AWS reserves the name prefixes ``aws``, ``amazon`` and ``amzn`` (any
  case) for its own documents (CreateDocument's ``Name``): ``AmazonCloudWatchAgent`` or
  ``AWSEFSTools`` cannot be created in an account. moto refuses only the lower-case
  ``aws-``, ``amazon`` and ``amzn``; awssim refuses as the API reference says, with moto's
  ``ValidationException: Invalid document name <name>``, through the API and through
  CloudFormation alike.
* *Package versions.* A package (an SSM document of type ``Package``) keeps at most 25
  versions; one more ``UpdateDocument`` fails with ``DocumentVersionLimitExceeded`` until a
  non-default version is deleted. A rollout that publishes a version per run meets this
  after 25 runs, so the simulator must refuse as AWS does.
* *Sharing with everyone.* ModifyDocumentPermission takes ``All`` in any case (the
  model's pattern is ``(?i)all|[0-9]{12}``); moto recognises only ``all``, so awssim
  lower-cases it before moto stores the permission.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.core.exceptions import ServiceException
from moto.ssm.exceptions import ValidationException
from moto.ssm.models import Documents, SimpleSystemManagerBackend

from awssim.document_access import SHARED_WITH_EVERYONE

MAX_PACKAGE_VERSIONS = 25
RESERVED_PREFIXES = ("aws", "amazon", "amzn")
"""Document name prefixes AWS keeps for its own documents (compared in lower case)."""
_installed = False


class DocumentVersionLimitExceeded(ServiceException):
    """The SSM error for a document with no room for another version."""

    code = "DocumentVersionLimitExceeded"


def is_reserved(name: str) -> bool:
    """Whether a document name starts with a prefix AWS reserves."""
    return name.lower().startswith(RESERVED_PREFIXES)


def _unreserved(original: Callable[..., Documents]) -> Callable[..., Documents]:
    def create_document(self: SimpleSystemManagerBackend, **kwargs: Any) -> Documents:
        name = str(kwargs.get("name") or "")
        if is_reserved(name):
            raise ValidationException(f"Invalid document name {name}")
        return original(self, **kwargs)

    return create_document


def _limited(original: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def update_document(self: SimpleSystemManagerBackend, **kwargs: Any) -> dict[str, Any]:
        documents = self._documents.get(kwargs.get("name", ""))
        if documents is not None:
            default = documents.get_default_version()
            if (
                default.document_type == "Package"
                and len(documents.versions) >= MAX_PACKAGE_VERSIONS
            ):
                msg = (
                    f"Document {default.name} already has {len(documents.versions)} versions, "
                    f"the maximum for a package ({MAX_PACKAGE_VERSIONS}); delete a version "
                    "that is not the default first"
                )
                raise DocumentVersionLimitExceeded(msg)
        return original(self, **kwargs)

    return update_document


def _everyone_in_any_case(original: Callable[..., None]) -> Callable[..., None]:
    def modify_document_permission(self: SimpleSystemManagerBackend, **kwargs: Any) -> None:
        for key in ("account_ids_to_add", "account_ids_to_remove"):
            kwargs[key] = [
                SHARED_WITH_EVERYONE if str(entry).lower() == SHARED_WITH_EVERYONE else entry
                for entry in kwargs.get(key) or []
            ]
        original(self, **kwargs)

    return modify_document_permission


def install() -> None:
    """Patch moto's CreateDocument, UpdateDocument and ModifyDocumentPermission (idempotent)."""
    global _installed  # noqa: PLW0603 - one patch per process
    if not _installed:
        backend = SimpleSystemManagerBackend
        backend.create_document = _unreserved(backend.create_document)  # type: ignore[method-assign]
        backend.update_document = _limited(backend.update_document)  # type: ignore[method-assign]
        backend.modify_document_permission = _everyone_in_any_case(  # type: ignore[method-assign]
            backend.modify_document_permission
        )
        _installed = True
