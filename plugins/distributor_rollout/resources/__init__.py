"""Data the product ships inside its package: the StackSet template and the IAM policies.

Read through ``importlib.resources``, so the code finds them wherever the distribution is
installed, never through the repository's folders. ``iam/README.md`` explains each policy
and how to apply it.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

TEMPLATE_NAME = "distributor-package.yaml"


def resource(*parts: str) -> Traversable:
    """A file shipped in this package (``resource("iam", "package-bucket-policy.json")``)."""
    return files(__name__).joinpath(*parts)


def template() -> Traversable:
    """The StackSet template every rollout renders (``distributor-package.yaml``)."""
    return resource(TEMPLATE_NAME)


def iam_policy(name: str) -> Traversable:
    """One IAM policy document of ``iam/`` (e.g. ``package-bucket-policy.json``)."""
    return resource("iam", name)
