"""How an ``UpdateStackSet`` names a template and parameters the stack set already holds.

The API reference (UpdateStackSet, ``Regions``): "If the stack set update includes changes
to the template (that is, if the TemplateBody or TemplateURL properties are specified), or
the Parameters property, CloudFormation marks all stack instances with a status of
OUTDATED prior to updating the stack instances in the specified accounts and AWS Regions.
If the stack set update does not include changes to the template or parameters,
CloudFormation updates the stack instances in the specified accounts and AWS Regions,
while leaving all other stack instances with their existing stack instance status."

So a staged update that repeats the held template and values by name would leave every
instance it does not target OUTDATED (an earlier wave's, or one an earlier restore put
back). Once the stack set holds them, a call names them by ``UsePreviousTemplate`` and
``UsePreviousValue`` instead: the same content, and the other instances keep their status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TEMPLATE_KEYS = frozenset({"TemplateURL", "TemplateBody"})


def keeping_held_template(request: Mapping[str, Any]) -> dict[str, Any]:
    """``request`` (an ``UpdateStackSet`` naming its template by ``TemplateURL`` or
    ``TemplateBody`` and its ``Parameters`` by value) for a stack set that already holds
    that template and those values: ``UsePreviousTemplate`` and, for each parameter it
    names, ``UsePreviousValue`` (parameters it leaves out take their defaults either way)."""
    kept = {key: value for key, value in request.items() if key not in TEMPLATE_KEYS}
    kept["UsePreviousTemplate"] = True
    kept["Parameters"] = [
        {"ParameterKey": item["ParameterKey"], "UsePreviousValue": True}
        for item in request.get("Parameters") or []
    ]
    return kept
