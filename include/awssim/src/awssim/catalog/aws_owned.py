"""Distributor packages AWS provides: readable by name from every account and Region.

AWS owns these documents (``Owner: Amazon``); they are in no account's own list of
documents. Their files sit in a bucket of an account standing for AWS, readable by anyone
(as AWS's public package buckets are), so the simulated agent downloads them like any
package's files.

* ``AmazonCloudWatchAgent``: Linux (x86_64, arm64) and Windows (x86_64) builds.
* ``AWSEFSTools``: Linux only (x86_64, arm64): a Windows node has no file for it and fails
  as the agent fails on a platform the manifest lacks.
"""

from __future__ import annotations

import json

from moto.ssm.models import Documents

from awssim.catalog.builder import PackageSpec, documents, store

AWS_OWNER = "Amazon"
"""What DescribeDocument shows as ``Owner`` of an AWS-provided document."""
AWS_PACKAGES_ACCOUNT = "000000000000"
"""The account standing for AWS that holds the packages' files (in no organization)."""
AWS_PACKAGES_BUCKET = "awssim-aws-distributor-packages"
AWS_PACKAGES_REGION = "us-east-1"

AWS_PACKAGES = (
    PackageSpec(
        name="AmazonCloudWatchAgent",
        publisher="Amazon Web Services",
        versions=("1.300031.1", "1.300032.2"),
        windows=True,
    ),
    PackageSpec(
        name="AWSEFSTools",
        publisher="Amazon Web Services",
        versions=("2.1.0", "2.2.0"),
    ),
)

_PUBLIC_READ = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AnyoneReadsPackageFiles",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{AWS_PACKAGES_BUCKET}/*",
            }
        ],
    }
)


def seed_aws_packages() -> dict[str, Documents]:
    """Store the AWS packages' files and return their documents by name."""
    held = {}
    for spec in AWS_PACKAGES:
        versions = store(
            spec,
            account=AWS_PACKAGES_ACCOUNT,
            bucket=AWS_PACKAGES_BUCKET,
            region=AWS_PACKAGES_REGION,
            policy=_PUBLIC_READ,
        )
        held[spec.name] = documents(spec, AWS_OWNER, versions)
    return held
