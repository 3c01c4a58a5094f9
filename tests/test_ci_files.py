"""docker-compose.yml and the CI workflow offer the services the tests look for, where they look.

The schemas (compose spec, GitHub workflows) and actionlint run in `nox -s lint`; these tests
check what no schema knows: healthchecks, 127.0.0.1-only ports, and the same addresses in
compose, the CI workflow and `nox -s integration`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"kafka", "rabbitmq", "redis", "mysql", "influxdb"}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def nox_compose_services() -> dict[str, str]:
    """COMPOSE_SERVICES as written in noxfile.py (the addresses `nox -s integration` sets)."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and getattr(node.targets[0], "id", "") == "COMPOSE_SERVICES"
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("noxfile.py has no COMPOSE_SERVICES")


def test_compose_has_the_test_services_with_healthchecks() -> None:
    services = compose()["services"]
    assert set(services) >= SERVICES
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_compose_publishes_ports_on_localhost_only() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond 127.0.0.1"


def test_compose_kafka_is_the_official_image_in_kraft_mode() -> None:
    kafka = compose()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    environment = kafka["environment"]
    assert set(environment["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "PLAINTEXT://127.0.0.1:9092" in environment["KAFKA_ADVERTISED_LISTENERS"]


@pytest.mark.parametrize(
    ("variable", "service", "port"),
    [
        ("PUMP_KAFKA_BOOTSTRAP", "kafka", 9092),
        ("PUMP_AMQP_URL", "rabbitmq", 5672),
        ("PUMP_REDIS_URL", "redis", 6379),
        ("PUMP_MYSQL_URL", "mysql", 3306),
        ("PUMP_INFLUXDB_URL", "influxdb", 8086),
    ],
)
def test_compose_nox_and_ci_agree_on_each_address(variable: str, service: str, port: int) -> None:
    address = nox_compose_services()[variable]
    assert f"127.0.0.1:{port}" in address
    assert f"127.0.0.1:{port}:{port}" in compose()["services"][service]["ports"]
    tests = workflow("ci.yml")["jobs"]["tests"]
    assert tests["env"][variable] == address
    assert f"127.0.0.1:{port}:{port}" in tests["services"][service]["ports"]
    assert tests["services"][service]["image"] == compose()["services"][service]["image"]


def test_ci_runs_lint_typecheck_and_the_python_matrix_with_services_required() -> None:
    jobs = workflow("ci.yml")["jobs"]
    runs = {name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    assert "nox -s lint" in runs["lint"]
    assert "nox -s typecheck" in runs["typecheck"]
    assert "nox -s tests_all" in runs["tests"]
    assert jobs["tests"]["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
    assert jobs["tests"]["env"]["PUMP_REQUIRE_SERVICES"] == "1"
    assert "nox -s build" in runs["build"]


def test_release_publishes_with_trusted_publishing_on_tags() -> None:
    release = workflow("release.yml")
    # PyYAML reads the key `on` as True (YAML 1.1).
    trigger = release.get("on", release.get(True))
    assert trigger["push"]["tags"] == ["v*"]
    publish = release["jobs"]["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    assert any(
        s.get("uses", "").startswith("pypa/gh-action-pypi-publish") for s in publish["steps"]
    )
    assert "nox -s build" in " ".join(s.get("run", "") for s in release["jobs"]["build"]["steps"])
