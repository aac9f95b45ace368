"""docker-compose.yaml, its awssim overlay, the Dockerfile and .dockerignore, checked without
a Docker engine.

docker-compose.yaml is the deployment against real AWS; include/awssim/compose.yaml, given
as a second ``-f``, adds the simulator and points ``aws_default`` at it. Both files, and the
pair merged as Compose merges them, are validated against the Compose Specification's JSON
schema (vendored in tests/data/compose-spec/, see its README), then for what a schema cannot
know: references between services, the AWS connection each way, awssim's command as awssim's
own parser reads it, the mounted folders, and the Dockerfile's stages: the production one
matches the lock and carries no simulator, and the build context is exactly what they copy.
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import hashlib
import importlib.metadata
import json
import os
import posixpath
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
BASE_FILE = REPO / "docker-compose.yaml"
OVERLAY_FILE = REPO / "include" / "awssim" / "compose.yaml"
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
BASE_SERVICES = {"postgres", "redis", *AIRFLOW_SERVICES}
# The components that call AWS: they wait for the simulator when there is one.
AWS_CALLERS = ("airflow-worker", "airflow-triggerer")
# What the overlay may set on a service of the base file: keys whose Compose merge (mapping
# entries added or replaced, key by key) `merge` below reproduces.
MERGED_KEYS = {"environment", "depends_on"}
# The production image's layout: Airflow's home, and the DAGs folder Airflow derives from it.
AIRFLOW_HOME = PurePosixPath("/opt/airflow")
DAGS_FOLDER = AIRFLOW_HOME / "dags"
# The deployment's data, mounted for live edits and copied into the image at the same place.
DATA_FOLDERS = {
    "dags": DAGS_FOLDER,
    "include/rollouts": AIRFLOW_HOME / "include" / "rollouts",
    "include/packages": AIRFLOW_HOME / "include" / "packages",
}
AWS_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
)
AWS_PROFILE_FOLDER = "/home/airflow/.aws"  # the airflow user's HOME in the image
STAGES = ("wheels", "awssim", "airflow")  # the last one is the production image
SIMULATOR_DISTRIBUTIONS = {"awssim", "moto", "flask", "flask-cors", "werkzeug"}


# --- Compose, as far as these files use it ---------------------------------------------


_VARIABLE = re.compile(r"\$(?:\$|\{(?P<braced>\w+)|(?P<plain>[A-Za-z_]\w*))")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}`` and
    ``${VAR-default}``, defaults themselves interpolated (nested); other forms fail."""
    out, position = [], 0
    while (match := _VARIABLE.search(value, position)) is not None:
        out.append(value[position : match.start()])
        position = match.end()
        if match.group(0) == "$$":
            out.append("$")
        elif match["plain"]:
            out.append(env.get(match["plain"], ""))
        else:
            name, depth, start = match["braced"], 1, position
            while depth:  # the closing brace of this ${...}, past nested ones
                depth += {"{": 1, "}": -1}.get(value[position], 0)
                position += 1
            rest = value[start : position - 1]
            if not rest:
                out.append(env.get(name, ""))
            elif rest.startswith((":-", "-")):
                default = rest[2:] if rest.startswith(":-") else rest[1:]
                unset = env.get(name) in (None, "") if rest.startswith(":-") else name not in env
                out.append(interpolate(default, env) if unset else env[name])
            else:
                raise ValueError(f"interpolation not modelled here: ${{{name}{rest}}}")
    out.append(value[position:])
    return "".join(out)


def interpolated(data: Any, env: dict[str, str]) -> Any:
    """``data`` with every string value interpolated, as Compose does to each file before
    merging."""
    if isinstance(data, dict):
        return {key: interpolated(value, env) for key, value in data.items()}
    if isinstance(data, list):
        return [interpolated(value, env) for value in data]
    return interpolate(data, env) if isinstance(data, str) else data


