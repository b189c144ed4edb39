"""deploy/k8s: every manifest is a known Kubernetes or KEDA object whose fields the API knows,
and the manifests agree with each other, with arenaflow's settings and pipeline, and with the
scale-out contract. No cluster runs here: the checks are on the parsed YAML, and the mutation
tests at the end show each kind of check fails when it should."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from arenaflow.gateway.auth import KeyRing
from arenaflow.gateway.ingest import SCHEMAS
from arenaflow.pipeline import build_pipeline
from arenaflow.settings import Settings
from arenaflow.triggers import Stream

from .layout import (
    GATEWAY_PORT,
    INGEST_GROUPS,
    K8S,
    KEY_PREFIX,
    NAMESPACE,
    SETTINGS_VARS,
    WORKER_METRICS_PORT,
    Doc,
    image_user,
    k8s_docs,
    load_module,
    manifest_files,
)
from .schema import REDIS_STREAMS_METADATA, validate_object

WORKLOADS = ("Deployment", "StatefulSet")


# -- helpers ------------------------------------------------------------------------------------


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d.kind == kind]


def find(docs: list[Doc], kind: str, name: str) -> dict[str, Any]:
    (doc,) = (d.body for d in docs if d.kind == kind and d.name == name)
    return doc


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return list(workload["spec"]["template"]["spec"]["containers"])


def is_arenaflow(container: dict[str, Any]) -> bool:
    return str(container.get("image", "")).split(":")[0].rsplit("/", 1)[-1] == "arenaflow"


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"].get("labels") or {})


def config_data(docs: list[Doc]) -> dict[str, dict[str, str]]:
    """ConfigMaps and Secrets by name -> their keys and (plain text) values."""
    out: dict[str, dict[str, str]] = {}
    for d in docs:
        if d.kind in ("ConfigMap", "Secret"):
            out[f"{d.kind}/{d.name}"] = {
                **(d.body.get("data") or {}),
                **(d.body.get("stringData") or {}),
            }
    return out


def settings_env(docs: list[Doc]) -> dict[str, str]:
    """The environment an arenaflow process gets: the ConfigMap and the (example) Secret."""
    data = config_data(docs)
    return {**data["ConfigMap/arenaflow-config"], **data["Secret/arenaflow-secrets"]}


def process(workload: dict[str, Any]) -> str:
    """The arenaflow command a workload runs (``gateway``, ``worker``), or ''."""
    for c in containers(workload):
        if is_arenaflow(c):
            return str((c.get("args") or ["gateway"])[0])
    return ""


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


# -- the checks (each returns its errors; the tests assert there are none) ------------------------


def schema_errors(docs: list[Doc]) -> Iterator[str]:
    """Known apiVersion/kind, known fields of the right types, required fields, the namespace."""
    for d in docs:
        yield from (f"{d}: {e}" for e in validate_object(d.body))
        if d.kind != "Namespace" and d.body.get("metadata", {}).get("namespace") != NAMESPACE:
            yield f"{d}: metadata.namespace must be {NAMESPACE!r}"
    for (kind, name), n in Counter((d.kind, d.name) for d in docs).items():
        if n > 1:
            yield f"{kind}/{name} is defined {n} times"


def workload_errors(docs: list[Doc]) -> Iterator[str]:
    """Selectors, probes, mounts, environment and resources of each Deployment / StatefulSet."""
    data = config_data(docs)
    for d in (d for d in docs if d.kind in WORKLOADS):
        spec = d.body["spec"]
        selector = spec["selector"].get("matchLabels") or {}
        if not selects(selector, pod_labels(d.body)):
            yield f"{d}: selector {selector} does not match the pod template's labels"
        pod = spec["template"]["spec"]
        volumes = {v["name"] for v in pod.get("volumes") or []}
        volumes |= {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates") or []}
        for c in pod["containers"]:
            where = f"{d} container {c['name']}"
            ports = c.get("ports") or []
            names = {p.get("name") for p in ports} - {None}
            numbers = {p["containerPort"] for p in ports}
            for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = c.get(probe_name) or {}
                for handler in ("httpGet", "tcpSocket"):
                    if handler in probe:
                        port = probe[handler]["port"]
                        if port not in (names if isinstance(port, str) else numbers):
                            yield f"{where}: {probe_name} port {port!r} is not a declared port"
            for mount in c.get("volumeMounts") or []:
                if mount["name"] not in volumes:
                    yield f"{where}: volumeMount {mount['name']!r} names no volume"
            resources = c.get("resources") or {}
            for need in ("requests.cpu", "requests.memory", "limits.memory"):
                part, key = need.split(".")
                if key not in (resources.get(part) or {}):
                    yield f"{where}: resources.{need} is not set"
            yield from _env_errors(where, c, data)


def _env_errors(where: str, c: dict[str, Any], data: dict[str, dict[str, str]]) -> Iterator[str]:
    """Every variable an arenaflow container gets is a setting arenaflow reads, and every
    reference names a ConfigMap or Secret key that exists."""
    arenaflow = is_arenaflow(c)
    for source in c.get("envFrom") or []:
        for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if ref in source:
                keys = data.get(f"{kind}/{source[ref]['name']}")
                if keys is None:
                    yield f"{where}: envFrom {kind} {source[ref]['name']!r} does not exist"
                elif arenaflow:
                    yield from (
                        f"{where}: {key} (from {kind} {source[ref]['name']}) is not an "
                        "arenaflow setting"
                        for key in sorted(set(keys) - SETTINGS_VARS)
                    )
    for var in c.get("env") or []:
        if arenaflow and var["name"] not in SETTINGS_VARS:
            yield f"{where}: env {var['name']} is not an arenaflow setting"
        value_from = var.get("valueFrom") or {}
        for kind, ref in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            if ref in value_from:
                name, key = value_from[ref]["name"], value_from[ref]["key"]
                if key not in data.get(f"{kind}/{name}", {}):
                    yield f"{where}: env {var['name']} refers to a missing {kind} key {name}/{key}"


def service_errors(docs: list[Doc]) -> Iterator[str]:
    """Each Service selects pods, and its targetPorts are ports those pods declare; a
    StatefulSet's governing Service is headless; a PDB selects pods."""
    workloads = [d.body for d in docs if d.kind in WORKLOADS]
    for d in of_kind(docs, "Service"):
        spec = d.body["spec"]
        selected = [w for w in workloads if selects(spec.get("selector") or {}, pod_labels(w))]
        if not selected:
            yield f"{d}: selector {spec.get('selector')} selects no pods"
            continue
        ports = [p for w in selected for c in containers(w) for p in c.get("ports") or []]
        for port in spec["ports"]:
            target = port.get("targetPort", port["port"])
            declared = {
                p.get("name") if isinstance(target, str) else p["containerPort"] for p in ports
            }
            if target not in declared:
                yield f"{d}: targetPort {target!r} is not a port of the pods it selects"
    for d in of_kind(docs, "StatefulSet"):
        governing = [s for s in of_kind(docs, "Service") if s.name == d.body["spec"]["serviceName"]]
        if not governing or governing[0].body["spec"].get("clusterIP") != "None":
            yield f"{d}: serviceName must name a headless Service"
    for d in of_kind(docs, "PodDisruptionBudget"):
        selector = d.body["spec"]["selector"].get("matchLabels") or {}
        if not any(selects(selector, pod_labels(w)) for w in workloads):
            yield f"{d}: selector {selector} selects no pods"


