"""Arguments as Jinja left them: a list may arrive rendered to text."""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Any


def rendered_value(value: Any) -> Any:
    """An argument as given, or the plain data a template rendered to text (JSON or a
    Python literal, depending on how it was written); text that is neither stays text.
    Empty text and the text ``None``/``null`` (a missing XCom) are None."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text in ("", "None", "null"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return value


def rendered_list(value: Any) -> list[Any] | None:
    """A list argument as given or rendered; None when it is not a list."""
    value = rendered_value(value)
    return list(value) if isinstance(value, list | tuple) else None


def rendered_mapping(value: Any) -> Mapping[str, Any] | None:
    """A mapping argument as given or rendered; None for None; ``TypeError`` (naming what
    arrived) for anything else, which the caller turns into its own error."""
    value = rendered_value(value)
    if value is None or isinstance(value, Mapping):
        return value
    raise TypeError(f"not a mapping: {value!r}")
