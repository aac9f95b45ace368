"""The SSM errors State Manager answers with; each code is an error shape of SSM's model.

moto serializes a ``ServiceException`` by its ``code``; a code the SSM model lacks would
make moto warn, so every class here names a modeled shape.
"""

from __future__ import annotations

from moto.core.exceptions import ServiceException


class SsmError(ServiceException):
    """Base class: an SSM error with a modeled code."""


class AssociationDoesNotExist(SsmError):
    """No association with that id (or name and instance) in the caller's account/Region."""

    code = "AssociationDoesNotExist"


class AssociationAlreadyExists(SsmError):
    """An association with the same name (or document and instance) already exists."""

    code = "AssociationAlreadyExists"


class AssociationExecutionDoesNotExist(SsmError):
    """No execution with that id for the association."""

    code = "AssociationExecutionDoesNotExist"


class AssociationLimitExceeded(SsmError):
    """The account/Region already has the maximum number of associations."""

    code = "AssociationLimitExceeded"


class AssociationVersionLimitExceeded(SsmError):
    """The association already has the maximum number of versions."""

    code = "AssociationVersionLimitExceeded"


class InvalidAssociationVersion(SsmError):
    """The association version does not exist (or is not the latest, on update)."""

    code = "InvalidAssociationVersion"


class InvalidDocument(SsmError):
    """The document does not exist in the caller's account/Region."""

    code = "InvalidDocument"


class InvalidDocumentVersion(SsmError):
    """The document version is not valid or does not exist."""

    code = "InvalidDocumentVersion"


class InvalidParameters(SsmError):
    """The parameters do not fit the document."""

    code = "InvalidParameters"


class InvalidSchedule(SsmError):
    """The schedule expression is not valid for an association."""

    code = "InvalidSchedule"


class InvalidTarget(SsmError):
    """The targets are not valid."""

    code = "InvalidTarget"


class InvalidOutputLocation(SsmError):
    """The output location is not valid."""

    code = "InvalidOutputLocation"


class InvalidNextToken(SsmError):
    """The pagination token was not issued by this call."""

    code = "InvalidNextToken"
    message = "The specified token isn't valid."


class InvalidFilter(SsmError):
    """A compliance filter with an unsupported key or operator."""

    code = "InvalidFilter"


class InvalidFilterKey(SsmError):
    """An instance information filter with an unsupported key."""

    code = "InvalidFilterKey"


class InvalidInstanceInformationFilterValue(SsmError):
    """An instance information filter with an empty or invalid value."""

    code = "InvalidInstanceInformationFilterValue"


class ValidationException(SsmError):
    """A request that fails a constraint of the API (e.g. MaxResults out of range)."""

    code = "ValidationException"
