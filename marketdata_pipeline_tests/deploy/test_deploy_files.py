"""The deployment files, checked without Docker or Kubernetes: each dagster.yaml variant passes Dagster's
own validation with its classes resolved, and compose.yaml / values.yaml agree with them and with the
repo's dagster.yaml (image, ports, environment, run launcher, limits)."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.ref import InstanceRef
from dagster._serdes.config_class import ConfigurableClassData

from marketdata_pipeline_tests.support import REPO

DEPLOY = REPO / "deploy"
REPO_YAML = REPO / "dagster.yaml"
DOCKER_YAML = DEPLOY / "docker" / "dagster.yaml"
HELM_YAML = DEPLOY / "helm" / "dagster.yaml"
# What every variant shares with the repo's dagster.yaml: the run queue, pools, monitoring, retries.
SHARED_SECTIONS = ("run_coordinator", "concurrency", "run_monitoring", "run_retries", "telemetry", "nux")
CODE_MODULE = "marketdata_pipeline.definitions"
LOCATION = "marketdata_pipeline"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.fixture
def instance_env(monkeypatch):
    """The variables the variants reference by name (`env:`), set to placeholders so validation can run."""
    for name in ("DATABASE_URL", "DAGSTER_PG_PASSWORD"):
        monkeypatch.setenv(name, "placeholder")


def validated_classes(path: Path, tmp_path: Path) -> dict[str, type]:
    """Dagster's own instance validation, then every configurable class imported and its config checked
    against the class's schema: what DagsterInstance does at start-up, short of connecting anywhere
    (a K8sRunLauncher would need a cluster to be constructed)."""
    home = tmp_path / path.parent.name
    home.mkdir(exist_ok=True)
    shutil.copy(path, home / "dagster.yaml")
    ref = InstanceRef.from_dir(str(home))  # validates the instance schema, the concurrency blocks included
    classes = {}
    for field, data in ref._asdict().items():
        if not isinstance(data, ConfigurableClassData):
            continue
        klass = _import(data)
        result = process_config(resolve_to_config_type(klass.config_type()), data.config_dict)
        if not result.success:
            raise DagsterInvalidConfigError(f"{path}: {field} config is invalid", result.errors, data.config_dict)
        classes[field] = klass
    return classes


def _import(data: ConfigurableClassData) -> type:
    import importlib

    module = importlib.import_module(data.module_name)
    if not hasattr(module, data.class_name):
        raise DagsterInvalidConfigError(f"no class {data.class_name} in {data.module_name}", [], data.config_dict)
    return getattr(module, data.class_name)


@pytest.mark.parametrize(
    ("path", "launcher"),
    [
        (REPO_YAML, "dagster._core.launcher.default_run_launcher.DefaultRunLauncher"),
        (DOCKER_YAML, "dagster_docker.docker_run_launcher.DockerRunLauncher"),
        (HELM_YAML, "dagster_k8s.launcher.K8sRunLauncher"),
    ],
    ids=["repo", "docker", "helm"],
)
def test_each_instance_variant_passes_dagster_validation(path, launcher, instance_env, tmp_path):
    classes = validated_classes(path, tmp_path)
    run_launcher = classes["run_launcher_data"]
    assert f"{run_launcher.__module__}.{run_launcher.__name__}" == launcher
    assert classes["storage_data"].__name__ == "DagsterPostgresStorage"
    assert classes["run_coordinator_data"].__name__ == "QueuedRunCoordinator"


@pytest.mark.parametrize(
    ("typo", "fixed"),
    [
        ("class: DockerRunLauncher", "class: DockerRunLaucher"),  # the class does not resolve
        ("module: dagster_docker", "module: dagster_dockr"),  # the module does not import
        ("network: marketdata", "netwrok: marketdata"),  # the launcher's schema refuses the key
        ("max_concurrent_runs: 6", "max_concurent_runs: 6"),  # the instance schema refuses the key
    ],
)
def test_a_typo_fails_validation(typo, fixed, instance_env, tmp_path):
    broken = tmp_path / "broken" / "dagster.yaml"
    broken.parent.mkdir()
    text = DOCKER_YAML.read_text()
    assert typo in text
    broken.write_text(text.replace(typo, fixed))
    with pytest.raises(Exception) as failure:
        validated_classes(broken, tmp_path)
    assert not isinstance(failure.value, AssertionError)


@pytest.mark.parametrize("path", [DOCKER_YAML, HELM_YAML], ids=["docker", "helm"])
def test_variants_carry_the_repos_limits(path):
    repo, variant = load(REPO_YAML), load(path)
    for section in SHARED_SECTIONS:
        assert variant[section] == repo[section], section
    assert repo["concurrency"]["runs"]["max_concurrent_runs"] == 6  # what the docs and the values promise


# -- compose.yaml and the Dockerfile ------------------------------------------------------------------

def compose() -> dict:
    return load(DEPLOY / "docker" / "compose.yaml")


def dockerfile() -> str:
    return (DEPLOY / "docker" / "Dockerfile").read_text()


def code_server_port(command: list[str]) -> int:
    assert command[:3] == ["dagster", "code-server", "start"], command
    assert command[command.index("-m") + 1] == CODE_MODULE
    assert command[command.index("--location-name") + 1] == LOCATION
    return int(command[command.index("-p") + 1])


def test_compose_runs_one_image_for_code_webserver_daemon_and_runs():
    services = compose()["services"]
    image = services["user_code"]["image"]
    assert image == services["webserver"]["image"] == services["daemon"]["image"] == services["init"]["image"]
    # DockerRunLauncher starts run containers from the image the code server reports.
    assert services["user_code"]["environment"]["DAGSTER_CURRENT_IMAGE"] == image
    assert services["user_code"]["build"]["dockerfile"] == "deploy/docker/Dockerfile"


def test_compose_ports_and_workspace_agree():
    services = compose()["services"]
    port = code_server_port(services["user_code"]["command"])
    assert str(port) in services["user_code"]["expose"]
    cmd = re.search(r'CMD \[(.*?)\]', dockerfile(), re.S).group(1)
    assert code_server_port([p.strip().strip('"') for p in cmd.replace("\\\n", "").split(",")]) == port
    assert f"EXPOSE {port}" in dockerfile()
    workspace = load(DEPLOY / "workspace.grpc.yaml")["load_from"][0]["grpc_server"]
    for name in ("webserver", "daemon"):
        env = services[name]["environment"]
        assert env[workspace["host"]["env"]] == "user_code"  # the service name is the host
        assert int(env[workspace["port"]["env"]]) == port
        assert "/opt/dagster/app/workspace.yaml" in services[name]["command"]
        assert "/var/run/docker.sock:/var/run/docker.sock" in services[name]["volumes"]
    assert workspace["location_name"] == LOCATION
    assert "COPY --chown=dagster:dagster deploy/workspace.grpc.yaml /opt/dagster/app/workspace.yaml" in dockerfile()
    assert services["webserver"]["command"][services["webserver"]["command"].index("-p") + 1] == "3000"
    assert services["webserver"]["ports"] == ["127.0.0.1:3000:3000"]


def test_compose_and_docker_dagster_yaml_name_the_same_launcher_network_and_variables():
    launcher = load(DOCKER_YAML)["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    spec = compose()
    network = launcher["config"]["network"]
    assert spec["networks"]["marketdata"]["name"] == network
    for name in ("postgres", "init", "user_code", "webserver", "daemon"):
        assert "marketdata" in spec["services"][name]["networks"], name
    assert "COPY --chown=dagster:dagster deploy/docker/dagster.yaml ${DAGSTER_HOME}/dagster.yaml" in dockerfile()
    # Each variable forwarded to run containers is one the project reads, and the env file names the
    # ones a run cannot do without.
    forwarded = set(launcher["config"]["env_vars"])
    assert forwarded <= variables_read_by_the_project()
    example = env_file_names(DEPLOY / "docker" / "marketdata.env.example")
    assert {"DATABASE_URL", "POLYGON_API_KEY"} <= example & forwarded


def test_compose_keeps_secrets_in_env_files():
    secret = re.compile(r"KEY|PASSWORD|TOKEN|SECRET|DATABASE_URL|WEBHOOK")
    for name, service in compose()["services"].items():
        assert service.get("env_file") == ["marketdata.env"], name
        for var in service.get("environment", {}):
            assert not secret.search(var), f"{name} sets {var} inline; it belongs in the env file"
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert ".env" in ignored and "deploy/docker/marketdata.env" in ignored


def test_dockerfile_builds_in_one_stage_and_runs_without_build_tools_as_non_root():
    stages = re.split(r"^FROM ", dockerfile(), flags=re.M)[1:]
    assert len(stages) == 2 and stages[0].split()[2] == "builder"
    builder, final = stages
    assert "build-essential" in builder and "pip wheel" in builder and "constraints.txt" in builder
    assert "build-essential" not in final and "apt-get" not in final
    assert "--no-index" in final  # only the builder's wheels
    user = re.findall(r"^USER (\S+)", final, re.M)
    assert user and not user[-1].startswith(("root", "0"))
    assert not re.search(r"^(ENV|ARG) .*(KEY|PASSWORD|TOKEN|DATABASE_URL)", dockerfile(), re.M)


def test_constraints_pin_what_pyproject_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = dict(line.split("==") for line in (DEPLOY / "docker" / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    for requirement in project["dependencies"] + project["optional-dependencies"]["deploy"]:
        name, _, version = requirement.partition("==")
        if version:
            assert pins[name.strip().lower()] == version.strip(), name
    assert project["optional-dependencies"]["deploy"] == ["dagster-docker==0.29.27", "dagster-k8s==0.29.27"]


# -- Helm values ----------------------------------------------------------------------------------------

def helm() -> dict:
    return load(DEPLOY / "helm" / "values.yaml")


def snake(value):
    """The chart's camelCase keys as the instance's snake_case ones."""
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake(v) for v in value]
    return value


def test_helm_user_code_deployment_is_the_compose_image_and_code_location():
    values = helm()
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    services = compose()["services"]
    image = deployment["image"]
    assert f"{image['repository']}:{image['tag']}" == services["user_code"]["image"]
    assert deployment["port"] == code_server_port(services["user_code"]["command"])
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("--module-name") + 1] == CODE_MODULE
    assert args[args.index("--location-name") + 1] == LOCATION
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True


def test_helm_values_and_helm_dagster_yaml_name_the_same_launcher_database_and_secrets():
    values, instance = helm(), load(HELM_YAML)
    assert values["runLauncher"]["type"] == instance["run_launcher"]["class"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    secrets = [s["name"] for s in launcher["envSecrets"]]
    assert secrets == instance["run_launcher"]["config"]["env_secrets"]
    for component in (values["dagsterWebserver"], values["dagsterDaemon"],
                      values["dagster-user-deployments"]["deployments"][0]):
        assert [s["name"] for s in component["envSecrets"]] == secrets
    assert snake(launcher["runK8sConfig"]) == instance["run_launcher"]["config"]["run_k8s_config"]
    pg, db = values["postgresql"], instance["storage"]["postgres"]["postgres_db"]
    assert pg["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
    assert (pg["postgresqlHost"], pg["postgresqlUsername"], pg["postgresqlDatabase"], pg["service"]["port"]) == (
        db["hostname"], db["username"], db["db_name"], db["port"])
    assert pg["postgresqlScheme"] == db["scheme"] == "postgresql+psycopg2"
    assert values["global"]["postgresqlSecretName"] == instance["run_launcher"]["config"]["postgres_password_secret"]
    for image in (values["dagsterWebserver"]["image"], values["dagsterDaemon"]["image"]):
        assert image["tag"] == "1.13.27"  # the Dagster release pinned in pyproject.toml


def test_helm_values_carry_the_repos_queue_pools_monitoring_and_retries():
    values, repo = helm(), load(REPO_YAML)
    concurrency = values["concurrency"]
    assert concurrency.pop("enabled") is True
    assert snake(concurrency) == repo["concurrency"]
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"] == {}  # limits live above
    assert snake(values["dagsterDaemon"]["runMonitoring"]) == repo["run_monitoring"]
    assert snake(values["dagsterDaemon"]["runRetries"]) == repo["run_retries"]
    assert values["telemetry"] == repo["telemetry"]


# -- housekeeping -----------------------------------------------------------------------------------------

ENV_READERS = ["settings.py", "health/config.py", "client/resource.py", "resources.py", "cli"]


def variables_read_by_the_project() -> set[str]:
    names = set()
    for entry in ENV_READERS:
        path = REPO / "marketdata_pipeline" / entry
        for source in ([path] if path.is_file() else sorted(path.glob("*.py"))):
            names |= set(re.findall(r'"((?:POLYGON|MASSIVE|MARKETDATA|DATABASE|DAGSTER|SLACK)_[A-Z0-9_]+)"',
                                    source.read_text()))
    return names


def env_file_names(path: Path) -> set[str]:
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", path.read_text(), re.M))


def test_env_example_lists_every_variable_the_project_reads_with_a_comment():
    read = variables_read_by_the_project()
    assert {"DATABASE_URL", "POLYGON_API_KEY", "MARKETDATA_NOW", "SLACK_BOT_TOKEN"} <= read  # the scan works
    example = (REPO / ".env.example").read_text()
    assert read <= env_file_names(REPO / ".env.example"), read - env_file_names(REPO / ".env.example")
    # Each variable (or run of related variables) sits under a comment that explains it.
    variable = re.compile(r"^#? ?[A-Z][A-Z0-9_]+=")
    lines = example.splitlines()
    for i, line in enumerate(lines):
        if variable.match(line):
            above = i - 1
            while variable.match(lines[above]):
                above -= 1
            assert lines[above].startswith("# ") and lines[above] != "#", f"{line} has no comment"


def test_license_is_the_apache_2_text_pyproject_declares():
    text = (REPO / "LICENSE").read_text()
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"] == "Apache-2.0"
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text and len(text.splitlines()) == 202