def _redis_service_port(docs: list[Doc], name: str) -> int | None:
    services = [s for s in of_kind(docs, "Service") if s.name == name]
    return int(services[0].body["spec"]["ports"][0]["port"]) if services else None


def scaledobject_errors(docs: list[Doc]) -> Iterator[str]:
    """The ScaledObject scales the worker Deployment down to zero, on redis-streams lag triggers
    with the metadata KEDA documents, one per partition stream of each ingest topic for its
    main group, reading the Redis the workers use."""
    objects = of_kind(docs, "ScaledObject")
    if len(objects) != 1:
        yield f"expected one ScaledObject, found {len(objects)}"
        return
    d, spec = objects[0], objects[0].body["spec"]
    env = settings_env(docs)
    partitions = int(env["ARENAFLOW_PARTITIONS"])
    target = spec["scaleTargetRef"]
    if target.get("kind", "Deployment") != "Deployment":
        yield f"{d}: scaleTargetRef must be a Deployment"
    workers = [w.name for w in of_kind(docs, "Deployment") if process(w.body) == "worker"]
    if [target["name"]] != workers:
        yield f"{d}: scaleTargetRef.name {target['name']!r} is not the worker Deployment {workers}"
    if spec.get("minReplicaCount") != 0:
        yield f"{d}: minReplicaCount must be 0 (no workers between games)"
    if not 1 <= spec.get("maxReplicaCount", 100) <= partitions:
        yield f"{d}: maxReplicaCount must be 1..{partitions}: a worker past that holds no lease"
    for knob in ("pollingInterval", "cooldownPeriod"):
        if knob not in spec:
            yield f"{d}: {knob} is not set"
    behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior")
    if not behavior or not {"scaleUp", "scaleDown"} <= set(behavior):
        yield f"{d}: advanced.horizontalPodAutoscalerConfig.behavior needs scaleUp and scaleDown"
    elif behavior["scaleDown"].get("stabilizationWindowSeconds", 300) < 300:
        yield f"{d}: a scale-down window under 5 minutes flaps mid-game"

    url = urlsplit(env["ARENAFLOW_TRANSPORT"])
    redis_port = _redis_service_port(docs, url.hostname or "")
    expected_address = f"{url.hostname}.{NAMESPACE}.svc.cluster.local:{url.port or 6379}"
    if redis_port is not None and redis_port != (url.port or 6379):
        yield f"ARENAFLOW_TRANSPORT's port is not the {url.hostname} Service's port {redis_port}"
    seen: Counter[tuple[str, str]] = Counter()
    for i, trigger in enumerate(spec["triggers"]):
        where = f"{d} trigger {i} ({trigger.get('name')})"
        if trigger["type"] != "redis-streams":
            yield f"{where}: type must be redis-streams, got {trigger['type']!r}"
            continue
        meta = trigger["metadata"]
        for key in sorted(set(meta) - REDIS_STREAMS_METADATA):
            yield f"{where}: unknown redis-streams metadata key {key!r}"
        for key in ("address", "stream", "consumerGroup", "lagCount", "activationLagCount"):
            if key not in meta:
                yield f"{where}: metadata.{key} is required for lag scaling"
        for key in ("lagCount", "activationLagCount", "databaseIndex"):
            if not str(meta.get(key, "0")).isdigit():
                yield f"{where}: metadata.{key} must be a whole number, got {meta[key]!r}"
        if redis_port is not None and meta.get("address") != expected_address:
            yield f"{where}: address {meta.get('address')!r} is not {expected_address!r}"
        if meta.get("databaseIndex", "0") != (url.path.lstrip("/") or "0"):
            yield f"{where}: databaseIndex is not the database of ARENAFLOW_TRANSPORT"
        seen[(str(meta.get("stream")), str(meta.get("consumerGroup")))] += 1
    expected = {
        (f"{KEY_PREFIX}:stream:{topic}:{p}", group)
        for topic, group in INGEST_GROUPS.items()
        for p in range(partitions)
    }
    for stream, group in sorted(expected - set(seen)):
        yield f"{d}: missing trigger for stream {stream} group {group}"
    for stream, group in sorted(set(seen) - expected):
        yield f"{d}: unexpected trigger for stream {stream} group {group}"
    for (stream, group), n in seen.items():
        if n > 1:
            yield f"{d}: {n} triggers for stream {stream} group {group}"


