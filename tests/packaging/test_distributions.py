"""The two distributions, built as wheels and installed into fresh virtual environments.

A deployment installs ``requirements.txt`` (the runtime lock) and the ``distributor-rollout``
wheel: that environment must run the product (package data, CLI, the Airflow plugin, DAGs
with plans kept outside any repository) and must not hold the simulator. The ``awssim``
wheel installs on its own and serves. The environments are built with uv from the locks,
without resolving (``--no-deps``) where a lock is complete; uv's cache makes later runs fast.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The interpreter this venv was made from: a fresh venv must not see this one's packages.
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)
SIMULATOR_DISTRIBUTIONS = ("moto", "awssim", "flask", "werkzeug", "docker", "responses")


def run(*command: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``command`` and return it; a non-zero exit fails with its output."""
    result = subprocess.run(  # noqa: PLW1510 - checked below, with the output in the message
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=900,
        **kwargs,  # type: ignore[call-overload]
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


def fresh_venv(path: Path) -> Path:
    """A new, empty virtual environment at ``path``; its python."""
    run(BIN / "uv", "venv", "--quiet", "--python", BASE_PYTHON, path)
    return path / "bin" / "python"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both wheels, built by the locked build backend (hatchling, from requirements-dev.txt)."""
    out = tmp_path_factory.mktemp("wheels")
    run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--wheel-dir", out, REPO, REPO / "include" / "awssim",
    )  # fmt: skip
    built = {re.split(r"-\d", wheel.name, maxsplit=1)[0]: wheel for wheel in out.glob("*.whl")}
    assert set(built) == {"distributor_rollout", "awssim"}, built
    return built


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> Path:
    """The python of a deployment's environment: the runtime lock and the product's wheel."""
    python = fresh_venv(tmp_path_factory.mktemp("production") / "venv")
    run(
        BIN / "uv", "pip", "install", "--quiet", "--python", python, "--no-deps",
        "-r", REPO / "requirements.txt", wheels["distributor_rollout"],
    )  # fmt: skip
    run(BIN / "uv", "pip", "check", "--python", python)
    return python


def probe(python: Path, code: str, **env: str) -> dict[str, object]:
    """Run ``code`` in ``python`` outside the repository; the JSON it prints last."""
    result = run(python, "-c", code, cwd=python.parents[2], env={**clean_env(), **env})
    return json.loads(result.stdout.strip().splitlines()[-1])


def clean_env() -> dict[str, str]:
    """This environment without what would let a child see this repository's code."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV"} and not key.startswith("AIRFLOW")
    }


