"""The overlay and dashboard pages in a real browser.

Playwright drives Debian's Chromium (``/usr/bin/chromium``, installed by ``scripts/browser``; the
project never downloads a browser) against a real uvicorn server on a free port, while a
simulated football game is pumped through the runtime in real time. Screenshots land in
``artifacts/``. Without Chromium the browser tests skip, unless ``ARENAFLOW_REQUIRE_SERVICES=1``
(then they fail).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.testclient import TestClient

from arenaflow import App
from arenaflow.gateway.app import create_gateway
from arenaflow.gateway.auth import KeyRing
from arenaflow.gateway.pages import ASSETS
from arenaflow.gateway.server import server_config
from arenaflow.pipeline import PipelineConfig, build_pipeline
from arenaflow.pipeline.rules import Rule
from arenaflow.settings import Settings
from arenaflow.sports.sources import Simulator, pump

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
#: What a figure shows before its first value (an en dash).
NO_VALUE = "\u2013"
FAST = Rule(name="fast", metric="speed", op=">=", threshold=5.0, cooldown_s=2.0)


def _gateway() -> tuple[Any, App, KeyRing, dict[str, str]]:
    app, live = build_pipeline(App(settings=Settings(partitions=2)), PipelineConfig(rules=(FAST,)))
    ring = KeyRing()
    keys = {
        "broadcast": ring.issue("overlay", {"broadcast"}),
        "admin": ring.issue("ops", {"admin"}),
    }
    return create_gateway(app, live=live, keys=ring), app, ring, keys


# -- without a browser -----------------------------------------------------------------------


@pytest.fixture
def client() -> Iterator[tuple[TestClient, dict[str, str]]]:
    gateway, _, _, keys = _gateway()
    with TestClient(gateway) as c:
        yield c, keys


def test_pages_and_their_files_are_served(client: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = client
    for path in ("/overlay", "/dashboard"):
        r = c.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
    for name, media_type in ASSETS.items():
        r = c.get(f"/pages/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"] == media_type
    assert c.get("/pages/secret.py").status_code == 404
    assert c.get("/pages/..%2Fpages.py").status_code == 404


def test_pages_fetch_nothing_from_elsewhere(client: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = client
    for name in ASSETS:
        text = c.get(f"/pages/{name}").text
        assert "http://" not in text and "https://" not in text, name
        assert "@import" not in text and "@font-face" not in text, name


def test_dashboard_stats_need_an_admin_key(client: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = client
    assert c.get("/v1/dashboard/stats").status_code == 401
    assert c.get("/v1/dashboard/stats", params={"key": "nope"}).status_code == 401
    assert c.get("/v1/dashboard/stats", params={"key": keys["broadcast"]}).status_code == 403
    r = c.get("/v1/dashboard/stats", headers={"authorization": f"Bearer {keys['admin']}"})
    assert r.status_code == 200
    stats = r.json()
    names = [f["function"] for f in stats["functions"]]
    assert "tracking" in names and names == sorted(names)
    tracking = next(f for f in stats["functions"] if f["function"] == "tracking")
    for field in (
        "invocations",
        "errors",
        "throttles",
        "duration_ms_p50",
        "duration_ms_p95",
        "duration_ms_p99",
        "cold_starts",
        "concurrency",
        "lag",
        "gb_seconds",
        "cost_usd",
    ):
        assert field in tracking
    assert set(stats["totals"]) >= {"invocations", "errors", "gb_seconds", "cost_usd"}
    assert stats["ingest"] == {"accepted": 0, "rejected": 0, "requests": 0, "by_status": {}}
    assert "push" in stats and isinstance(stats["time"], float)


# -- a live server and a browser --------------------------------------------------------------


class LiveServer:
    """The gateway on uvicorn in a thread of its own, a simulated game pumped in real time."""

    def __init__(self) -> None:
        self.gateway, self.app, self.ring, self.keys = _gateway()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="live-server", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        if not self.ready.wait(30.0) or self.error is not None:
            self.stopping.set()
            raise RuntimeError(f"the live server did not start: {self.error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(30.0)
        self.sock.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        config = server_config(self.gateway, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[self.sock]))
        while not server.started:
            if serving.done():
                serving.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.02)
        game = asyncio.create_task(pump(self.app, Simulator("football", games=1, seed=3)))
        self.ready.set()
        try:
            while not self.stopping.is_set():
                if game.done() and not game.cancelled() and game.exception() is not None:
                    self.error = game.exception()
                await asyncio.sleep(0.05)
        finally:
            game.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await game
            server.should_exit = True
            await serving


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"Debian's Chromium is not installed at {CHROMIUM} (run scripts/browser)"
    if os.environ.get("ARENAFLOW_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    _need_chromium()
    with LiveServer() as server:
        yield server
    assert server.error is None, f"the live server failed: {server.error!r}"


@pytest.fixture(scope="module")
def browser(live: LiveServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def _eventually(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """The first truthy ``check()`` within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _screenshot(page: Any, name: str, **options: Any) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), **options)
    return path


PITCH = """body { background:
  repeating-linear-gradient(90deg, #2f7d32 0 120px, #2a7230 120px 240px) !important; }"""


