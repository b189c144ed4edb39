"""``arenaflow worker`` as a process: its endpoint, a clean SIGTERM, and its settings checked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import httpx
import pytest
import redis
from typer.testing import CliRunner

from arenaflow.cli import cli
from tests.fleet.harness import RedisServer, free_port


def test_a_worker_needs_the_redis_transport() -> None:
    result = CliRunner().invoke(cli, ["worker"], env={"ARENAFLOW_TRANSPORT": "memory"})
    assert result.exit_code == 2
    assert "ARENAFLOW_TRANSPORT" in result.output and "redis://" in result.output
    with mock.patch.dict(os.environ):  # a flag stands for its setting in the environment
        result = CliRunner().invoke(cli, ["worker", "--transport", "memory"])
        assert os.environ["ARENAFLOW_TRANSPORT"] == "memory"
    assert result.exit_code == 2 and "'memory'" in result.output


@pytest.mark.slow
def test_a_worker_serves_metrics_and_health_and_leaves_cleanly_on_sigterm(
    server: RedisServer, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENAFLOW_")}
    env["ARENAFLOW_DATA_DIR"] = str(tmp_path)
    log = tmp_path / "worker.log"  # a file, not a pipe nobody reads (a full one blocks it)
    flags = ["--transport", server.url, "--partitions", "4", "--store", "none"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "arenaflow", "worker", *flags, "--metrics-port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").text == "ok":
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.1)
        client = redis.Redis.from_url(server.url)
        deadline = time.monotonic() + 10
        while len(client.keys("arenaflow:lease:*")) < 4:  # alone: it takes every partition
            assert time.monotonic() < deadline
            time.sleep(0.1)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'arenaflow_function_lag{function="tracking"} 0.0' in text
        assert 'arenaflow_function_invocations_total{function="push_relay"}' in text
        # Every group exists on every partition from the start (KEDA reads their lag).
        groups = {g["name"] for g in client.xinfo_groups("arenaflow:stream:tracking:3")}
        assert {b"tracking", b"archive_frames"} & groups == {b"tracking"}
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(15) == 0, log.read_text()
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # it logs the stack of every task
            time.sleep(1)
            pytest.fail(f"still running 15 s after SIGTERM:\n{log.read_text()[-20000:]}")
        assert time.monotonic() - started < 10
        assert client.keys("arenaflow:lease:*") == []  # handed back, nothing to wait out
    finally:
        if proc.poll() is None:
            proc.kill()