def load(path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """A compose file as Compose reads it: anchors and ``<<`` resolved, then interpolated
    (no host variable set unless ``env`` names some)."""
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return interpolated(data, env or {})


def merge(base: Any, override: Any) -> Any:
    """``override`` merged onto ``base`` by Compose's rule for mappings: entries added, the
    conflicting ones merged. Anything else is replaced, which is Compose's rule only for some
    keys: test_overlay_sets_only_what_merge_reproduces keeps the overlay to those."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A service's ``depends_on`` in its long form."""
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return dict(deps)


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment (the files use the mapping form; None: passed from the host
    when set there)."""
    env = service.get("environment", {})
    assert isinstance(env, dict), "use the mapping form of environment"
    return {key: None if value is None else str(value) for key, value in env.items()}


def bind_mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """A service's bind mounts: container path → (host path, options)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *options = volume.split(":")
        if source.startswith((".", "/")):
            mounts[target] = (source, ",".join(options))
    return mounts


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    """docker-compose.yaml alone: the deployment against real AWS."""
    return load(BASE_FILE)


@pytest.fixture(scope="module")
def overlay() -> dict[str, Any]:
    """include/awssim/compose.yaml alone."""
    return load(OVERLAY_FILE)


@pytest.fixture(scope="module")
def rehearsal(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``docker compose -f docker-compose.yaml -f include/awssim/compose.yaml``."""
    return merge(base, overlay)


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    """A validator for the vendored Compose Specification schema."""
    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


# --- the Compose Specification ---------------------------------------------------------


def test_vendored_schema_is_the_recorded_one() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256


@pytest.mark.parametrize("which", ["base", "overlay", "rehearsal"])
def test_compose_files_follow_the_compose_specification(
    which: str, request: pytest.FixtureRequest, validator: Draft202012Validator
) -> None:
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(request.getfixturevalue(which))
    ]
    assert errors == []


def test_schema_rejects_what_compose_would(
    rehearsal: dict[str, Any], validator: Draft202012Validator
) -> None:
    """The validation above can fail: a misspelt key and an unknown value are both caught."""
    misspelt = copy.deepcopy(rehearsal)
    misspelt["services"]["awssim"]["helthcheck"] = misspelt["services"]["awssim"]["healthcheck"]
    assert not validator.is_valid(misspelt)
    unknown_condition = copy.deepcopy(rehearsal)
    unknown_condition["services"]["airflow-worker"]["depends_on"]["awssim"] = {
        "condition": "service_ready"
    }
    assert not validator.is_valid(unknown_condition)


# --- the merge -------------------------------------------------------------------------


def test_overlay_sets_only_what_merge_reproduces(
    base: dict[str, Any], overlay: dict[str, Any]
) -> None:
    assert {key for key in overlay if not key.startswith("x-")} == {"services"}
    added = set(overlay["services"]) - set(base["services"])
    assert added == {"awssim"}, "the overlay adds the simulator and nothing else"
    for name, service in overlay["services"].items():
        if name in added:
            continue
        assert set(service) <= MERGED_KEYS, f"{name}: {set(service) - MERGED_KEYS}"
        for key in service:
            assert isinstance(service[key], dict), f"{name}.{key}: use the mapping form"
            assert isinstance(base["services"][name].get(key, {}), dict), f"{name}.{key}"


def test_merge_adds_and_replaces_mapping_entries_and_leaves_its_inputs() -> None:
    """The merge the rehearsal checks rely on, on a small case whose result is known."""
    base = {"services": {"a": {"environment": {"X": "1", "Y": None}, "depends_on": {"b": {}}}}}
    override = {
        "services": {
            "a": {"environment": {"X": "2"}, "depends_on": {"c": {"condition": "service_healthy"}}},
            "c": {"image": "c"},
        }
    }
    frozen = copy.deepcopy((base, override))
    assert merge(base, override) == {
        "services": {
            "a": {
                "environment": {"X": "2", "Y": None},
                "depends_on": {"b": {}, "c": {"condition": "service_healthy"}},
            },
            "c": {"image": "c"},
        }
    }
    assert (base, override) == frozen


def test_interpolation_follows_compose() -> None:
    assert interpolate("${A:-x}/${B-y}/${C}/$$D/$A", {"A": "a"}) == "a/y//$D/a"
    assert interpolate("${A:-x}|${A-x}", {"A": ""}) == "x|"
    assert interpolate("${DIR:-${HOME}/.aws}:/h:ro", {"HOME": "/home/me"}) == "/home/me/.aws:/h:ro"
    assert interpolate("${DIR:-${HOME:-/root}/.aws}", {"DIR": "/srv/aws"}) == "/srv/aws"
    with pytest.raises(ValueError, match="not modelled"):
        interpolate("${A:?required}", {})


# --- both ways: services and their references -----------------------------------------


def test_the_official_celery_layout(base: dict[str, Any]) -> None:
    assert set(base["services"]) == BASE_SERVICES
    for name in AIRFLOW_SERVICES:
        env = environment(base["services"][name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert str(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).endswith("@postgres/airflow"), name
        assert "@redis:6379/" in str(env["AIRFLOW__CELERY__BROKER_URL"]), name


@pytest.mark.parametrize("which", ["base", "rehearsal"])
def test_dependencies_exist_and_can_be_met(which: str, request: pytest.FixtureRequest) -> None:
    services = request.getfixturevalue(which)["services"]
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


@pytest.mark.parametrize("which", ["base", "rehearsal"])
def test_every_long_running_service_has_a_healthcheck(
    which: str, request: pytest.FixtureRequest
) -> None:
    for name, service in request.getfixturevalue(which)["services"].items():
        if name == "airflow-init":
            assert "restart" not in service
            assert "healthcheck" not in service
            continue
        assert service.get("restart") == "always", name
        test = service.get("healthcheck", {}).get("test")
        assert test, name
        assert test[0] in {"CMD", "CMD-SHELL"}, name


@pytest.mark.parametrize("which", ["base", "rehearsal"])
def test_ports_are_published_on_loopback_only(which: str, request: pytest.FixtureRequest) -> None:
    services = request.getfixturevalue(which)["services"]
    assert services["airflow-apiserver"]["ports"] == ["127.0.0.1:8080:8080"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_airflow_services_run_the_production_image(base: dict[str, Any]) -> None:
    images = set()
    for name in AIRFLOW_SERVICES:
        service = base["services"][name]
        build = service["build"]
        assert (REPO / build["context"] / build["dockerfile"]) == REPO / "Dockerfile", name
        assert build["target"] == "airflow", name
        images.add(service["image"])
    assert len(images) == 1, f"one image for every Airflow component, got {images}"


def test_components_share_the_generated_airflow_cfg(base: dict[str, Any]) -> None:
    """No Fernet key in the file (an empty one turns encryption off): airflow-init writes
    airflow.cfg with generated keys into a folder every component mounts."""
    folders = set()
    for name in AIRFLOW_SERVICES:
        service = base["services"][name]
        env = environment(service)
        assert "AIRFLOW__CORE__FERNET_KEY" not in env, name
        assert "AIRFLOW__API_AUTH__JWT_SECRET" not in env, name
        config = PurePosixPath(str(env["AIRFLOW_CONFIG"]))
        folders.add(bind_mounts(service)[str(config.parent)][0])
    assert len(folders) == 1, folders
    init = " ".join(base["services"]["airflow-init"]["command"])
    assert "airflow config list" in init


# --- real AWS: docker-compose.yaml alone -------------------------------------------------


def test_nothing_in_the_deployment_mentions_awssim(base: dict[str, Any]) -> None:
    assert "awssim" not in json.dumps(base).lower()


def test_aws_default_is_real_aws_in_real_time(
    base: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.models.connection import Connection  # noqa: PLC0415
    from airflow.providers.amazon.aws.utils.connection_wrapper import (  # noqa: PLC0415
        AwsConnectionWrapper,
    )

    from distributor_rollout.settings import time_scale  # noqa: PLC0415

    in_eu = load(BASE_FILE, {"AWS_DEFAULT_REGION": "eu-west-1"})
    for name in AIRFLOW_SERVICES:
        env = environment(base["services"][name])
        assert not [key for key in env if key.startswith("AWS_ENDPOINT_URL")], name
        wrapper = AwsConnectionWrapper(
            Connection.from_json(str(env["AIRFLOW_CONN_AWS_DEFAULT"]), conn_id="aws_default")
        )
        assert wrapper.endpoint_url is None, name
        assert wrapper.region_name == "us-east-1", name
        # Credentials come from boto3's chain (the variables and the profile folder below).
        assert wrapper.aws_access_key_id is None, name
        assert wrapper.aws_secret_access_key is None, name
        eu_env = environment(in_eu["services"][name])
        eu = Connection.from_json(str(eu_env["AIRFLOW_CONN_AWS_DEFAULT"]), conn_id="aws_default")
        assert AwsConnectionWrapper(eu).region_name == "eu-west-1", name
        monkeypatch.setenv(
            "AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE",
            str(env["AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE"]),
        )
        assert time_scale() == 1, f"{name}: real AWS runs in real time"


def test_aws_credentials_come_from_the_host() -> None:
    """The AWS_* variables pass through only when set on the host (no value in the file), and
    the AWS config folder is mounted read-only at the containers' HOME."""
    default = load(BASE_FILE, {"HOME": "/home/me"})
    chosen = load(BASE_FILE, {"HOME": "/home/me", "AWS_CONFIG_DIR": "/srv/aws"})
    for name in AIRFLOW_SERVICES:
        env = environment(default["services"][name])
        for variable in AWS_CREDENTIAL_VARIABLES:
            assert variable in env, f"{name}: {variable} not passed through"
            assert env[variable] is None, f"{name}: {variable} must have no value in the file"
        for config, folder in ((default, "/home/me/.aws"), (chosen, "/srv/aws")):
            mounts = bind_mounts(config["services"][name])
            assert mounts.get(AWS_PROFILE_FOLDER) == (folder, "ro"), name


def test_data_is_mounted_and_code_is_the_installed_wheel(
    base: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributor_rollout import settings  # noqa: PLC0415

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_FOLDER))
    monkeypatch.delenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__PLANS_DIR", raising=False)
    monkeypatch.delenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__PACKAGES_ROOT", raising=False)
    # Where the product looks by default is where the folders are mounted.
    assert PurePosixPath(settings.plans_dir()) == DATA_FOLDERS["include/rollouts"]
    assert PurePosixPath(settings.packages_root()) == DATA_FOLDERS["include/packages"]
    for name in AIRFLOW_SERVICES:
        service = base["services"][name]
        mounts = bind_mounts(service)
        for folder, target in DATA_FOLDERS.items():
            source = mounts.get(str(target), ("", ""))[0]
            assert (REPO / source).resolve() == REPO / folder, f"{name}: {folder} at {target}"
            assert (REPO / folder).is_dir()
        sources = {(REPO / source).resolve() for source, _ in mounts.values()}
        for code in ("plugins", "include", "include/awssim"):
            assert REPO / code not in sources, f"{name}: {code} is code, installed in the image"
        assert "PYTHONPATH" not in environment(service), name


# --- on awssim: docker-compose.yaml + include/awssim/compose.yaml ------------------------


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


def test_awssim_command_is_a_real_awssim_invocation(rehearsal: dict[str, Any]) -> None:
    from awssim.orgspec import load_org  # noqa: PLC0415
    from awssim.scenario import load_scenario  # noqa: PLC0415

    awssim = rehearsal["services"]["awssim"]
    # The image's entrypoint runs awssim; the service gives only its arguments.
    assert "entrypoint" not in awssim
    assert dockerfile_stages()["awssim"].exec_form("ENTRYPOINT") == ["python", "-m", "awssim"]
    args = awssim_arguments(awssim["command"])
    assert args.command == "serve"
    # In its container awssim must listen beyond loopback, where the other containers are.
    assert args.host == "0.0.0.0"  # noqa: S104
    assert args.org == "demo"
    assert load_org(args.org).name
    assert load_scenario(args.scenario).name == args.scenario
    # Its healthcheck and its published port are the port it serves on.
    assert f"127.0.0.1:{args.port}/_awssim/health" in " ".join(awssim["healthcheck"]["test"])
    assert awssim["ports"] == [f"127.0.0.1:{args.port}:{args.port}"], "loopback only"


def test_awssim_spy_rejects_a_wrong_flag() -> None:
    """The parser check above can fail: argparse exits on an unknown flag."""
    with pytest.raises(SystemExit):
        awssim_arguments(["serve", "--bind", "127.0.0.1"])


def test_awssim_runs_its_own_image(rehearsal: dict[str, Any]) -> None:
    awssim = rehearsal["services"]["awssim"]
    assert REPO / awssim["build"]["context"] / awssim["build"]["dockerfile"] == REPO / "Dockerfile"
    assert awssim["build"]["target"] == "awssim"
    assert awssim["image"] != rehearsal["services"]["airflow-worker"]["image"]


def test_aws_default_points_at_awssim_with_its_clock(
    rehearsal: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.models.connection import Connection  # noqa: PLC0415
    from airflow.providers.amazon.aws.utils.connection_wrapper import (  # noqa: PLC0415
        AwsConnectionWrapper,
    )

    from distributor_rollout.settings import time_scale  # noqa: PLC0415

    args = awssim_arguments(rehearsal["services"]["awssim"]["command"])
    for name in AIRFLOW_SERVICES:
        env = environment(rehearsal["services"][name])
        connection = Connection.from_json(
            str(env["AIRFLOW_CONN_AWS_DEFAULT"]), conn_id="aws_default"
        )
        wrapper = AwsConnectionWrapper(connection)
        assert wrapper.endpoint_url == f"http://awssim:{args.port}", name
        assert wrapper.region_name == "us-east-1", name
        # Any key works on awssim; without one boto3 would look for real credentials.
        assert wrapper.aws_access_key_id, name
        assert wrapper.aws_secret_access_key, name
        monkeypatch.setenv(
            "AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE",
            str(env["AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE"]),
        )
        assert time_scale() == args.speed, f"{name}: time scale must equal awssim --speed"


def test_components_that_call_aws_wait_for_awssim(rehearsal: dict[str, Any]) -> None:
    for name in AWS_CALLERS:
        assert depends_on(rehearsal["services"][name])["awssim"] == {"condition": "service_healthy"}
        # The rest of the base file's dependencies stay.
        assert {"postgres", "redis", "airflow-init"} <= set(depends_on(rehearsal["services"][name]))


# --- the Dockerfile -----------------------------------------------------------------------


@dataclass
class Stage:
    """One stage of the Dockerfile: its base image and its instructions (comments left out,
    continuation lines joined)."""

    name: str
    image: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for word, args in self.instructions if word == keyword]

    def exec_form(self, keyword: str) -> list[str]:
        (args,) = self.all(keyword)
        value = json.loads(args)
        assert isinstance(value, list)
        return value


@dataclass(frozen=True)
class Copy:
    """A COPY instruction: its --from stage (None: the build context), sources, destination."""

    stage: str
    origin: str | None
    sources: tuple[str, ...]
    destination: str


def dockerfile_stages() -> dict[str, Stage]:
    """The Dockerfile's stages, in order, by name."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    stages: dict[str, Stage] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, args = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            image, as_, name = args.split()
            assert as_.upper() == "AS", line
            stages[name] = Stage(name, image)
        else:
            list(stages.values())[-1].instructions.append((keyword.upper(), args.strip()))
    return stages


def copies() -> list[Copy]:
    """Every COPY of the Dockerfile."""
    found = []
    for stage in dockerfile_stages().values():
        for args in stage.all("COPY"):
            words = shlex.split(args)
            flags = dict(word[2:].split("=", 1) for word in words if word.startswith("--"))
            paths = [word for word in words if not word.startswith("--")]
            found.append(Copy(stage.name, flags.get("from"), tuple(paths[:-1]), paths[-1]))
    return found


def project_python() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]


def test_dockerfile_stages_and_their_images() -> None:
    stages = dockerfile_stages()
    assert tuple(stages) == STAGES, "wheels, awssim, and the production image last"
    airflow = re.fullmatch(
        r"apache/airflow:(?P<airflow>[\w.]+)-python(?P<python>\d+\.\d+)", stages["airflow"].image
    )
    assert airflow, f"FROM {stages['airflow'].image}: expected apache/airflow:<version>-python<X.Y>"
    locked = re.findall(
        r"^apache-airflow==(\S+)", (REPO / "requirements.txt").read_text(), flags=re.MULTILINE
    )
    assert locked == [airflow["airflow"]], "the image's Airflow must be the locked one"
    assert SpecifierSet(project_python()).contains(airflow["python"])
    # The wheels are built by the production image's own Python.
    assert stages["wheels"].image == stages["airflow"].image
    simulator = re.fullmatch(r"python:(?P<python>\d+\.\d+)-slim-\w+", stages["awssim"].image)
    assert simulator, stages["awssim"].image
    assert SpecifierSet(project_python()).contains(simulator["python"])


def test_production_stage_carries_no_simulator() -> None:
    stage = dockerfile_stages()["airflow"]
    instructions = " ".join(args for _, args in stage.instructions).lower()
    for word in ("awssim", "moto", "pythonpath", "include/awssim"):
        assert word not in instructions, word
    (install,) = [args for args in stage.all("RUN") if "pip install" in args]
    assert "--no-deps" in install
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in install
    assert "-r /requirements.txt" in install
    assert "pip check" in install
    wheels = [copy for copy in copies() if copy.stage == "airflow" and copy.origin == "wheels"]
    (wheel,) = [source for copy in wheels for source in copy.sources]
    assert fnmatch.fnmatch("distributor_rollout-0.1.0-py3-none-any.whl", Path(wheel).name)
    assert not fnmatch.fnmatch("awssim-0.1.0-py3-none-any.whl", Path(wheel).name)
    # The deployment's data lands where the compose file mounts it and the product looks.
    from_context = {
        copy.sources: copy.destination
        for copy in copies()
        if copy.stage == "airflow" and copy.origin is None
    }
    for folder, target in DATA_FOLDERS.items():
        assert from_context[(f"{folder}/",)] == f"{target}/", folder


def test_awssim_stage_installs_the_wheel_at_the_locked_versions() -> None:
    stage = dockerfile_stages()["awssim"]
    (install,) = [args for args in stage.all("RUN") if "pip install" in args]
    for lock in ("requirements.txt", "requirements-dev.txt"):
        assert f"-c /tmp/locks/{lock}" in install, lock
    assert "awssim-*.whl" in install
    assert "pip check" in install
    (user,) = stage.all("USER")
    assert user not in {"root", "0"}, "awssim runs as a user of its own"


def test_runtime_lock_carries_no_simulator() -> None:
    names = {
        canonicalize_name(re.split(r"[=<>;\s\[]", line, maxsplit=1)[0])
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    }
    assert "apache-airflow" in names
    assert names & SIMULATOR_DISTRIBUTIONS == set()


def test_locks_pin_everything_the_awssim_image_installs() -> None:
    """awssim's dependency closure (as installed here from the same locks) is all pinned by
    the two files its stage uses as constraints, so the image resolves nothing freshly."""
    pinned = {
        canonicalize_name(re.split(r"[=<>;\s\[]", line, maxsplit=1)[0])
        for lock in ("requirements.txt", "requirements-dev.txt")
        for line in (REPO / lock).read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    }
    seen: set[str] = set()
    todo = [Requirement("awssim")]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for line in importlib.metadata.requires(name) or []:
            dependency = Requirement(line)
            extras = ["", *sorted(requirement.extras)]
            if dependency.marker is None or any(
                dependency.marker.evaluate({"extra": extra}) for extra in extras
            ):
                todo.append(dependency)
    assert "moto" in seen
    assert seen - {"awssim"} - pinned == set()


# --- the build context ------------------------------------------------------------------


def _pattern(glob: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex (Go's filepath.Match plus ``**``)."""
    out, position = [], 0
    while position < len(glob):
        if glob.startswith("**/", position):
            out.append("(?:.*/)?")
            position += 3
        elif glob.startswith("**", position):
            out.append(".*")
            position += 2
        elif glob[position] == "*":
            out.append("[^/]*")
            position += 1
        elif glob[position] == "?":
            out.append("[^/]")
            position += 1
        elif glob[position] == "[":
            end = glob.index("]", position)
            out.append(glob[position : end + 1])
            position = end + 1
        else:
            out.append(re.escape(glob[position]))
            position += 1
    return re.compile("".join(out))


def dockerignore() -> list[tuple[bool, str]]:
    """(excludes?, pattern) for each line of .dockerignore, in order."""
    rules = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        rules.append((excludes, os.path.normpath(line.lstrip("!")).lstrip("/")))
    return rules


def ignored(path: str, rules: list[tuple[bool, str]]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    verdict = False
    for excludes, pattern in rules:
        regex = _pattern(pattern)
        if any(regex.fullmatch(candidate) for candidate in candidates):
            verdict = excludes
    return verdict


def build_context() -> set[str]:
    """The files `docker build .` sends, after .dockerignore."""
    rules = dockerignore()
    exceptions = [pattern for excludes, pattern in rules if not excludes]
    files = set()
    for folder, dirs, names in os.walk(REPO):
        relative = Path(folder).relative_to(REPO).as_posix()
        prefix = "" if relative == "." else f"{relative}/"
        # Skip folders excluded with nothing let back in below them (.venv, .git, caches).
        dirs[:] = [
            name
            for name in dirs
            if not ignored(prefix + name, rules)
            or any(exception.startswith(f"{prefix}{name}/") for exception in exceptions)
        ]
        files |= {prefix + name for name in names if not ignored(prefix + name, rules)}
    return files


def copied_from_context(stage: str | None = None) -> set[str]:
    """The repository's files (caches aside) under the COPY sources of ``stage`` (None: of
    every stage)."""
    files = set()
    for copy_ in copies():
        if copy_.origin is not None or stage not in (None, copy_.stage):
            continue
        for source in copy_.sources:
            path = REPO / source
            assert path.exists(), f"COPY {source}: not in the repository"
            found = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            files |= {
                p.relative_to(REPO).as_posix()
                for p in found
                if "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo", ".pyd"}
            }
    return files


def test_dockerignore_is_an_allow_list() -> None:
    rules = dockerignore()
    assert rules[0] == (True, "*")
    assert ignored(".venv/bin/python", rules)
    assert ignored(".git/config", rules)
    assert ignored("include/awssim/tests/test_server.py", rules)
    assert ignored("plugins/distributor_rollout/__pycache__/plugin.cpython-311.pyc", rules)
    assert not ignored("plugins/distributor_rollout/plugin.py", rules)
    assert not ignored("include/rollouts/examplepackage.yaml", rules)


def test_build_context_is_exactly_what_the_stages_copy() -> None:
    context, copied = build_context(), copied_from_context()
    assert copied - context == set(), "copied but kept out of the context by .dockerignore"
    assert context - copied == set(), "in the context but copied by no stage"


@pytest.mark.parametrize("project", [".", "include/awssim"])
def test_wheels_stage_copies_what_hatchling_reads(project: str) -> None:
    """Each project's pyproject.toml, the readme it names and its wheel's package folders."""
    pyproject = tomllib.loads((REPO / project / "pyproject.toml").read_text())
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = ["pyproject.toml", pyproject["project"]["readme"], *wheel["packages"]]
    copied = copied_from_context("wheels")
    for path in needed:
        relative = (Path(project) / path).as_posix()
        assert any(file == relative or file.startswith(f"{relative}/") for file in copied), (
            f"{relative}: the wheels stage does not copy it"
        )
    # The stage rebuilds the repository's layout under one folder and builds each project
    # from its place there.
    (build,) = [args for args in dockerfile_stages()["wheels"].all("RUN") if "pip wheel" in args]
    assert "--no-deps" in build
    root = PurePosixPath(shlex.split(build)[-2])  # the root project, then include/awssim
    for copy_ in copies():
        if copy_.stage != "wheels" or copy_.origin is not None:
            continue
        for source in copy_.sources:
            folder = source if source.endswith("/") else posixpath.dirname(source)
            expected = posixpath.normpath(root / folder)
            assert posixpath.normpath(copy_.destination) == expected, source
    assert posixpath.normpath(root / project) in shlex.split(build)
