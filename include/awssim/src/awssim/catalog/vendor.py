"""A vendor's package shared with the organization by ARN, in every Region of the org.

An account outside the organization (``VENDOR_ACCOUNT``) owns the Package document
``VENDOR_PACKAGE`` in each of the org's Regions and shares it, with
ModifyDocumentPermission, with every account of the organization. A member reads it, and
its nodes install it, by ``arn:aws:ssm:<region>:<VENDOR_ACCOUNT>:document/<VENDOR_PACKAGE>``
in the same Region; the files sit in the vendor's own bucket, which Distributor reads as
the document's owner.
"""

from __future__ import annotations

from moto.ssm.models import ssm_backends

from awssim.catalog.builder import PackageSpec, documents, store

VENDOR_ACCOUNT = "444455556666"
VENDOR_PACKAGE = "ExampleVendorAgent"
VENDOR_BUCKET = f"awssim-vendor-packages-{VENDOR_ACCOUNT}"
VENDOR_BUCKET_REGION = "us-east-1"

VENDOR_SPEC = PackageSpec(
    name=VENDOR_PACKAGE,
    publisher="Example Vendor",
    versions=("3.1.0", "3.2.0"),
    windows=True,
)


def vendor_document_arn(region: str) -> str:
    """The ARN members name the vendor's package by in ``region``."""
    return f"arn:aws:ssm:{region}:{VENDOR_ACCOUNT}:document/{VENDOR_PACKAGE}"


def seed_vendor_package(regions: list[str], accounts: list[str]) -> None:
    """Create the vendor's package in each of ``regions`` and share it with ``accounts``."""
    versions = store(
        VENDOR_SPEC, account=VENDOR_ACCOUNT, bucket=VENDOR_BUCKET, region=VENDOR_BUCKET_REGION
    )
    for region in regions:
        held = documents(VENDOR_SPEC, VENDOR_ACCOUNT, versions)
        held.modify_permissions(sorted(accounts), [], "$DEFAULT")
        ssm_backends[VENDOR_ACCOUNT][region]._documents[VENDOR_PACKAGE] = held
