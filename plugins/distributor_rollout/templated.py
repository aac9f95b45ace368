"""Arguments as Jinja left them: a list may arrive rendered to text."""

from __future__ import annotations

import ast
import json
from typing import Any


def rendered_list(value: Any) -> list[Any] | None:
    """A list argument as given, or as a template rendered it (JSON or a Python literal,
    depending on how it was written; both are plain data); None when it is neither."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return None
    return list(value) if isinstance(value, list | tuple) else None
