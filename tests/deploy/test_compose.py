"""deploy/compose.yaml: Redis with its AOF on a volume, PostgreSQL 15+, one gateway and two
workers from the image, each started once what it needs answers its health check, with the
environment arenaflow reads. No container engine runs here: the checks are on the parsed file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from arenaflow.settings import Settings

from .layout import DEPLOY, GATEWAY_PORT, SETTINGS_VARS, WORKER_METRICS_PORT, compose, k8s_docs

ARENAFLOW_SERVICES = ("gateway", "worker")
POSTGRES_VARS = frozenset({"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"})


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def compose_errors(spec: dict[str, Any]) -> Iterator[str]:
    """What would keep the stack from starting in order, persisting, or configuring arenaflow."""
    services = spec.get("services") or {}
    if set(services) != {"redis", "postgres", *ARENAFLOW_SERVICES}:
        yield f"services are {sorted(services)}"
        return
    for name, service in services.items():
        test = (service.get("healthcheck") or {}).get("test")
        if not test:
            yield f"{name}: no healthcheck"
        for dependency, condition in (service.get("depends_on") or {}).items():
            if dependency not in services:
                yield f"{name}: depends on unknown service {dependency!r}"
            elif (condition or {}).get("condition") != "service_healthy":
                yield f"{name}: must wait for {dependency} to be service_healthy"
            elif not (services[dependency].get("healthcheck") or {}).get("test"):
                yield f"{name}: waits for {dependency}'s health, but it has no healthcheck"
    for name in ARENAFLOW_SERVICES:
        service = services[name]
        if set(service.get("depends_on") or {}) != {"redis", "postgres"}:
            yield f"{name}: must depend on redis and postgres"
        for var in sorted(set(service.get("environment") or {}) - SETTINGS_VARS):
            yield f"{name}: environment {var} is not an arenaflow setting"
    volumes = set(spec.get("volumes") or {})
    for name, path in (("redis", "/data"), ("postgres", "/var/lib/postgresql/data")):
        mounts = {m.split(":")[1]: m.split(":")[0] for m in services[name].get("volumes") or []}
        if mounts.get(path) not in volumes:
            yield f"{name}: {path} must be on a named volume"
    command = services["redis"].get("command") or []
    for flag, value in (("--appendonly", "yes"), ("--appendfsync", "everysec")):
        if option(command, flag) != value:
            yield f"redis: {flag} must be {value!r}"
    for var in sorted(set(services["postgres"].get("environment") or {}) - POSTGRES_VARS):
        yield f"postgres: unexpected environment {var}"


def test_compose_passes() -> None:
    assert list(compose_errors(compose())) == []


def test_one_gateway_and_two_workers_from_the_one_image() -> None:
    services = compose()["services"]
    gateway, worker = services["gateway"], services["worker"]
    assert gateway["command"][0] == "gateway"
    assert int(option(gateway["command"], "--port") or 0) == GATEWAY_PORT
    assert f"{GATEWAY_PORT}:{GATEWAY_PORT}" in gateway["ports"]
    assert "ARENAFLOW_API_KEYS" in gateway["environment"]
    assert gateway.get("deploy", {}).get("replicas", 1) == 1
    assert worker["command"][0] == "worker"
    assert int(option(worker["command"], "--metrics-port") or 0) == WORKER_METRICS_PORT
    assert worker["deploy"]["replicas"] == 2
    assert "ARENAFLOW_API_KEYS" not in worker["environment"]
    assert "ports" not in worker  # two replicas cannot share a host port
    for service, port in ((gateway, GATEWAY_PORT), (worker, WORKER_METRICS_PORT)):
        assert service["image"] == "arenaflow:0.1.0"
        assert (
            DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]
        ).resolve() == (DEPLOY / "Dockerfile")
        assert service["healthcheck"]["test"][-1] == str(port)
    # SIGTERM drains a worker in under 10 s (the contract); compose's default grace is 10 s.
    assert worker["stop_grace_period"] == "30s"


def test_environment_matches_the_kubernetes_config() -> None:
    """The same settings as deploy/k8s, and ones Settings parses."""
    services = compose()["services"]
    (configmap,) = (d.body for d in k8s_docs() if d.kind == "ConfigMap")
    for name in ARENAFLOW_SERVICES:
        env = services[name]["environment"]
        for var in ("ARENAFLOW_TRANSPORT", "ARENAFLOW_STATE", "ARENAFLOW_PARTITIONS"):
            assert env[var] == configmap["data"][var], (name, var)
        settings = Settings.from_env(env)
        assert settings.store.startswith("postgresql://arenaflow:")
        assert settings.store.endswith("@postgres:5432/arenaflow")


def test_services_are_versions_arenaflow_needs() -> None:
    services = compose()["services"]
    redis_major = int(services["redis"]["image"].split(":")[1].split(".")[0])
    postgres_major = int(services["postgres"]["image"].split(":")[1].split("-")[0].split(".")[0])
    assert redis_major >= 7  # the same Redis as Kubernetes: KEDA's lag needs 7+
    assert postgres_major >= 15
    assert option(services["redis"]["command"], "--maxmemory-policy") == "noeviction"


Mutation = Callable[[dict[str, Any]], object]
#: name -> (a change to the committed compose file, an error the checks must then report)
MUTATIONS: dict[str, tuple[Mutation, str]] = {}


def mutation(expected: str) -> Callable[[Mutation], Mutation]:
    def register(mutate: Mutation) -> Mutation:
        MUTATIONS[mutate.__name__.replace("_", " ")] = (mutate, expected)
        return mutate

    return register


@mutation("worker: must wait for redis to be service_healthy")
def a_dependency_only_started(spec: dict[str, Any]) -> None:
    spec["services"]["worker"]["depends_on"]["redis"]["condition"] = "service_started"


@mutation("gateway: waits for postgres's health, but it has no healthcheck")
def a_dependency_without_a_healthcheck(spec: dict[str, Any]) -> None:
    del spec["services"]["postgres"]["healthcheck"]


@mutation("redis: --appendonly must be 'yes'")
def aof_off(spec: dict[str, Any]) -> None:
    spec["services"]["redis"]["command"] = ["redis-server"]


@mutation("redis: --appendfsync must be 'everysec'")
def fsync_left_to_the_os(spec: dict[str, Any]) -> None:
    command = spec["services"]["redis"]["command"]
    command[command.index("--appendfsync") + 1] = "no"


@mutation("redis: /data must be on a named volume")
def redis_data_in_the_container(spec: dict[str, Any]) -> None:
    del spec["services"]["redis"]["volumes"]


@mutation("worker: environment ARENAFLOW_WORKERS is not an arenaflow setting")
def a_variable_arenaflow_does_not_read(spec: dict[str, Any]) -> None:
    spec["services"]["worker"]["environment"]["ARENAFLOW_WORKERS"] = "2"


@pytest.mark.parametrize("name", MUTATIONS)
def test_checks_catch(name: str) -> None:
    spec = compose()
    mutate, expected = MUTATIONS[name]
    mutate(spec)
    errors = list(compose_errors(spec))
    assert any(expected in e for e in errors), errors
