"""docker-compose.yaml, Dockerfile and .dockerignore, checked without a Docker engine.

The compose file is validated against the Compose Specification's JSON schema (vendored in
tests/data/compose-spec/, see its README), then for what a schema cannot know: references
between services, the AWS connection pointing at the awssim service, awssim's command as
awssim's own parser reads it, the mounted code folders, and the image matching the lock.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "tests" / "data" / "compose-spec" / "compose-spec.json"
# check-jsonschema 0.39.0's copy of compose-spec/compose-spec schema/compose-spec.json.
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
)
SERVICES = {"postgres", "redis", "awssim", *AIRFLOW_SERVICES}
# Where the image and the mounts put the code (see the Dockerfile).
CODE_MOUNTS = {
    "dags": "/opt/airflow/dags",
    "plugins": "/opt/airflow/plugins",
    "include": "/opt/airflow/include",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yaml as Compose reads it (anchors and ``<<`` merges resolved)."""
    data = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    """A validator for the vendored Compose Specification schema."""
    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` / ``${VAR-default}`` / ``${VAR}`` with no variable set."""
    value = re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)
    return value.replace("$$", "$")


class _Parsed(Exception):
    """Raised by the spied parser with what awssim's own argparse parser made of argv."""

    def __init__(self, namespace: argparse.Namespace) -> None:
        super().__init__("parsed")
        self.namespace = namespace


def awssim_arguments(argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed by ``python -m awssim``'s parser, stopping before it starts anything.

    A wrong flag or value makes argparse exit (SystemExit), which fails the calling test.
    """
    from awssim.__main__ import main  # noqa: PLC0415

    parse_args = argparse.ArgumentParser.parse_args

    def spy(
        self: argparse.ArgumentParser, args: Any = None, namespace: Any = None
    ) -> argparse.Namespace:
        raise _Parsed(parse_args(self, args, namespace))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", spy)
        with pytest.raises(_Parsed) as parsed:
            main(argv)
    return parsed.value.namespace


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A service's ``depends_on`` in its long form."""
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return dict(deps)


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (the file uses the mapping form)."""
    env = service.get("environment", {})
    assert isinstance(env, dict), "use the mapping form of environment"
    return {key: str(value) for key, value in env.items()}


def bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """A service's bind mounts: container path → host path (interpolated, in the repo)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = interpolate(volume).split(":")[:2]
        if source.startswith((".", "/")):
            mounts[target] = (REPO / source).resolve()
    return mounts


# --- the Compose Specification ------------------------------------------------------------


def test_vendored_schema_is_the_recorded_one() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_compose_file_follows_the_compose_specification(
    compose: dict[str, Any], validator: Draft202012Validator
) -> None:
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(compose)
    ]
    assert errors == []


def test_schema_rejects_what_compose_would(
    compose: dict[str, Any], validator: Draft202012Validator
) -> None:
    """The validation above can fail: a misspelt key and an unknown value are both caught."""
    misspelt = copy.deepcopy(compose)
    misspelt["services"]["awssim"]["helthcheck"] = misspelt["services"]["awssim"]["healthcheck"]
    assert not validator.is_valid(misspelt)
    unknown_condition = copy.deepcopy(compose)
    unknown_condition["services"]["airflow-worker"]["depends_on"]["awssim"] = {
        "condition": "service_ready"
    }
    assert not validator.is_valid(unknown_condition)


# --- services and their references --------------------------------------------------------


def test_the_official_celery_layout_plus_awssim(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES
    for name in AIRFLOW_SERVICES:
        env = environment(compose["services"][name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres/airflow"), name
        assert "@redis:6379/" in env["AIRFLOW__CELERY__BROKER_URL"], name


def test_every_service_has_an_image_and_ours_build_from_the_dockerfile(
    compose: dict[str, Any],
) -> None:
    images = set()
    for name, service in compose["services"].items():
        assert "image" in service or "build" in service, name
        if name in {*AIRFLOW_SERVICES, "awssim"}:
            build = service["build"]
            assert (REPO / build["context"] / build["dockerfile"]).is_file(), name
            images.add(service["image"])
    assert len(images) == 1, f"one image for Airflow and awssim, got {images}"


def test_dependencies_exist_and_can_be_met(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, spec in depends_on(service).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert dependency != name
            condition = spec.get("condition", "service_started")
            if condition == "service_healthy":
                assert "test" in services[dependency].get("healthcheck", {}), (
                    f"{name} waits for {dependency} to be healthy, which has no healthcheck"
                )
            elif condition == "service_completed_successfully":
                assert dependency == "airflow-init", f"{name}: only the init service completes"
            else:
                assert condition == "service_started", f"{name}: {condition}"


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name == "airflow-init":
            assert "restart" not in service
            assert "healthcheck" not in service
            continue
        assert service.get("restart") == "always", name
        test = service.get("healthcheck", {}).get("test")
        assert test, name
        assert test[0] in {"CMD", "CMD-SHELL"}, name


def test_workers_and_triggerer_wait_for_awssim(compose: dict[str, Any]) -> None:
    for name in ("airflow-worker", "airflow-triggerer"):
        assert depends_on(compose["services"][name])["awssim"] == {"condition": "service_healthy"}


# --- awssim as the AWS endpoint -----------------------------------------------------------


def test_awssim_command_is_a_real_awssim_invocation(compose: dict[str, Any]) -> None:
    from awssim.orgspec import load_org  # noqa: PLC0415
    from awssim.scenario import load_scenario  # noqa: PLC0415

    awssim = compose["services"]["awssim"]
    assert awssim["entrypoint"] == ["python", "-m", "awssim"]
    args = awssim_arguments(awssim["command"])
    assert args.command == "serve"
    # In its container awssim must listen beyond loopback, where the other containers are.
    assert args.host == "0.0.0.0"  # noqa: S104
    assert args.port == 5000
    assert args.org == "demo"
    assert load_org(args.org).name
    assert load_scenario(args.scenario).name == args.scenario
    # Its healthcheck and its published port are the port it serves on.
    assert f"localhost:{args.port}/_awssim/health" in " ".join(awssim["healthcheck"]["test"])
    assert [port.rsplit(":", 1)[1] for port in awssim["ports"]] == [str(args.port)]
    assert all(port.startswith("127.0.0.1:") for port in awssim["ports"]), "loopback only"


def test_awssim_spy_rejects_a_wrong_flag() -> None:
    """The parser check above can fail: argparse exits on an unknown flag."""
    with pytest.raises(SystemExit):
        awssim_arguments(["serve", "--bind", "127.0.0.1"])


def test_aws_default_points_at_awssim_with_its_clock(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.models.connection import Connection  # noqa: PLC0415
    from airflow.providers.amazon.aws.utils.connection_wrapper import (  # noqa: PLC0415
        AwsConnectionWrapper,
    )

    from distributor_rollout.settings import time_scale  # noqa: PLC0415

    args = awssim_arguments(compose["services"]["awssim"]["command"])
    for name in AIRFLOW_SERVICES:
        env = environment(compose["services"][name])
        connection = Connection.from_json(env["AIRFLOW_CONN_AWS_DEFAULT"], conn_id="aws_default")
        wrapper = AwsConnectionWrapper(connection)
        assert wrapper.endpoint_url == f"http://awssim:{args.port}", name
        assert wrapper.region_name == "us-east-1", name
        # Any key works on awssim; without one boto3 would look for real credentials.
        assert wrapper.aws_access_key_id, name
        assert wrapper.aws_secret_access_key, name
        monkeypatch.setenv(
            "AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE",
            env["AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE"],
        )
        assert time_scale() == args.speed, f"{name}: time scale must equal awssim --speed"


# --- code in the containers ---------------------------------------------------------------


def test_dags_plugins_and_include_are_mounted_and_importable(compose: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        mounts = bind_mounts(service)
        for folder, target in CODE_MOUNTS.items():
            assert mounts.get(target) == REPO / folder, f"{name}: {folder} mounted at {target}"
            assert (REPO / folder).is_dir()
        path = environment(service)["PYTHONPATH"].split(":")
        assert CODE_MOUNTS["plugins"] in path, name
        assert CODE_MOUNTS["include"] in path, name
    awssim = compose["services"]["awssim"]
    assert bind_mounts(awssim)[CODE_MOUNTS["include"]] == REPO / "include"
    assert CODE_MOUNTS["include"] in environment(awssim)["PYTHONPATH"].split(":")


def test_dockerfile_image_matches_the_locked_airflow_and_python() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert len(froms) == 1, froms
    match = re.fullmatch(r"apache/airflow:(?P<airflow>[\w.]+)-python(?P<python>\d+\.\d+)", froms[0])
    assert match, f"FROM {froms[0]}: expected apache/airflow:<version>-python<X.Y>"
    locked = re.findall(
        r"^apache-airflow==(\S+)", (REPO / "requirements.txt").read_text(), flags=re.MULTILINE
    )
    assert locked == [match["airflow"]], "the image's Airflow must be the locked one"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert SpecifierSet(project["requires-python"]).contains(match["python"])


def test_dockerfile_copies_only_what_the_build_context_holds() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    sources = [
        source
        for line in re.findall(r"^COPY\s+(.+)$", dockerfile, flags=re.MULTILINE)
        for source in [word for word in line.split() if not word.startswith("--")][:-1]
    ]
    assert {"requirements.txt", "dags/", "plugins/", "include/"} <= set(sources)
    ignore = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*", ".dockerignore is an allow list"
    for source in sources:
        assert (REPO / source).exists(), source
        assert f"!{source}" in ignore, f".dockerignore must let {source} into the context"
