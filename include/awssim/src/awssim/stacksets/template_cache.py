"""Template parsing, once per template text: moto parses a stack's template with PyYAML's
pure-Python loader each time it creates or updates a stack, and a stack set deploys the
same text to every account/Region. At thousands of instances that parse was most of the
simulator's CPU (``bench/rollout_scale.py``).

``install`` wraps moto's ``Stack.parse_template`` in a cache keyed by the text; each caller
gets its own deep copy, since moto keeps and may change the dict it is given.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from moto.cloudformation.models import Stack

CACHED_TEMPLATES = 64
"""Distinct template texts kept parsed (a rollout holds a few: this release, the last)."""

_moto_parse = Stack.parse_template


@functools.lru_cache(maxsize=CACHED_TEMPLATES)
def _parsed(template: str) -> Any:
    """moto's parse of ``template`` (errors are raised, not cached)."""
    return _moto_parse(template)


def parse_template(template: str) -> Any:
    """``Stack.parse_template``, from the cache: a private copy of the parsed template."""
    if not isinstance(template, str):  # moto's own path for anything else
        return _moto_parse(template)
    return copy.deepcopy(_parsed(template))


def parse_count() -> int:
    """How many times moto has parsed a template through the cache (its misses)."""
    return _parsed.cache_info().misses


def install() -> None:
    """Parse each template text once per process (idempotent)."""
    Stack.parse_template = staticmethod(parse_template)  # type: ignore[method-assign]
