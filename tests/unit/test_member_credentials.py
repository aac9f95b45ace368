"""hooks.member_access.MemberCredentials never shows its secrets."""

from __future__ import annotations

from datetime import UTC, datetime

from distributor_rollout.hooks.member_access import MemberCredentials

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN=="


def credentials() -> MemberCredentials:
    """Credentials as AssumeRole returns them."""
    return MemberCredentials.from_sts(
        {
            "AccessKeyId": "ASIAEXAMPLEKEYID",
            "SecretAccessKey": SECRET,
            "SessionToken": TOKEN,
            "Expiration": datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
        }
    )


def test_repr_and_str_hold_no_secret() -> None:
    creds = credentials()
    for text in (repr(creds), str(creds), f"{creds}", repr({"role": creds}), repr([creds])):
        assert SECRET not in text
        assert TOKEN not in text
    assert "ASIAEXAMPLEKEYID" in repr(creds)
    assert "expires_at" in repr(creds)


def test_the_secrets_are_still_there_to_sign_with() -> None:
    creds = credentials()
    assert creds.client_kwargs()["aws_secret_access_key"] == SECRET
    assert creds.signing.token == TOKEN
