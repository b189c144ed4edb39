"""deploy/Dockerfile, the root .dockerignore and the image's health check. No container engine
runs here: the Dockerfile is parsed and checked, and the health check script runs against a
local HTTP server."""

from __future__ import annotations

import http.server
import json
import re
import socket
import threading
import tomllib
from collections.abc import Iterator

import pytest

from .layout import DEPLOY, GATEWAY_PORT, ROOT, WORKER_METRICS_PORT, dockerfile, image_user
from .layout import load_module as _load_module


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile()
    last = max(i.stage for i in instructions)
    return [(i.name, i.args) for i in instructions if i.stage == last]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), args
    return [str(v) for v in value]


def test_base_image_and_stages() -> None:
    froms = [i.args for i in dockerfile() if i.name == "FROM"]
    args = {i.args.split("=")[0]: i.args.split("=", 1)[1] for i in dockerfile() if i.name == "ARG"}
    bases = [f.split()[0].replace("${PYTHON_IMAGE}", args["PYTHON_IMAGE"]) for f in froms]
    assert all(b.startswith("python:3.11-slim") for b in bases), bases
    assert len(froms) == 2  # a build stage, and the runtime that copies only the venv from it
    assert ("COPY", "--from=build /opt/arenaflow /opt/arenaflow") in final_stage()


def test_entrypoint_command_ports_and_user() -> None:
    final = dict(final_stage())
    assert exec_form(final["ENTRYPOINT"]) == ["arenaflow"]
    assert exec_form(final["CMD"]) == ["gateway"]
    assert set(final["EXPOSE"].split()) == {str(GATEWAY_PORT), str(WORKER_METRICS_PORT)}
    uid, _, gid = image_user().partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric and not root, so runAsNonRoot can check it"
    assert gid.isdigit() and int(gid) != 0
    assert any(name == "RUN" and f"--uid {uid}" in a for name, a in final_stage())


def test_arenaflow_is_installed_with_the_redis_and_postgres_extras() -> None:
    runs = [i.args for i in dockerfile() if i.name == "RUN"]
    (install,) = [r for r in runs if "pip install" in r]
    match = re.search(r"pip install '\.\[([a-z,]+)\]'", install)
    assert match, install
    extras = set(match.group(1).split(","))
    assert extras == {"redis", "postgres"}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert extras <= set(pyproject["project"]["optional-dependencies"])


def test_healthcheck_asks_both_processes_ports_with_python() -> None:
    final = dict(final_stage())
    options, _, command = final["HEALTHCHECK"].partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = exec_form(command)
    assert argv[:2] == ["python", "/opt/arenaflow/healthcheck.py"]
    assert argv[2:] == [str(GATEWAY_PORT), str(WORKER_METRICS_PORT)]
    copies = [i.args for i in dockerfile() if i.name == "COPY"]
    assert "deploy/healthcheck.py /opt/arenaflow/healthcheck.py" in copies


# -- the build context --------------------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _regex(pattern: str) -> re.Pattern[str]:
    out = ""
    for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
        out += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
            token, re.escape(token)
        )
    return re.compile(out + r"\Z")


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories wins;
    ``!`` lets a path back in."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for raw in patterns:
        negated = raw.startswith("!")
        regex = _regex(raw.lstrip("!").strip("/"))
        if any(regex.match(p) for p in prefixes):
            result = not negated
    return result


def copied_sources() -> Iterator[str]:
    for i in dockerfile():
        if i.name == "COPY" and not i.args.startswith("--from"):
            *sources, _ = i.args.split()
            yield from sources


def test_dockerignore_lets_in_what_the_image_copies_and_nothing_else() -> None:
    patterns = dockerignore_patterns()
    assert patterns[0] == "*", "an allowlist: everything out, then what the build copies"
    sources = set(copied_sources())
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # The build reads the files pyproject.toml names.
    assert {"pyproject.toml", pyproject["readme"], *pyproject["license-files"], "src"} <= sources
    for source in sorted(sources):
        assert (ROOT / source).exists(), source
        assert not ignored(source, patterns), source
    assert not ignored("src/arenaflow/settings.py", patterns)
    for junk in (
        ".venv/bin/python",
        ".git/HEAD",
        ".arenaflow/store.duckdb",
        "tests/conftest.py",
        "benchmarks/push.py",
        "deploy/compose.yaml",
        "src/arenaflow/__pycache__/cli.cpython-311.pyc",
    ):
        assert ignored(junk, patterns), junk


# -- the health check script --------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        body = b"ok" if self.path == "/healthz" else b"not found"
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(status: int) -> Iterator[int]:
    handler = type("Handler", (_Handler,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def healthy_port() -> Iterator[int]:
    yield from _serve(200)


@pytest.fixture
def failing_port() -> Iterator[int]:
    yield from _serve(503)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:  # bound and closed again: nothing listens there now
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_healthcheck_script(healthy_port: int, failing_port: int, closed_port: int) -> None:
    healthcheck = _load_module(DEPLOY / "healthcheck.py")
    assert healthcheck.DEFAULT_PORTS == (GATEWAY_PORT, WORKER_METRICS_PORT)
    assert healthcheck.main([str(healthy_port)]) == 0
    assert healthcheck.main([str(closed_port), str(healthy_port)]) == 0  # a worker: 8000 is shut
    assert healthcheck.main([str(closed_port)]) == 1
    assert healthcheck.main([str(failing_port)]) == 1
