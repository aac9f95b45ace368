"""What parsing a plan's DAG file does beyond building its DAGs (bench/dag_parse.py times it).

- The dag-processor pre-imports, in its own process, the ``airflow.*`` modules a DAG file
  names, then forks a child per file: a thin file names every Airflow module the plugin's
  DAGs import, so a child imports none of them again.
- A thin file builds two DAGs from one plan: the plan is parsed and validated once, and
  again only when the file changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from distributor_rollout.core import plan_validation
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.dag_factory import dag_plan, rollout_dag
from distributor_rollout.retire_factory import retire_dag

REPO = Path(__file__).resolve().parents[2]
THIN_FILES = sorted((REPO / "dags").glob("rollout_*.py"))
# A fresh interpreter does what the dag-processor does before it forks the child for a
# file (Airflow's own pre-import), then imports the file and lists what that imported.
PARSE_AFTER_PRE_IMPORT = """
import importlib, importlib.util, json, sys
from airflow.dag_processing import processor
from airflow.utils.file import iter_airflow_imports
for name in iter_airflow_imports(sys.argv[1]):
    importlib.import_module(name)
before = set(sys.modules)
spec = importlib.util.spec_from_file_location("thin_dag_file", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize("thin_file", THIN_FILES, ids=lambda path: path.name)
def test_a_thin_file_names_every_airflow_module_its_dags_import(thin_file: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PARSE_AFTER_PRE_IMPORT, str(thin_file)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    imported = json.loads(probe.stdout.strip().splitlines()[-1])
    airflow_modules = [name for name in imported if name.split(".")[0] == "airflow"]
    assert airflow_modules == [], (
        f"{thin_file.name}'s child would import these again for every plan; name the "
        "modules that bring them in at the top of the thin file"
    )
    sdk = [name for name in imported if name.split(".")[0] in {"boto3", "botocore"}]
    assert sdk == []  # the amazon provider's base classes brought them in
    # Only the triggerer needs the async SDK: a parse imports neither it nor aiohttp.
    asynchronous = [name for name in imported if name.split(".")[0] in {"aiobotocore", "aiohttp"}]
    assert asynchronous == []


def test_a_plan_is_parsed_once_for_its_two_dags(
    tmp_path: Path, example_plan_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = yaml.safe_load(example_plan_path.read_text())
    data["name"] = "parsed-once"
    data["package"]["source"] = str(REPO / "include" / "packages" / "examplepackage")
    plan_file = tmp_path / "parsed-once.yaml"
    plan_file.write_text(yaml.safe_dump(data))
    parsed: list[str] = []
    parse = plan_validation.parse_plan

    def counting(data: bytes, subject: str) -> object:
        parsed.append(subject)
        return parse(data, subject)

    monkeypatch.setattr("distributor_rollout.dag_factory.parse_plan", counting)
    rollout_dag("parsed-once", plans_dir=tmp_path)
    retire_dag("parsed-once", plans_dir=tmp_path)
    assert parsed == [str(plan_file)]

    data["description"] = "Edited after the first parse."
    plan_file.write_text(yaml.safe_dump(data))
    dag = rollout_dag("parsed-once", plans_dir=tmp_path)
    assert dag.description == "Edited after the first parse."
    assert parsed == [str(plan_file)] * 2


def test_a_cached_plan_still_checks_its_source_folder(
    tmp_path: Path, example_plan_path: Path
) -> None:
    source = tmp_path / "package"
    source.mkdir()
    data = yaml.safe_load(example_plan_path.read_text())
    data["package"]["source"] = "package"  # relative to the plan file's folder
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(data))
    assert dag_plan(plan_file).package.source == str(source)
    source.rmdir()
    with pytest.raises(ValidationError, match="not an existing folder"):
        dag_plan(plan_file)
