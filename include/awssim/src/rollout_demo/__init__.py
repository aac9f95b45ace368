"""The embedded demo (``make demo``) and its general form, the rehearsal of any plan against any
awssim organization and scenario (``make rehearse``), the UI launcher (``make ui``) and the
rehearsal runner the e2e tests share."""

from __future__ import annotations

import json

REGION = "us-east-1"


def aws_connection(endpoint_url: str) -> str:
    """An Airflow AWS connection (JSON) acting as the delegated administrator against
    awssim at ``endpoint_url``. awssim takes any key (an unknown one acts as the delegated
    administrator); without one, boto3 would go looking for real credentials."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": "awssim-admin",
            "password": "awssim",
            "extra": {"endpoint_url": endpoint_url, "region_name": REGION},
        }
    )
