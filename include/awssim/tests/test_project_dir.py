"""The developer tools find the project they run from the environment or the working folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout_demo.project import PROJECT_ENV, ProjectNotFound, project_dir


def make_project(root: Path) -> Path:
    (root / "dags").mkdir(parents=True)
    (root / "include" / "rollouts").mkdir(parents=True)
    return root


def test_found_at_or_above_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PROJECT_ENV, raising=False)
    project = make_project(tmp_path / "repo")
    deep = project / "include" / "rollouts"
    assert project_dir(deep) == project.resolve()
    assert project_dir(project) == project.resolve()


def test_the_environment_names_it_and_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path / "elsewhere")
    monkeypatch.setenv(PROJECT_ENV, str(project))
    assert project_dir(tmp_path) == project.resolve()
    monkeypatch.setenv(PROJECT_ENV, str(tmp_path))
    with pytest.raises(ProjectNotFound, match=PROJECT_ENV):
        project_dir()


def test_no_project_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROJECT_ENV, raising=False)
    with pytest.raises(ProjectNotFound, match=r"dags/ and include/rollouts/"):
        project_dir(tmp_path)
