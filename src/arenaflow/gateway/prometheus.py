"""``GET /metrics``: the runtime's, the ingest's and the push tier's figures for Prometheus.

A custom collector reads ``app.metrics(name)`` of every function at scrape time (nothing is
counted twice: the runtime's own counters are the source), into a registry of this gateway
(never prometheus-client's global one, so two gateways in one process, as in tests, do not
clash). Units are Prometheus' base units: seconds, bytes; money in US dollars.

Per function (label ``function``):

* counters ``arenaflow_function_{invocations,events,errors,timeouts,throttles,retries,
  dead_lettered,decode_errors,duplicates_skipped,replayed,cold_starts,provisioned_starts}_total``,
  ``arenaflow_function_gb_seconds_total``, ``arenaflow_function_cost_usd_total``;
* gauges ``arenaflow_function_duration_seconds{quantile="0.5|0.95|0.99"}`` (over the newest
  8,192 invocations), ``arenaflow_function_init_seconds`` (mean cold start),
  ``arenaflow_function_{concurrency,max_concurrency,instances,lag}``.

The gateway: ``arenaflow_ingest_{requests,accepted,rejected}_total`` and
``arenaflow_ingest_responses_total{status}``; the push tier, when the hub has ``stats()``:
``arenaflow_push_subscribers``, ``arenaflow_push_behind`` and ``arenaflow_push_queued`` (gauges) and
``arenaflow_push_<figure>_total`` for its other figures (counters).

Access: served without a key (scrapers usually have none, and the figures hold no game data).
``metrics_routes(state, scope="admin")`` makes it need a key with that scope.

Example:
    >>> from arenaflow import App
    >>> from arenaflow.gateway.app import create_gateway
    >>> from arenaflow.gateway.auth import KeyRing
    >>> from starlette.testclient import TestClient
    >>> app = App()
    >>> @app.function(name="noop")
    ... def noop(events, ctx): ...
    >>> with TestClient(create_gateway(app, keys=KeyRing())) as client:
    ...     text = client.get("/metrics").text
    >>> 'arenaflow_function_invocations_total{function="noop"} 0.0' in text
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from arenaflow.gateway.auth import Principal
from arenaflow.gateway.ingest import authorise

if TYPE_CHECKING:
    from arenaflow.gateway.app import GatewayState

#: ``MetricsSnapshot`` counters exposed as ``arenaflow_function_<name>_total``.
FUNCTION_COUNTERS: Final = (
    ("invocations", "Invocations (batches handed to the function)"),
    ("events", "Events processed"),
    ("errors", "Invocations that failed"),
    ("timeouts", "Invocations stopped by their time limit"),
    ("throttles", "Invocations delayed because max_instances were busy"),
    ("retries", "Retried invocations"),
    ("dead_lettered", "Events sent to the dead-letter topic"),
    ("decode_errors", "Events that did not decode to the trigger's schema"),
    ("duplicates_skipped", "Redelivered events skipped as already applied"),
    ("replayed", "Events run again to rebuild in-memory state after a takeover"),
    ("cold_starts", "Instances started on demand (init ran on the request path)"),
    ("provisioned_starts", "Instances started ahead of demand (min_instances)"),
)
#: ``MetricsSnapshot`` gauges exposed as ``arenaflow_function_<name>``.
FUNCTION_GAUGES: Final = (
    ("concurrency", "Invocations running now"),
    ("max_concurrency", "Most invocations that ran at once"),
    ("instances", "Instances alive (warm or busy)"),
    ("lag", "Events on the function's topics not yet acknowledged"),
)
#: Hub figures that are levels, not running totals.
PUSH_GAUGES: Final = frozenset({"subscribers", "behind", "queued"})


class RuntimeCollector(Collector):
    """Reads the gateway's state at each scrape."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state

    def collect(self) -> Iterable[Metric]:
        app = self.state.app
        snapshots = [app.metrics(name) for name in sorted(app.functions)]
        label = ["function"]
        for field, doc in FUNCTION_COUNTERS:
            family = CounterMetricFamily(f"arenaflow_function_{field}", doc, labels=label)
            for snap in snapshots:
                family.add_metric([snap.function], float(getattr(snap, field)))
            yield family
        for field, doc in FUNCTION_GAUGES:
            gauge = GaugeMetricFamily(f"arenaflow_function_{field}", doc, labels=label)
            for snap in snapshots:
                gauge.add_metric([snap.function], float(getattr(snap, field)))
            yield gauge
        duration = GaugeMetricFamily(
            "arenaflow_function_duration_seconds",
            "Invocation duration quantiles over the newest 8192 invocations",
            labels=["function", "quantile"],
        )
        init = GaugeMetricFamily(
            "arenaflow_function_init_seconds", "Mean duration of an instance's init", labels=label
        )
        gb_s = CounterMetricFamily(
            "arenaflow_function_gb_seconds", "Memory x duration, as Lambda bills", labels=label
        )
        cost = CounterMetricFamily(
            "arenaflow_function_cost_usd", "Cost at AWS Lambda x86 prices", labels=label
        )
        for snap in snapshots:
            for q, ms in (
                ("0.5", snap.duration_ms_p50),
                ("0.95", snap.duration_ms_p95),
                ("0.99", snap.duration_ms_p99),
            ):
                duration.add_metric([snap.function, q], ms / 1000.0)
            init.add_metric([snap.function], snap.init_ms / 1000.0)
            gb_s.add_metric([snap.function], snap.gb_seconds)
            cost.add_metric([snap.function], snap.cost_usd)
        yield from (duration, init, gb_s, cost)
        yield from self._ingest()
        yield from self._push()

    def _ingest(self) -> Iterable[Metric]:
        c = self.state.counters
        for name, value, doc in (
            ("requests", c.ingest_requests, "Requests to /v1/ingest"),
            ("accepted", c.ingest_accepted, "Events accepted onto the transport"),
            ("rejected", c.ingest_rejected, "Events rejected (did not decode)"),
        ):
            yield CounterMetricFamily(f"arenaflow_ingest_{name}", doc, value=float(value))
        responses = CounterMetricFamily(
            "arenaflow_ingest_responses", "Ingest replies by HTTP status", labels=["status"]
        )
        for status, n in sorted(c.by_status.items()):
            responses.add_metric([str(status)], float(n))
        yield responses

    def _push(self) -> Iterable[Metric]:
        stats = getattr(self.state.hub, "stats", None)
        if not callable(stats):
            return
        figures = stats()
        if not isinstance(figures, dict):
            return
        for name, value in sorted(figures.items()):
            if not isinstance(value, int | float) or not str(name).isidentifier():
                continue
            doc = f"Push tier: {name}"
            if name in PUSH_GAUGES:
                yield GaugeMetricFamily(f"arenaflow_push_{name}", doc, value=float(value))
            else:
                yield CounterMetricFamily(f"arenaflow_push_{name}", doc, value=float(value))


def metrics_routes(state: GatewayState, scope: str | None = None) -> list[BaseRoute]:
    """``GET /metrics`` over a registry of its own; ``scope``: a key with it is required."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(state))

    async def metrics(request: Request) -> Response:
        """Prometheus exposition of the runtime's, ingest's and push tier's figures.
        ---
        summary: Prometheus metrics
        responses:
          200: {description: the Prometheus text exposition format}
        """
        if scope is not None:
            principal = authorise(request, state, scope)
            if not isinstance(principal, Principal):
                return principal
        # On the event loop, not a thread: the runtime's counters change on the loop.
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]


def routes(state: GatewayState) -> list[BaseRoute]:
    return metrics_routes(state)
