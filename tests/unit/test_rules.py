"""Format rules agree with botocore's service-model patterns and say what is wrong."""

from __future__ import annotations

import re

import botocore.session
import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core import rules


def _pattern(service: str, shape: str) -> str:
    model = botocore.session.get_session().get_service_model(service)
    return str(model.shape_for(shape).metadata["pattern"])


def _from_botocore(service: str, shape: str) -> st.SearchStrategy[str]:
    # botocore patterns are Java-flavoured but, for these shapes, valid Python regexes too.
    return st.from_regex(_pattern(service, shape), fullmatch=True)


@given(_from_botocore("ssm", "AssociationName"))
def test_association_names_botocore_accepts_are_accepted(value: str) -> None:
    assert rules.association_name(value) is None


@given(_from_botocore("ssm", "DocumentVersionName"))
def test_versions_botocore_accepts_are_accepted(value: str) -> None:
    assert rules.version(value) is None


@given(_from_botocore("cloudformation", "OrganizationalUnitId"))
def test_ou_ids_botocore_accepts_are_accepted(value: str) -> None:
    assert rules.ou_ref(value) is None


@given(_from_botocore("cloudformation", "Account"))
def test_account_ids_botocore_accepts_are_accepted(value: str) -> None:
    assert rules.account_id(value) is None


@given(_from_botocore("ssm", "MaxConcurrency"))
def test_max_concurrency_botocore_accepts_is_accepted(value: str) -> None:
    assert rules.max_concurrency(value) is None


@given(_from_botocore("ssm", "MaxErrors"))
def test_max_errors_botocore_accepts_are_accepted(value: str) -> None:
    assert rules.max_errors(value) is None


@given(st.text(min_size=1, max_size=140))
def test_package_names_are_a_subset_of_document_names(value: str) -> None:
    if rules.package_name(value) is None:
        assert re.fullmatch(_pattern("ssm", "DocumentName"), value)
        assert not value.lower().startswith(("aws", "amazon", "amzn"))


@pytest.mark.parametrize(
    ("rule", "value", "fragment"),
    [
        (rules.package_name, "amzn-agent", "reserves"),
        (rules.ou_ref, "/Prod//EU", "not a valid OU path"),
        (rules.ou_ref, "ou-1", "not an organizational unit id or path"),
        (rules.account_id, "12345678901", "not an AWS account id"),
        (rules.region, "us-east-7", "not an AWS Region"),
        (rules.stack_set_name, "1stack", "not a valid stack set name"),
        (rules.sns_topic_arn, "arn:aws:sns:us-east-1:1:x", "not an SNS topic ARN"),
        (rules.iam_role_name, "role/with/slash", "not a valid IAM role name"),
        (rules.s3_prefix, "/lead", "not a valid S3 folder"),
        (rules.tag_key, "aws:cloudformation", "reserved"),
        (rules.tag_value, "", "not a valid tag value"),
        (rules.plan_name, "Upper", "not a valid plan name"),
        (rules.wave_name, "-dash", "not a valid wave name"),
        (rules.plan_name, "agent__retire", "ends like a retire DAG id"),
        (rules.wave_name, "report", "reserved for the rollout's and the retire's own steps"),
        (rules.wave_name, "rollback", "reserved for the rollout's and the retire's own steps"),
        (rules.wave_name, "rollback_eu", "reserved for the rollout's and the retire's own steps"),
        # Every plan has a retire DAG too: its steps outside the waves are taken as well.
        (rules.wave_name, "delete_stack_set", "reserved for the rollout's and the retire's"),
        (rules.wave_name, "delete_buckets", "reserved for the rollout's and the retire's"),
        (rules.wave_name, "approve", "reserved for the rollout's and the retire's"),
        (rules.bucket_pattern, "bucket-{account_id}", "'{region}'"),
        (rules.bucket_template, "b-{region}-{x}", "unknown placeholder"),
        (rules.bucket_template, "Upper-{region}", "not a valid S3 bucket name"),
        (rules.bucket_name, "10.0.0.1", "IP address"),
        (rules.bucket_name, "a..b", "not a valid S3 bucket name"),
    ],
)
def test_rule_messages(rule: rules.Rule, value: str, fragment: str) -> None:
    problem = rule(value)
    assert problem is not None
    assert fragment in problem
    assert f"(got {value!r}; expected " in problem


@pytest.mark.parametrize("path", ["/", "/Prod", "/Prod/EU", "/Prod/EU West"])
def test_ou_paths(path: str) -> None:
    assert rules.ou_ref(path) is None


def test_bucket_pattern_checks_the_longest_names() -> None:
    # 63 characters is the limit: a pattern that fits only short Regions is refused.
    prefix = "p" * (63 - len("-123456789012-us-east-1"))
    assert rules.bucket_name(f"{prefix}-123456789012-us-east-1") is None
    assert rules.bucket_pattern(prefix + "-{account_id}-{region}") is not None
    assert (
        rules.fill_bucket_pattern("b-{account_id}-{region}", account_id="1", region="r") == "b-1-r"
    )