def test_overlay_shows_live_values(live: LiveServer, page: Any) -> None:
    page.goto(f"{live.url}/overlay?key={live.keys['broadcast']}&game=g0")
    # No players named: the first home and the first away player seen get a card each.
    page.wait_for_selector(".card.away .hero-value[data-raw]", timeout=20_000)
    assert page.locator(".card:not(.away) .hero-value[data-raw]").count() == 1
    speed = page.locator(".card .hero-value").first
    first = speed.text_content()
    _eventually(lambda: speed.text_content() != first, 15.0, "the live speed to change")
    assert page.locator("#compare").is_visible()
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"
    time.sleep(1.0)  # let the cards' entrance animation finish
    _screenshot(page, "overlay.png", omit_background=True)
    page.add_style_tag(content=PITCH)
    _screenshot(page, "overlay-preview.png")


def test_overlay_alert_banner_appears_when_a_rule_fires(live: LiveServer, page: Any) -> None:
    page.goto(f"{live.url}/overlay?key={live.keys['broadcast']}&game=g0&alert_s=4")
    banner = page.locator("#alert")
    page.wait_for_selector("#alert.show", timeout=30_000)
    assert banner.get_attribute("data-state") == "shown"
    assert banner.get_attribute("data-rule") == "fast"
    assert page.locator("#alert .alert-kind").text_content() == "Fast"
    assert page.locator("#alert .alert-value").text_content()
    time.sleep(0.8)  # the slide-in
    page.add_style_tag(content=PITCH)
    _screenshot(page, "overlay-alert.png")


def test_overlay_follows_its_query_string(live: LiveServer, page: Any) -> None:
    players = ["g0-h05", "g0-a05", "g0-h09"]
    page.goto(
        f"{live.url}/overlay?key={live.keys['broadcast']}&game=g0&players={','.join(players)}"
        "&theme=light&speed=ms&metrics=speed,distance,sprints&names=g0-h09:Okafor"
        "&home=d62828&away=1d3557&show=lower,compare"
    )
    page.wait_for_selector(".card .hero-value[data-raw]", timeout=20_000)
    _eventually(lambda: page.locator(".card").count() == 3, 10.0, "three cards")
    assert [c.get_attribute("data-player") for c in page.locator(".card").all()] == players
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    assert page.locator(".card").nth(2).locator(".card-name").text_content() == "Okafor"
    assert page.locator(".card .hero-unit").first.text_content() == "m/s"
    assert page.locator(".card").first.locator(".stat-label").all_text_contents() == [
        "Distance",
        "Sprints",
    ]
    heads = page.locator("#compare .team")
    _eventually(lambda: heads.all_text_contents() == ["Home", "Away"], 10.0, "both teams")
    # Sprints are pushed when they change: a page joining mid-game catches up from REST.
    sprints = page.locator('.card .value[data-metric="sprints"]').first
    _eventually(lambda: sprints.text_content() != NO_VALUE, 10.0, "the sprints from the snapshot")
    time.sleep(1.0)
    page.add_style_tag(content=PITCH)
    _screenshot(page, "overlay-light.png")


def test_overlay_without_a_key_says_so(live: LiveServer, page: Any) -> None:
    page.goto(f"{live.url}/overlay")
    assert page.locator("#nokey").is_visible()
    assert page.evaluate("document.documentElement.dataset.ws") == "nokey"


def test_overlay_with_a_refused_key_says_so(live: LiveServer, page: Any) -> None:
    page.goto(f"{live.url}/overlay?key=not-a-key")
    page.locator("#nokey").wait_for(state="visible", timeout=10_000)
    assert page.evaluate("document.documentElement.dataset.ws") == "refused"
    assert "does not know this key" in (page.locator("#nokey").text_content() or "")


def test_dashboard_shows_invocations_rising(live: LiveServer, page: Any) -> None:
    page.goto(f"{live.url}/dashboard?key={live.keys['admin']}")
    page.wait_for_selector('#functions tr[data-function="tracking"]', timeout=10_000)
    total = page.locator("#total-invocations")

    def invocations() -> int:
        return int(total.get_attribute("data-raw") or 0)

    before = invocations()
    _eventually(lambda: invocations() > before, 10.0, "the invocations to rise")
    row = page.locator('#functions tr[data-function="tracking"] td[data-field="invocations"]')
    first = int(row.get_attribute("data-raw") or 0)
    _eventually(
        lambda: int(row.get_attribute("data-raw") or 0) > first, 10.0, "tracking to be invoked"
    )
    assert page.evaluate("document.documentElement.dataset.health") == "ok"
    assert page.locator("#problem").is_hidden()
    time.sleep(3.0)  # a few points on the charts
    _screenshot(page, "dashboard.png", full_page=True)


def test_dashboard_without_an_admin_key_says_so(live: LiveServer, page: Any) -> None:
    page.goto(f"{live.url}/dashboard?key={live.keys['broadcast']}")
    problem = page.locator("#problem")
    problem.wait_for(state="visible", timeout=10_000)
    assert "403" in (problem.text_content() or "")
