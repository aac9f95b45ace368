"""Data ships inside the package: nothing in it finds files through the repository."""

from __future__ import annotations

import json
import re
from pathlib import Path

import distributor_rollout
from distributor_rollout.resources import iam_policy, template

PACKAGE = Path(distributor_rollout.__file__).resolve().parent


def test_the_template_and_policies_are_package_data() -> None:
    assert "AWS::SSM::Document" in template().read_text(encoding="utf-8")
    for name in ("package-bucket-policy.json", "artifacts-bucket-policy.json"):
        assert json.loads(iam_policy(name).read_text(encoding="utf-8"))["Statement"]


def test_no_module_reaches_into_the_repository() -> None:
    """A path climbing from the module's own file (``parents[N]``, ``__file__``) would break
    an installed distribution; folders come from settings or package data."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if re.search(r"parents\[\d\]|Path\(__file__\)", text):
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []
