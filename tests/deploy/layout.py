"""Where deploy/ keeps its files, how the tests read them, and the names they must agree on."""

from __future__ import annotations

import copy
import functools
import importlib.util
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from arenaflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
NAMESPACE = "arenaflow"

#: The environment variables arenaflow reads: one per field of its Settings.
SETTINGS_VARS: frozenset[str] = frozenset(f"ARENAFLOW_{f.name.upper()}" for f in fields(Settings))

#: The scale-out contract's ingest topics and the main consumer group of each (a group per
#: function, named after it), and its stream names: ``{prefix}:stream:{topic}:{partition}``.
INGEST_GROUPS: dict[str, str] = {"tracking": "tracking", "biometrics": "biometrics",
                                 "game_events": "shots"}  # fmt: skip
KEY_PREFIX = "arenaflow"
GATEWAY_PORT = 8000
WORKER_METRICS_PORT = 9100


@dataclass(slots=True)
class Doc:
    """One YAML document of a manifest file."""

    file: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind"))

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name"))

    def __str__(self) -> str:
        return f"{self.file} {self.kind}/{self.name}"


def load_module(path: Path) -> ModuleType:
    """Import a script of deploy/ (not a package) by its path."""
    spec = importlib.util.spec_from_file_location(f"deploy_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest of deploy/k8s (kustomization.yaml is kustomize's, not one)."""
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@functools.cache
def _parsed() -> tuple[Doc, ...]:
    return tuple(
        Doc(path.name, body)
        for path in manifest_files()
        for body in yaml.safe_load_all(path.read_text())
        if body is not None
    )


def k8s_docs() -> list[Doc]:
    """Every manifest document, a fresh copy a test may change."""
    return copy.deepcopy(list(_parsed()))


@functools.cache
def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def compose() -> dict[str, Any]:
    """deploy/compose.yaml (merge keys resolved), a fresh copy a test may change."""
    return copy.deepcopy(_compose())


@dataclass(frozen=True, slots=True)
class Instruction:
    """One Dockerfile instruction: ``RUN``, ``COPY``, ... and its arguments as written."""

    stage: int
    name: str
    args: str


def dockerfile() -> list[Instruction]:
    """deploy/Dockerfile's instructions, continuation lines joined, comments dropped; ``stage``
    counts FROMs (0 before the first)."""
    instructions: list[Instruction] = []
    stage, pending = 0, ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        name, _, args = (pending + line).partition(" ")
        pending = ""
        if name.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(stage, name.upper(), args.strip()))
    return instructions


def image_user() -> str:
    """The USER the final stage of the image runs as."""
    final = max(i.stage for i in dockerfile())
    (user,) = [i.args for i in dockerfile() if i.name == "USER" and i.stage == final]
    return user
