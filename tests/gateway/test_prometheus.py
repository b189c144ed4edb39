"""GET /metrics: the runtime's figures per function, ingest counters and push figures, in the
Prometheus text format, parsed back with prometheus-client's own parser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import msgspec
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from arenaflow.gateway.prometheus import metrics_routes
from arenaflow.sports.schemas import TrackedObject, TrackingFrame
from arenaflow.sports.sources import Simulator, pump

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def test_runtime_ingest_and_push_figures(serve: Callable[..., Any]) -> None:
    async with serve() as s:
        r = await s.client.get("/metrics")  # no key: scrapers have none
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain; version=")
        before = parse(r.text)
        assert value(before, "arenaflow_function_invocations_total", function="tracking") == 0

        await pump(s.app, Simulator("football", games=2, seed=2, hr_hz=1.0).frames_for(4.0), None)
        await s.app.drain(timeout=60)
        frame = TrackingFrame(
            game_id="g7",
            frame=1,
            timestamp=1.0,
            objects=[TrackedObject(id="p", team="home", x=0.0, y=0.0)],
        )
        body = msgspec.json.encode([frame, {"game_id": 1}])
        r = await s.client.post("/v1/ingest/tracking", content=body, headers=s.auth("ingest"))
        assert r.status_code == 207
        await s.client.post("/v1/ingest/tracking", content=body)  # 401
        await s.app.drain(timeout=60)

        after = parse((await s.client.get("/metrics")).text)
        for name in s.app.functions:
            snap = s.app.metrics(name)
            assert value(after, "arenaflow_function_invocations_total", function=name) == float(
                snap.invocations
            )
            assert value(after, "arenaflow_function_errors_total", function=name) == snap.errors
            assert value(after, "arenaflow_function_lag", function=name) == 0
        tracking = s.app.metrics("tracking")
        assert tracking.invocations > 0
        p50 = value(
            after, "arenaflow_function_duration_seconds", function="tracking", quantile="0.5"
        )
        p99 = value(
            after, "arenaflow_function_duration_seconds", function="tracking", quantile="0.99"
        )
        assert 0 < p50 <= p99 < 5
        assert value(after, "arenaflow_function_gb_seconds_total", function="tracking") > 0
        assert value(after, "arenaflow_function_cost_usd_total", function="tracking") > 0
        assert value(after, "arenaflow_function_cold_starts_total", function="tracking") >= 1
        assert value(after, "arenaflow_ingest_requests_total") == 2
        assert value(after, "arenaflow_ingest_accepted_total") == 1
        assert value(after, "arenaflow_ingest_rejected_total") == 1
        assert value(after, "arenaflow_ingest_responses_total", status="207") == 1
        assert value(after, "arenaflow_ingest_responses_total", status="401") == 1
        if callable(getattr(s.state.hub, "stats", None)):
            stats = s.state.hub.stats()
            for name, figure in stats.items():
                key = (
                    f"arenaflow_push_{name}"
                    if name in ("subscribers", "behind", "queued")
                    else (f"arenaflow_push_{name}_total")
                )
                assert value(after, key) == figure


async def test_two_gateways_have_their_own_registries_and_metrics_can_need_a_key(
    serve: Callable[..., Any],
) -> None:
    async with serve() as one, serve() as two:
        await one.client.post("/v1/ingest/tracking", content=b"[]", headers=one.auth("ingest"))
        a = parse((await one.client.get("/metrics")).text)
        b = parse((await two.client.get("/metrics")).text)
        assert value(a, "arenaflow_ingest_requests_total") == 1
        assert value(b, "arenaflow_ingest_requests_total") == 0

        # Restricted: admin keys only.
        [route] = metrics_routes(one.state, scope="admin")
        restricted = Starlette(routes=[route])
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=restricted), base_url="http://x"
        ) as client:
            assert (await client.get("/metrics")).status_code == 401
            r = await client.get("/metrics", headers=one.auth("fan"))
            assert r.status_code == 403
            r = await client.get("/metrics", headers=one.auth("admin"))
            assert r.status_code == 200 and "arenaflow_function_invocations_total" in r.text