CHECKS: tuple[Callable[[list[Doc]], Iterator[str]], ...] = (
    schema_errors,
    workload_errors,
    service_errors,
    scaledobject_errors,
)


def all_errors(docs: list[Doc]) -> list[str]:
    return [e for check in CHECKS for e in check(docs)]


# -- the manifests as committed -----------------------------------------------------------------


@pytest.fixture
def docs() -> list[Doc]:
    return k8s_docs()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_manifests_pass(check: Callable[[list[Doc]], Iterator[str]], docs: list[Doc]) -> None:
    assert list(check(docs)) == []


def test_every_file_holds_known_objects(docs: list[Doc]) -> None:
    kinds = Counter(d.kind for d in docs)
    assert kinds == {
        "Namespace": 1,
        "ConfigMap": 1,
        "Secret": 1,
        "Service": 3,
        "StatefulSet": 1,
        "Deployment": 2,
        "PodDisruptionBudget": 1,
        "ScaledObject": 1,
    }
    assert {d.file for d in docs} == {p.name for p in manifest_files()}


def test_kustomization_applies_everything_but_the_example_secret(docs: list[Doc]) -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    assert listed[0] == "namespace.yaml"
    assert set(listed) == {p.name for p in manifest_files()} - {"secret.example.yaml"}
    assert "Secret" not in {d.kind for d in docs if d.file in listed}
    images = {i["name"] for i in kustomization["images"]}
    arenaflow = {
        c["image"].split(":")[0]
        for d in docs
        if d.kind in WORKLOADS
        for c in containers(d.body)
        if is_arenaflow(c)
    }
    assert arenaflow == images == {"arenaflow"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_offline() -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    built = [d for d in yaml.safe_load_all(out) if d]
    assert len(built) == 10
    assert built[0]["kind"] == "Namespace"


def test_settings_are_ones_arenaflow_reads_and_parse(docs: list[Doc]) -> None:
    env = settings_env(docs)
    assert set(env) <= SETTINGS_VARS
    settings = Settings.from_env(env)
    assert settings.transport.startswith("redis://")
    assert settings.state.startswith("redis://")
    assert settings.store.startswith("postgresql://")
    # The placeholder is well-formed and grants nothing: no key has an all-zero digest.
    ring = KeyRing.parse(settings.api_keys)
    assert len(ring) == 1
    assert ring.check("any key at all") is None
    secret = find(docs, "Secret", "arenaflow-secrets")
    assert "CHANGE-ME" in secret["stringData"]["ARENAFLOW_STORE"]
    assert "data" not in secret  # placeholders only, as plain text nobody mistakes for a secret


def test_processes_and_ports_follow_the_contract(docs: list[Doc]) -> None:
    gateway, worker = find(docs, "Deployment", "gateway"), find(docs, "Deployment", "worker")
    assert (process(gateway), process(worker)) == ("gateway", "worker")
    (g,), (w,) = containers(gateway), containers(worker)
    assert option(g["args"], "--host") == "0.0.0.0"
    assert int(option(g["args"], "--port") or 0) == GATEWAY_PORT
    assert [p["containerPort"] for p in g["ports"]] == [GATEWAY_PORT]
    assert option(w["args"], "--metrics-host") == "0.0.0.0"
    assert int(option(w["args"], "--metrics-port") or 0) == WORKER_METRICS_PORT
    assert [p["containerPort"] for p in w["ports"]] == [WORKER_METRICS_PORT]
    for c in (g, w):
        for probe in ("readinessProbe", "livenessProbe"):
            assert c[probe]["httpGet"]["path"] == "/healthz"
    # The gateway keeps two replicas through rollouts and drains; KEDA owns the workers' count.
    assert gateway["spec"]["replicas"] == 2
    assert gateway["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdb = find(docs, "PodDisruptionBudget", "gateway")
    assert selects(pdb["spec"]["selector"]["matchLabels"], pod_labels(gateway))
    assert 1 <= pdb["spec"]["minAvailable"] < gateway["spec"]["replicas"]
    assert worker["spec"].get("replicas", 1) >= 0
    assert "replicas" not in worker["spec"]  # re-applying must not undo KEDA's choice
    # A worker drains in under 10 s on SIGTERM (the contract); the grace period must cover it.
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 10


def test_pods_meet_the_restricted_pod_security_standard(docs: list[Doc]) -> None:
    namespace = find(docs, "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    image_uid = int(image_user().split(":")[0])
    for d in (d for d in docs if d.kind in WORKLOADS):
        pod = d.body["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, d
        if process(d.body):  # the arenaflow image runs as the user its Dockerfile creates
            assert pod["securityContext"]["runAsUser"] == image_uid, d
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", d
        assert pod["automountServiceAccountToken"] is False, d
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (d, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (d, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (d, c["name"])


def test_redis_keeps_an_aof_on_its_volume_and_never_evicts(docs: list[Doc]) -> None:
    redis = find(docs, "StatefulSet", "redis")
    (c,) = containers(redis)
    image_tag = c["image"].split(":")[1]
    assert int(image_tag.split(".")[0]) >= 7  # KEDA's lag trigger reads XINFO GROUPS' lag
    args = c["args"]
    assert args[0] == "redis-server"
    assert option(args, "--appendonly") == "yes"
    assert option(args, "--appendfsync") == "everysec"
    assert option(args, "--maxmemory-policy") == "noeviction"
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    (mount,) = c["volumeMounts"]
    assert mount["name"] == claim["metadata"]["name"]
    assert mount["mountPath"] == option(args, "--dir")
    url = urlsplit(settings_env(docs)["ARENAFLOW_TRANSPORT"])
    assert url.hostname == "redis"
    assert _redis_service_port(docs, "redis") == url.port == c["ports"][0]["containerPort"]


def test_scaledobject_settings(docs: list[Doc]) -> None:
    (so,) = (d.body["spec"] for d in of_kind(docs, "ScaledObject"))
    assert so["scaleTargetRef"]["name"] == "worker"
    assert so["minReplicaCount"] == 0
    assert so["maxReplicaCount"] == int(settings_env(docs)["ARENAFLOW_PARTITIONS"])
    assert len(so["triggers"]) == len(INGEST_GROUPS) * so["maxReplicaCount"]
    # Any lag wakes the fleet; an hour without lag sends it back to zero.
    assert {t["metadata"]["activationLagCount"] for t in so["triggers"]} == {"0"}
    assert so["cooldownPeriod"] >= 1800
    behavior = so["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] >= 30
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 600


def test_trigger_groups_are_the_pipelines_functions_on_the_ingest_topics() -> None:
    """The contract's groups are the names of the built-in functions reading those topics, and
    the topics are the ones the gateway ingests."""
    app, _ = build_pipeline()
    assert set(INGEST_GROUPS) == set(SCHEMAS)
    for topic, group in INGEST_GROUPS.items():
        (trigger,) = app.functions[group].triggers
        assert isinstance(trigger, Stream)
        assert trigger.topic == topic


# -- the generated ScaledObject -----------------------------------------------------------------


def test_generated_scaledobject_is_up_to_date() -> None:
    generate = load_module(K8S / "generate.py")
    expected = generate.render((K8S / "config.yaml").read_text())
    assert (K8S / "worker-scaledobject.yaml").read_text() == expected, (
        "deploy/k8s/worker-scaledobject.yaml is stale: run python deploy/k8s/generate.py"
    )
    assert generate.main(["--check"]) == 0


def test_generator_follows_the_partitions_and_refuses_credentials() -> None:
    generate = load_module(K8S / "generate.py")
    config = (K8S / "config.yaml").read_text().replace('PARTITIONS: "8"', 'PARTITIONS: "3"')
    so = yaml.safe_load(generate.render(config))
    assert so["spec"]["maxReplicaCount"] == 3
    assert len(so["spec"]["triggers"]) == 9
    assert generate.redis_address("rediss://cache.example.com:6380/2") == (
        "cache.example.com:6380",
        2,
        True,
    )
    with pytest.raises(SystemExit, match="TriggerAuthentication"):
        generate.redis_address("redis://:secret@redis:6379/0")


# -- the checks catch what they should ----------------------------------------------------------

Mutation = Callable[[list[Doc]], object]
#: name -> (a change to the committed manifests, an error the checks must then report)
MUTATIONS: dict[str, tuple[Mutation, str]] = {}


def mutation(expected: str) -> Callable[[Mutation], Mutation]:
    def register(mutate: Mutation) -> Mutation:
        MUTATIONS[mutate.__name__.replace("_", " ")] = (mutate, expected)
        return mutate

    return register


def _container(docs: list[Doc], name: str) -> dict[str, Any]:
    return containers(find(docs, "Deployment", name))[0]


def _scaledobject(docs: list[Doc]) -> dict[str, Any]:
    spec: dict[str, Any] = find(docs, "ScaledObject", "worker")["spec"]
    return spec


def _first_trigger(docs: list[Doc]) -> dict[str, Any]:
    trigger: dict[str, Any] = _scaledobject(docs)["triggers"][0]
    return trigger


@mutation("unknown field 'readinesProbe'")
def misspelt_container_field(docs: list[Doc]) -> None:
    c = _container(docs, "worker")
    c["readinesProbe"] = c.pop("readinessProbe")


@mutation("unknown field 'terminationGracePeriodSeconds'")
def pod_field_on_the_deployment(docs: list[Doc]) -> None:
    find(docs, "Deployment", "worker")["spec"]["terminationGracePeriodSeconds"] = 30


@mutation("containerPort: expected an integer, got str")
def port_as_a_string(docs: list[Doc]) -> None:
    _container(docs, "gateway")["ports"][0]["containerPort"] = "8000"


@mutation("unknown apiVersion/kind apps/v1beta1/Deployment")
def removed_api_version(docs: list[Doc]) -> None:
    find(docs, "Deployment", "gateway")["apiVersion"] = "apps/v1beta1"


@mutation("metadata.namespace must be 'arenaflow'")
def no_namespace(docs: list[Doc]) -> None:
    del find(docs, "Service", "gateway")["metadata"]["namespace"]


@mutation("does not match the pod template's labels")
def selector_that_misses_the_pod_labels(docs: list[Doc]) -> None:
    labels = find(docs, "Deployment", "worker")["spec"]["selector"]["matchLabels"]
    labels["app.kubernetes.io/component"] = "workers"


@mutation("targetPort 'web' is not a port of the pods it selects")
def service_target_port_nobody_declares(docs: list[Doc]) -> None:
    find(docs, "Service", "gateway")["spec"]["ports"][0]["targetPort"] = "web"


@mutation("livenessProbe port 8080 is not a declared port")
def probe_on_an_undeclared_port(docs: list[Doc]) -> None:
    _container(docs, "gateway")["livenessProbe"]["httpGet"]["port"] = 8080


@mutation("env ARENAFLOW_STORE_URL is not an arenaflow setting")
def env_var_arenaflow_does_not_read(docs: list[Doc]) -> None:
    _container(docs, "worker")["env"][0]["name"] = "ARENAFLOW_STORE_URL"


@mutation("ARENAFLOW_LOGLEVEL (from ConfigMap arenaflow-config) is not an arenaflow setting")
def configmap_key_arenaflow_does_not_read(docs: list[Doc]) -> None:
    data = find(docs, "ConfigMap", "arenaflow-config")["data"]
    data["ARENAFLOW_LOGLEVEL"] = data.pop("ARENAFLOW_LOG_LEVEL")


@mutation("refers to a missing Secret key arenaflow-secrets/API_KEYS")
def secret_key_that_does_not_exist(docs: list[Doc]) -> None:
    _container(docs, "gateway")["env"][1]["valueFrom"]["secretKeyRef"]["key"] = "API_KEYS"


@mutation("is not the worker Deployment")
def scaling_the_wrong_deployment(docs: list[Doc]) -> None:
    _scaledobject(docs)["scaleTargetRef"]["name"] = "gateway"


@mutation("minReplicaCount must be 0")
def never_to_zero(docs: list[Doc]) -> None:
    _scaledobject(docs)["minReplicaCount"] = 1


@mutation("unknown field 'coolDownPeriod'")
def misspelt_keda_field(docs: list[Doc]) -> None:
    _scaledobject(docs)["coolDownPeriod"] = 300


@mutation("unknown redis-streams metadata key 'lagcount'")
def misspelt_trigger_metadata_key(docs: list[Doc]) -> None:
    metadata = _first_trigger(docs)["metadata"]
    metadata["lagcount"] = metadata.pop("lagCount")


@mutation("lagCount: expected a string, got int")
def a_number_where_keda_wants_a_string(docs: list[Doc]) -> None:
    _first_trigger(docs)["metadata"]["lagCount"] = 500


@mutation("type must be redis-streams")
def another_trigger_type(docs: list[Doc]) -> None:
    _first_trigger(docs)["type"] = "redis"


@mutation("missing trigger for stream arenaflow:stream:tracking:0 group tracking")
def the_archive_group_instead_of_the_main_one(docs: list[Doc]) -> None:
    _first_trigger(docs)["metadata"]["consumerGroup"] = "archive_frames"


@mutation("missing trigger for stream arenaflow:stream:game_events:7 group shots")
def a_partition_left_out(docs: list[Doc]) -> None:
    _scaledobject(docs)["triggers"].pop()


@mutation("missing trigger for stream arenaflow:stream:biometrics:8 group biometrics")
def more_partitions_than_triggers(docs: list[Doc]) -> None:
    find(docs, "ConfigMap", "arenaflow-config")["data"]["ARENAFLOW_PARTITIONS"] = "9"


@mutation("address 'localhost:6379' is not 'redis.arenaflow.svc.cluster.local:6379'")
def keda_reading_another_redis(docs: list[Doc]) -> None:
    _first_trigger(docs)["metadata"]["address"] = "localhost:6379"


@pytest.mark.parametrize("name", MUTATIONS)
def test_checks_catch(name: str, docs: list[Doc]) -> None:
    mutate, expected = MUTATIONS[name]
    mutate(docs)
    errors = all_errors(docs)
    assert any(expected in e for e in errors), errors
