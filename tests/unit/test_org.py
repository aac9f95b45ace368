"""Organization snapshots: reading, checking and navigating."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.org import Organization


def test_example_snapshot_round_trips(example_org_path: Path) -> None:
    data = json.loads(example_org_path.read_text())
    org = Organization.from_dict(data)
    assert Organization.from_dict(org.to_dict()) == org
    eu = org.id_by_path["/Prod/EU"]
    assert org.path_of(eu) == "/Prod/EU"
    assert org.id_by_path["/"] == org.root_id
    prod = org.id_by_path["/Prod"]
    assert set(org.subtree(prod)) == {prod, eu}


def test_every_snapshot_problem_is_reported() -> None:
    data = {
        "root_id": "r-ab12",
        "management_account_id": "1",
        "organizational_units": [
            {"id": "ou-ab12-aaaaaaaa", "name": "A", "parent_id": "ou-ab12-bbbbbbbb"},
            {"id": "ou-ab12-bbbbbbbb", "name": "B", "parent_id": "ou-ab12-aaaaaaaa"},
            {"id": "bad", "name": "C", "parent_id": "r-ab12"},
        ],
        "accounts": [
            {"id": "123456789012", "name": "x", "parent_id": "ou-nope-nopenope"},
            {"id": "123456789013", "name": "y", "parent_id": "r-ab12", "status": "GONE"},
            {"id": "123456789014"},
        ],
    }
    with pytest.raises(ValidationError) as raised:
        Organization.from_dict(data)
    paths = [p.path for p in raised.value.problems]
    assert paths == [
        "management_account_id",
        "organizational_units[2].id",
        "organizational_units[ou-ab12-aaaaaaaa]",
        "organizational_units[ou-ab12-bbbbbbbb]",
        "accounts[0].parent_id",
        "accounts[1].status",
        "accounts[2]",
    ]
    assert "parent cycle" in raised.value.problems[2].message


def test_not_a_mapping() -> None:
    with pytest.raises(ValidationError, match="not an organization"):
        Organization.from_dict([])
