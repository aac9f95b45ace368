"""The bad-plan corpus: each file under tests/data/bad_plans is a broken plan whose
``# expect:`` lines are exactly the problems validation must report, in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan_validation import load_plan

CORPUS = Path(__file__).resolve().parent.parent / "data" / "bad_plans"
CASES = sorted(CORPUS.glob("*.yaml"))


def _expected(path: Path) -> list[str]:
    prefix = "# expect: "
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("path", CASES, ids=[case.stem for case in CASES])
def test_broken_plan_reports_exactly_its_problems(path: Path) -> None:
    expected = _expected(path)
    assert expected, f"{path.name} pins no problem"
    with pytest.raises(ValidationError) as raised:
        load_plan(path)
    assert [str(problem) for problem in raised.value.problems] == expected
    report = str(raised.value)
    assert report.startswith(f"{path}: {len(expected)} problem")
    for line in expected:
        assert f"  - {line}" in report
