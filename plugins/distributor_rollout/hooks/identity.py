"""Who the rollout runs as: the caller's account and its organization."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from distributor_rollout.hooks.errors import ConfigurationError
from distributor_rollout.hooks.retries import RetryingAwsHook


class AccountIdentityHook(RetryingAwsHook):
    """The caller's account id (STS) and organization id (Organizations).

    Package bucket names hold the publishing account's id, and the bucket policy lets that
    account's organization read; both come from the connection's credentials, never from
    the plan, so a plan can move between accounts unchanged. Extra arguments
    (``aws_conn_id``, ``region_name``...) go to ``AwsBaseHook``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "organizations"
        super().__init__(*args, **kwargs)

    def caller_account_id(self) -> str:
        """``sts:GetCallerIdentity``: the 12-digit id of the account the connection acts as."""
        return str(self.account_id)

    def caller_arn(self) -> str:
        """``sts:GetCallerIdentity``: the ARN the connection acts as (for a role, its
        session's ARN; ``core.principals.runner_principal_arn`` gives the role's)."""
        sts = self.get_session(region_name=self.region_name).client(
            "sts",
            endpoint_url=self.conn_config.get_service_endpoint_url("sts"),
            config=self.config,
            verify=self.verify,
        )
        return str(sts.get_caller_identity()["Arn"])

    def organization_id(self) -> str:
        """``DescribeOrganization``: the id (``o-...``) of the caller's organization."""
        try:
            response = self.conn.describe_organization()
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code == "AWSOrganizationsNotInUseException":
                raise ConfigurationError(
                    f"account {self.caller_account_id()} is not in an AWS Organization: "
                    "Distributor Rollout runs from the organization's StackSets delegated "
                    "administrator account"
                ) from error
            raise
        return str(response["Organization"]["Id"])
