"""CloudFormation resources for State Manager and Distributor in moto's template engine.

* ``AWS::SSM::Association``: create is CreateAssociation in the stack's account and Region;
  an update is a new association version (in place); delete is DeleteAssociation, which,
  as in AWS, uninstalls nothing. Ref and ``GetAtt AssociationId`` are the association id.
* ``AWS::SSM::Document`` with ``UpdateMethod: NewVersion``: an update adds a document
  version with the new Content, VersionName and Attachments and makes it the default, so
  older versions stay installable; a VersionName the document already has fails with
  DuplicateDocumentVersionName. Without it (or with ``Replace``) moto replaces the document.
"""

from __future__ import annotations

import json
from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
from moto.core.common_models import CloudFormationModel
from moto.ssm.models import Document, ssm_backends

from awssim import runtime
from awssim.statemanager.errors import AssociationDoesNotExist, SsmError
from awssim.statemanager.settings import FIELDS

_original_document_update = Document.update_from_cloudformation_json


def _request(properties: dict[str, Any]) -> dict[str, Any]:
    """CreateAssociation members from the resource's properties (same names, looser types)."""
    request = {key: properties[key] for key in FIELDS if properties.get(key) is not None}
    for key in ("MaxConcurrency", "MaxErrors"):
        if key in request:
            request[key] = str(request[key])
    for key in ("ScheduleOffset", "Duration"):
        if key in request:
            request[key] = int(request[key])
    return request


def _handler_error(error: SsmError) -> ValidationError:
    """A resource handler failure as CloudFormation reports it."""
    return ValidationError(
        message=(
            f'Resource handler returned message: "{error.code}: {error.message} '
            f'(Service: Ssm, Status Code: 400)" (HandlerErrorCode: InvalidRequest)'
        )
    )


class SsmAssociation(CloudFormationModel):
    """An ``AWS::SSM::Association`` of a stack: a handle on a State Manager association."""

    def __init__(self, association_id: str, account_id: str, region_name: str) -> None:
        self.association_id = association_id
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_name_type() -> str:
        """The resource has no name property that CloudFormation generates."""
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        """The CloudFormation type this model implements."""
        return "AWS::SSM::Association"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        """GetAtt supports AssociationId only."""
        return attr == "AssociationId"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        """The association id for ``GetAtt AssociationId``."""
        if attribute_name == "AssociationId":
            return self.association_id
        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        """Ref: the association id."""
        return self.association_id

    def is_created(self) -> bool:
        """Created as soon as CreateAssociation returns (the stack does not wait on nodes)."""
        return True

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SsmAssociation:
        """CreateAssociation from the resource's properties."""
        request = _request(cloudformation_json.get("Properties") or {})
        try:
            association = runtime.current().statemanager.create(account_id, region_name, request)
        except SsmError as error:
            raise _handler_error(error) from None
        return cls(association.id, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: SsmAssociation,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> SsmAssociation:
        """A new association version holding exactly the template's properties."""
        request = _request(cloudformation_json.get("Properties") or {})
        # Every member is sent: a property removed from the template goes back to its default.
        changes = {key: request.get(key) for key in FIELDS}
        try:
            runtime.current().statemanager.update(
                account_id, region_name, original_resource.association_id, changes
            )
        except SsmError as error:
            raise _handler_error(error) from None
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        """DeleteAssociation (an association already gone is fine)."""
        manager = runtime.current().statemanager
        try:
            manager.delete(manager.get(account_id, region_name, resource_name))
        except AssociationDoesNotExist:
            return

    def delete(self, account_id: str, region_name: str) -> None:
        """Delete with the stack."""
        self.delete_from_cloudformation_json(self.association_id, {}, account_id, region_name)


def _document_update(  # noqa: PLR0917 - moto's classmethod signature
    cls: type[Document],
    original_resource: Document,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> Document:
    properties = cloudformation_json.get("Properties") or {}
    name = properties.get("Name") or original_resource.name
    if properties.get("UpdateMethod") != "NewVersion" or name != original_resource.name:
        return _original_document_update(
            original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )
    backend = ssm_backends[account_id][region_name]
    content = properties.get("Content")
    document = backend.update_document(
        content=content if isinstance(content, str) else json.dumps(content),
        attachments=properties.get("Attachments") or [],
        name=name,
        version_name=properties.get("VersionName") or "",
        document_version="$LATEST",
        document_format=properties.get("DocumentFormat") or "JSON",
        target_type=properties.get("TargetType") or "",
    )
    backend.update_document_default_version(name=name, document_version=document["DocumentVersion"])
    return backend._documents[name].get_default_version()


def install_resources() -> None:
    """Register AWS::SSM::Association and NewVersion document updates with moto (idempotent)."""
    parsing.get_model_map()[SsmAssociation.cloudformation_type()] = SsmAssociation
    Document.update_from_cloudformation_json = classmethod(_document_update)  # type: ignore[method-assign,assignment]
