"""A release survives its XCom round trip."""

from __future__ import annotations

from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.release import Release


def test_release_round_trips_through_its_dict() -> None:
    release = Release(
        stack_set_name="distributor-examplepackage",
        call_as="DELEGATED_ADMIN",
        region="us-east-1",
        template=TemplateRef("https://b.s3.us-east-1.amazonaws.com/t/abc.yaml", {"Version": "2"}),
        previous=TemplateRef("https://b.s3.us-east-1.amazonaws.com/t/def.yaml", {"Version": "1"}),
        created=False,
    )
    assert Release.from_dict(release.to_dict()) == release
    first = Release("s", "SELF", "eu-west-1", release.template, None, created=True)
    assert Release.from_dict(first.to_dict()) == first
