"""Distributor's version limit on package documents, which moto does not enforce.

A package (an SSM document of type ``Package``) keeps at most 25 versions; one more
``UpdateDocument`` fails with ``DocumentVersionLimitExceeded`` until a non-default version
is deleted. A rollout that publishes a version per run meets this after 25 runs, so the
simulator must refuse as AWS does, through the API and through CloudFormation alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.core.exceptions import ServiceException
from moto.ssm.models import SimpleSystemManagerBackend

MAX_PACKAGE_VERSIONS = 25
_installed = False


class DocumentVersionLimitExceeded(ServiceException):
    """The SSM error for a document with no room for another version."""

    code = "DocumentVersionLimitExceeded"


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


def install() -> None:
    """Patch moto's UpdateDocument (idempotent)."""
    global _installed  # noqa: PLW0603 - one patch per process
    if not _installed:
        SimpleSystemManagerBackend.update_document = _limited(  # type: ignore[method-assign]
            SimpleSystemManagerBackend.update_document
        )
        _installed = True