def test_the_runtime_lock_holds_no_simulator() -> None:
    locked = {
        line.split("==", 1)[0].strip().lower()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert locked, "requirements.txt lists no pins"
    assert locked.isdisjoint(SIMULATOR_DISTRIBUTIONS), locked & set(SIMULATOR_DISTRIBUTIONS)


def test_the_production_environment_cannot_import_the_simulator(production: Path) -> None:
    seen = probe(
        production,
        "import importlib.util, json;"
        "print(json.dumps({m: importlib.util.find_spec(m) is not None"
        " for m in ['distributor_rollout', 'airflow', 'awssim', 'rollout_demo', 'moto']}))",
    )
    assert seen == {
        "distributor_rollout": True,
        "airflow": True,
        "awssim": False,
        "rollout_demo": False,
        "moto": False,
    }
    failed = subprocess.run(
        [str(production), "-c", "import awssim"],
        capture_output=True,
        text=True,
        cwd=production.parents[2],
        env=clean_env(),
        check=False,
    )
    assert failed.returncode != 0
    assert "No module named 'awssim'" in failed.stderr


def test_the_installed_product_carries_its_data_and_cli(production: Path) -> None:
    seen = probe(
        production,
        "import hashlib, json;"
        "from importlib import resources;"
        "from distributor_rollout.resources import template, iam_policy;"
        "print(json.dumps({'template': hashlib.sha256(template().read_bytes()).hexdigest(),"
        " 'policy': json.loads(iam_policy('rollout-runner-policy.json').read_text())['Version'],"
        " 'ui': sorted(p.name for d in ('static', 'templates')"
        " for p in (resources.files('distributor_rollout.ui') / d).iterdir()),"
        " 'where': str(template())}))",
    )
    shipped = REPO / "plugins" / "distributor_rollout" / "resources" / "distributor-package.yaml"
    import hashlib  # noqa: PLC0415

    assert seen["template"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert seen["policy"] == "2012-10-17"
    # The Rollout tab's pages and assets ship in the wheel (the API server serves them).
    shipped_ui = REPO / "plugins" / "distributor_rollout" / "ui"
    assert seen["ui"] == sorted(
        path.name for folder in ("static", "templates") for path in (shipped_ui / folder).iterdir()
    )
    assert str(REPO) not in str(seen["where"]), "read from the installed wheel, not the repo"
    validated = run(
        production.parent / "distributor-rollout",
        "validate",
        REPO / "include" / "rollouts" / "examplepackage.yaml",
        cwd=production.parents[2],
        env=clean_env(),
    )
    assert "valid plan 'examplepackage'" in validated.stdout


def test_dags_parse_with_plans_kept_outside_any_repository(
    production: Path, tmp_path: Path
) -> None:
    """A deployment's layout: DAG files, plans and package sources each where it chooses."""
    dags = shutil.copytree(REPO / "dags", tmp_path / "airflow" / "dags")
    plans = shutil.copytree(REPO / "include" / "rollouts", tmp_path / "config" / "rollouts")
    packages = shutil.copytree(REPO / "include" / "packages", tmp_path / "srv" / "packages")
    # A plan names its source relative to the plan file or absolutely: here, where the
    # deployment keeps its package sources.
    for plan in plans.glob("*.yaml"):
        text = plan.read_text()
        assert "source: ../packages/" in text, plan
        plan.write_text(text.replace("source: ../packages/", f"source: {packages}/"))
    (tmp_path / "airflow" / "plugins").mkdir()
    seen = probe(
        production,
        "import json;"
        "from airflow.dag_processing.dagbag import DagBag;"
        "from airflow import plugins_manager;"
        "bag = DagBag();"
        "plugins, errors = plugins_manager._get_plugins();"
        "print(json.dumps({'dags': sorted(bag.dag_ids), 'errors': bag.import_errors,"
        " 'plugins': sorted(p.name for p in plugins), 'plugin_errors': errors,"
        " 'folder': bag.dag_folder}))",
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(tmp_path / "airflow" / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path / 'airflow.db'}",
        AIRFLOW__DISTRIBUTOR_ROLLOUT__PLANS_DIR=str(plans),
        AIRFLOW__DISTRIBUTOR_ROLLOUT__PACKAGES_ROOT=str(packages),
    )
    assert not seen["errors"], "\n".join(seen["errors"].values())  # type: ignore[attr-defined]
    assert seen["folder"] == str(dags)
    dag_ids = [dag for dag in seen["dags"] if dag.startswith("distributor_rollout__")]  # type: ignore[attr-defined]
    rollouts = [dag for dag in dag_ids if not dag.endswith("__retire")]
    assert len(rollouts) == len(list(plans.glob("*.yaml"))) > 0, seen["dags"]
    assert sorted(set(dag_ids) - set(rollouts)) == sorted(f"{dag}__retire" for dag in rollouts)
    assert "distributor_rollout__examplepackage" in rollouts
    assert "distributor_rollout" in seen["plugins"]  # type: ignore[operator]
    assert seen["plugin_errors"] == {}


def test_awssim_installs_on_its_own_and_serves(
    tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]
) -> None:
    python = fresh_venv(tmp_path_factory.mktemp("awssim") / "venv")
    run(
        BIN / "uv", "pip", "install", "--quiet", "--python", python,
        "-c", REPO / "requirements.txt", "-c", REPO / "requirements-dev.txt", wheels["awssim"],
    )  # fmt: skip
    seen = probe(
        python,
        "import importlib.util, json, boto3, awssim;"
        "from importlib.metadata import entry_points;"
        "server = awssim.running('demo', 'happy');"
        "sim = server.__enter__();"
        "sts = boto3.client('sts', endpoint_url=sim.endpoint_url, region_name='us-east-1',"
        " aws_access_key_id='awssim', aws_secret_access_key='awssim');"
        "account = sts.get_caller_identity()['Account'];"
        "server.__exit__(None, None, None);"
        "print(json.dumps({'account': account,"
        " 'product': importlib.util.find_spec('distributor_rollout') is not None,"
        " 'pytest11': [e.value for e in entry_points(group='pytest11')]}))",
    )
    assert re.fullmatch(r"\d{12}", str(seen["account"]))
    assert seen["product"] is False, "the simulator must not need the product"
    assert "awssim.pytest_plugin" in seen["pytest11"]  # type: ignore[operator]
