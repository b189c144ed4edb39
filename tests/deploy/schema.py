"""The Kubernetes and KEDA fields deploy/k8s may use, and a validator that rejects the rest.

Not the full OpenAPI schemas (those need a package of their own, see test_manifests.py): the
subset of each object the manifests use, with every field name spelt as the API spells it, so a
misspelt or misplaced field, a wrong type or a missing required field is an error instead of a
field the API server would drop or refuse. Sources: the Kubernetes API reference (apps/v1,
core/v1, policy/v1, autoscaling/v2 for the HPA behavior KEDA passes through) and KEDA's
ScaledObject specification and redis-streams scaler pages.

A spec is a Python type (``str``, ``int``, ``bool``), ``INT_OR_STR``, ``QUANTITY``, a ``MAP`` of
strings, an :class:`Enum` of strings, a list ``[spec]`` of one spec, or the name of a
:class:`Struct` in :data:`STRUCTS`.

Example:
    >>> validate({"name": "x", "labels": {"a": 1}, "nmae": "y"}, "ObjectMeta")
    ['$.labels.a: expected a string, got int', "$: unknown field 'nmae'"]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Enum:
    """A string that must be one of ``values``."""

    values: frozenset[str]

    def __init__(self, *values: str) -> None:
        object.__setattr__(self, "values", frozenset(values))


@dataclass(frozen=True, slots=True)
class Struct:
    """An object with known ``fields`` (name -> spec), of which ``required`` must be present."""

    fields: Mapping[str, Any]
    required: frozenset[str] = field(default_factory=frozenset)


def struct(required: tuple[str, ...] = (), **fields: Any) -> Struct:
    unknown = set(required) - set(fields)
    assert not unknown, f"required fields {unknown} are not fields"
    return Struct(fields, frozenset(required))


MAP = "map"  # string -> string (labels, annotations, ConfigMap data, KEDA trigger metadata)
INT_OR_STR = "int-or-string"  # ports by number or name, maxSurge "25%"
QUANTITY = "quantity"  # "500m", "2Gi", or a plain number
ANY = "any"  # a part the manifests do not use, left to the API server

PROTOCOL = Enum("TCP", "UDP", "SCTP")
_meta = struct(("name",), name=str, namespace=str, labels=MAP, annotations=MAP)
_selector = struct(matchLabels=MAP, matchExpressions=[ANY])
_resources = {"requests": {"*": QUANTITY}, "limits": {"*": QUANTITY}}
_key_ref = struct(("key",), name=str, key=str, optional=bool)
_seccomp = struct(
    ("type",), type=Enum("RuntimeDefault", "Localhost", "Unconfined"), localhostProfile=str
)
_hpa_rules = struct(
    stabilizationWindowSeconds=int,
    selectPolicy=Enum("Max", "Min", "Disabled"),
    policies=["HPAScalingPolicy"],
)

STRUCTS: dict[str, Struct] = {
    # -- metadata and workloads -----------------------------------------------------------------
    "ObjectMeta": _meta,
    "LabelSelector": _selector,
    "Namespace": struct(
        ("apiVersion", "kind", "metadata"), apiVersion=str, kind=str, metadata="ObjectMeta"
    ),
    "ConfigMap": struct(
        ("apiVersion", "kind", "metadata"),
        apiVersion=str,
        kind=str,
        metadata="ObjectMeta",
        data=MAP,
        immutable=bool,
    ),
    "Secret": struct(
        ("apiVersion", "kind", "metadata"),
        apiVersion=str,
        kind=str,
        metadata="ObjectMeta",
        type=str,
        data=MAP,
        stringData=MAP,
        immutable=bool,
    ),
    "Service": struct(
        ("apiVersion", "kind", "metadata", "spec"),
        apiVersion=str,
        kind=str,
        metadata="ObjectMeta",
        spec="ServiceSpec",
    ),
    "ServiceSpec": struct(
        ("ports",),
        type=Enum("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"),
        clusterIP=str,
        selector=MAP,
        ports=["ServicePort"],
        publishNotReadyAddresses=bool,
        sessionAffinity=Enum("None", "ClientIP"),
    ),
    "ServicePort": struct(
        ("port",), name=str, port=int, targetPort=INT_OR_STR, protocol=PROTOCOL, appProtocol=str
    ),
    "Deployment": struct(
        ("apiVersion", "kind", "metadata", "spec"),
        apiVersion=str,
        kind=str,
        metadata="ObjectMeta",
        spec="DeploymentSpec",
    ),
    "DeploymentSpec": struct(
        ("selector", "template"),
        replicas=int,
        selector="LabelSelector",
        template="PodTemplateSpec",
        strategy=struct(
            type=Enum("RollingUpdate", "Recreate"),
            rollingUpdate=struct(maxSurge=INT_OR_STR, maxUnavailable=INT_OR_STR),
        ),
        revisionHistoryLimit=int,
        minReadySeconds=int,
        progressDeadlineSeconds=int,
    ),
    "StatefulSet": struct(
        ("apiVersion", "kind", "metadata", "spec"),
        apiVersion=str,
        kind=str,
        metadata="ObjectMeta",
        spec="StatefulSetSpec",
    ),
    "StatefulSetSpec": struct(
        ("selector", "template", "serviceName"),
        replicas=int,
        serviceName=str,
        selector="LabelSelector",
        template="PodTemplateSpec",
        volumeClaimTemplates=["PersistentVolumeClaim"],
        podManagementPolicy=Enum("OrderedReady", "Parallel"),
        updateStrategy=struct(
            type=Enum("RollingUpdate", "OnDelete"),
            rollingUpdate=struct(partition=int, maxUnavailable=INT_OR_STR),
        ),
        persistentVolumeClaimRetentionPolicy=struct(
            whenDeleted=Enum("Retain", "Delete"), whenScaled=Enum("Retain", "Delete")
        ),
        revisionHistoryLimit=int,
        minReadySeconds=int,
    ),
    "PersistentVolumeClaim": struct(
        ("metadata", "spec"),
        metadata="ObjectMeta",
        spec=struct(
            ("accessModes", "resources"),
            accessModes=[
                Enum("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
            ],
            resources=struct(("requests",), requests={"storage": QUANTITY}),
            storageClassName=str,
            volumeMode=Enum("Filesystem", "Block"),
        ),
    ),
    "PodDisruptionBudget": struct(
        ("apiVersion", "kind", "metadata", "spec"),
        apiVersion=str,
        kind=str,
        metadata="ObjectMeta",
        spec="PodDisruptionBudgetSpec",
    ),
    "PodDisruptionBudgetSpec": struct(
        ("selector",),
        minAvailable=INT_OR_STR,
        maxUnavailable=INT_OR_STR,
        selector="LabelSelector",
        unhealthyPodEvictionPolicy=Enum("IfHealthyBudget", "AlwaysAllow"),
    ),
    # -- pods -----------------------------------------------------------------------------------
    "PodTemplateSpec": struct(
        ("metadata", "spec"), metadata=struct(labels=MAP, annotations=MAP), spec="PodSpec"
    ),
    "PodSpec": struct(
        ("containers",),
        containers=["Container"],
        initContainers=["Container"],
        volumes=["Volume"],
        securityContext=struct(
            runAsNonRoot=bool,
            runAsUser=int,
            runAsGroup=int,
            fsGroup=int,
            fsGroupChangePolicy=Enum("OnRootMismatch", "Always"),
            supplementalGroups=[int],
            seccompProfile=_seccomp,
        ),
        terminationGracePeriodSeconds=int,
        serviceAccountName=str,
        automountServiceAccountToken=bool,
        enableServiceLinks=bool,
        topologySpreadConstraints=[
            struct(
                ("maxSkew", "topologyKey", "whenUnsatisfiable"),
                maxSkew=int,
                topologyKey=str,
                whenUnsatisfiable=Enum("DoNotSchedule", "ScheduleAnyway"),
                labelSelector="LabelSelector",
                minDomains=int,
                matchLabelKeys=[str],
            )
        ],
        affinity=ANY,
        nodeSelector=MAP,
        tolerations=[ANY],
        priorityClassName=str,
    ),
    "Container": struct(
        ("name", "image"),
        name=str,
        image=str,
        imagePullPolicy=Enum("Always", "IfNotPresent", "Never"),
        command=[str],
        args=[str],
        workingDir=str,
        ports=[struct(("containerPort",), name=str, containerPort=int, protocol=PROTOCOL)],
        env=["EnvVar"],
        envFrom=[
            struct(
                prefix=str,
                configMapRef=struct(("name",), name=str, optional=bool),
                secretRef=struct(("name",), name=str, optional=bool),
            )
        ],
        resources=struct(**_resources),
        startupProbe="Probe",
        readinessProbe="Probe",
        livenessProbe="Probe",
        lifecycle=struct(preStop="LifecycleHandler", postStart="LifecycleHandler"),
        securityContext=struct(
            runAsNonRoot=bool,
            runAsUser=int,
            runAsGroup=int,
            readOnlyRootFilesystem=bool,
            allowPrivilegeEscalation=bool,
            privileged=bool,
            capabilities=struct(drop=[str], add=[str]),
            seccompProfile=_seccomp,
        ),
        volumeMounts=[
            struct(("name", "mountPath"), name=str, mountPath=str, readOnly=bool, subPath=str)
        ],
    ),
    "EnvVar": struct(
        ("name",),
        name=str,
        value=str,
        valueFrom=struct(
            configMapKeyRef=_key_ref,
            secretKeyRef=_key_ref,
            fieldRef=struct(("fieldPath",), fieldPath=str, apiVersion=str),
        ),
    ),
    "Probe": struct(
        httpGet=struct(
            ("port",),
            path=str,
            port=INT_OR_STR,
            host=str,
            scheme=Enum("HTTP", "HTTPS"),
            httpHeaders=[ANY],
        ),
        exec=struct(("command",), command=[str]),
        tcpSocket=struct(("port",), port=INT_OR_STR),
        initialDelaySeconds=int,
        periodSeconds=int,
        timeoutSeconds=int,
        successThreshold=int,
        failureThreshold=int,
        terminationGracePeriodSeconds=int,
    ),
    "LifecycleHandler": struct(
        exec=struct(("command",), command=[str]),
        httpGet=struct(("port",), path=str, port=INT_OR_STR),
        sleep=struct(("seconds",), seconds=int),
    ),
    "Volume": struct(
        ("name",),
        name=str,
        emptyDir=struct(medium=str, sizeLimit=QUANTITY),
        configMap=struct(("name",), name=str, items=[ANY], defaultMode=int, optional=bool),
        secret=struct(("secretName",), secretName=str, items=[ANY], defaultMode=int, optional=bool),
        persistentVolumeClaim=struct(("claimName",), claimName=str, readOnly=bool),
    ),
    # -- KEDA: keda.sh/v1alpha1 ScaledObject --------------------------------------------------
    "ScaledObject": struct(
        ("apiVersion", "kind", "metadata", "spec"),
        apiVersion=str,
        kind=str,
        metadata="ObjectMeta",
        spec="ScaledObjectSpec",
    ),
    "ScaledObjectSpec": struct(
        ("scaleTargetRef", "triggers"),
        scaleTargetRef=struct(
            ("name",), name=str, apiVersion=str, kind=str, envSourceContainerName=str
        ),
        pollingInterval=int,
        cooldownPeriod=int,
        initialCooldownPeriod=int,
        idleReplicaCount=int,
        minReplicaCount=int,
        maxReplicaCount=int,
        fallback=struct(("failureThreshold", "replicas"), failureThreshold=int, replicas=int),
        advanced=struct(
            restoreToOriginalReplicaCount=bool,
            horizontalPodAutoscalerConfig=struct(
                name=str, behavior=struct(scaleUp=_hpa_rules, scaleDown=_hpa_rules)
            ),
            scalingModifiers=ANY,
        ),
        triggers=["ScaleTrigger"],
    ),
    "HPAScalingPolicy": struct(
        ("type", "value", "periodSeconds"),
        type=Enum("Pods", "Percent"),
        value=int,
        periodSeconds=int,
    ),
    "ScaleTrigger": struct(
        ("type", "metadata"),
        type=str,
        name=str,
        metadata=MAP,
        useCachedMetrics=bool,
        metricType=Enum("AverageValue", "Value", "Utilization"),
        authenticationRef=struct(("name",), name=str, kind=str),
    ),
}

#: (apiVersion, kind) -> the struct of the whole object.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "Service"): "Service",
    ("apps/v1", "Deployment"): "Deployment",
    ("apps/v1", "StatefulSet"): "StatefulSet",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("keda.sh/v1alpha1", "ScaledObject"): "ScaledObject",
}

#: Every metadata key of a ``redis-streams`` trigger in KEDA's scaler documentation.
REDIS_STREAMS_METADATA: frozenset[str] = frozenset(
    {
        "address",
        "host",
        "port",
        "addressFromEnv",
        "hostFromEnv",
        "portFromEnv",
        "usernameFromEnv",
        "passwordFromEnv",
        "stream",
        "consumerGroup",
        "pendingEntriesCount",
        "streamLength",
        "lagCount",
        "activationLagCount",
        "enableTLS",
        "unsafeSsl",
        "databaseIndex",
    }
)


def validate(value: Any, spec: Any, path: str = "$") -> list[str]:
    """Every way ``value`` departs from ``spec``, as ``path: reason`` strings."""
    if isinstance(spec, str) and spec in STRUCTS:
        spec = STRUCTS[spec]
    if spec is ANY:
        return []
    if isinstance(spec, Struct):
        return _validate_struct(value, spec, path)
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        return [e for i, item in enumerate(value) for e in validate(item, spec[0], f"{path}[{i}]")]
    if isinstance(spec, dict):  # fixed keys, or "*" for any key
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        errors = []
        for key, item in value.items():
            inner = spec.get(key, spec.get("*"))
            if inner is None:
                errors.append(f"{path}: unknown field {key!r}")
            else:
                errors.extend(validate(item, inner, f"{path}.{key}"))
        return errors
    return _validate_scalar(value, spec, path)


def _validate_struct(value: Any, spec: Struct, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object, got {type(value).__name__}"]
    errors = []
    for key, item in value.items():
        if key not in spec.fields:
            errors.append(f"{path}: unknown field {key!r}")
        else:
            errors.extend(validate(item, spec.fields[key], f"{path}.{key}"))
    errors.extend(
        f"{path}: missing required field {k!r}" for k in sorted(spec.required - set(value))
    )
    return errors


def _validate_scalar(value: Any, spec: Any, path: str) -> list[str]:
    got = type(value).__name__
    if spec == MAP:
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {got}"]
        return [
            f"{path}.{k}: expected a string, got {type(v).__name__}"
            for k, v in value.items()
            if not isinstance(v, str)
        ]
    if spec == INT_OR_STR:
        ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
        return [] if ok else [f"{path}: expected an integer or a string, got {got}"]
    if spec == QUANTITY:
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected a quantity, got {got}"]
    if isinstance(spec, Enum):
        if value not in spec.values:
            return [f"{path}: {value!r} is not one of {sorted(spec.values)}"]
        return []
    if spec is int and isinstance(value, bool):  # bool is an int subclass in Python
        return [f"{path}: expected an integer, got bool"]
    if isinstance(spec, type) and not isinstance(value, spec):
        names = {str: "a string", int: "an integer", bool: "a boolean"}
        return [f"{path}: expected {names.get(spec, spec.__name__)}, got {got}"]
    return []


def validate_object(doc: Any) -> list[str]:
    """Errors of one manifest document: its (apiVersion, kind) must be known, then its fields."""
    if not isinstance(doc, dict):
        return [f"$: a manifest is an object, got {type(doc).__name__}"]
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key not in KINDS:
        return [f"$: unknown apiVersion/kind {key[0]}/{key[1]}"]
    return validate(doc, KINDS[key])  # type: ignore[index]
