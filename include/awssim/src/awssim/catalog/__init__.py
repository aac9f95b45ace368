"""The Distributor packages that exist before any rollout: AWS's own and a vendor's.

* ``aws_owned``: AWS-provided packages (``AmazonCloudWatchAgent``, ``AWSEFSTools``),
  readable by name from every account and Region, ``Owner: Amazon``;
* ``vendor``: a package an account outside the organization shares with every member
  account, by ARN, in each of the org's Regions;
* ``builder``: their files, manifests and documents.

``Catalog.load`` seeds both after each reset of moto's backends.
"""

from __future__ import annotations

from moto.ssm.models import Documents

from awssim.catalog.aws_owned import AWS_OWNER, AWS_PACKAGES, seed_aws_packages
from awssim.catalog.vendor import (
    VENDOR_ACCOUNT,
    VENDOR_PACKAGE,
    seed_vendor_package,
    vendor_document_arn,
)

__all__ = [
    "AWS_OWNER",
    "AWS_PACKAGES",
    "VENDOR_ACCOUNT",
    "VENDOR_PACKAGE",
    "Catalog",
    "vendor_document_arn",
]


class Catalog:
    """The AWS-provided package documents, by name (the same in every Region)."""

    def __init__(self) -> None:
        self._aws_owned: dict[str, Documents] = {}

    def load(self, regions: list[str], accounts: list[str]) -> None:
        """Seed AWS's packages and the vendor's package shared with ``accounts`` in
        ``regions`` (after moto's backends were reset)."""
        self._aws_owned = seed_aws_packages()
        seed_vendor_package(regions, accounts)

    def aws_owned(self, name: str) -> Documents | None:
        """The AWS-provided package document ``name``, if AWS provides one."""
        return self._aws_owned.get(name)
