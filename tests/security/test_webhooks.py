import time

import pytest

from arenaflow import App, ConfigError, webhook
from arenaflow.security.webhooks import SignatureError, sign, verify


def test_sign_and_verify_round_trip() -> None:
    header = sign(b"payload", "k", timestamp=1000)
    verify(b"payload", header, "k", now=1100)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing"),
        ("garbage", "must read"),
        (sign(b"payload", "k", timestamp=1000), "away from now"),
        (sign(b"payload", "other", timestamp=5000), "does not match"),
        (sign(b"tampered", "k", timestamp=5000), "does not match"),
    ],
)
def test_verify_rejects(header: str | None, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify(b"payload", header, "k", now=5000)


async def test_app_webhook_invokes_only_when_signed() -> None:
    app = App()
    seen: list[bytes] = []

    @app.function(webhook("scores", secret="s3cret"))
    async def on_score(events, ctx):
        seen.append(events[0].value)
        return {"ok": True}

    async with app:
        body = b'{"home": 1}'
        assert await app.handle_webhook("scores", body, sign(body, "s3cret")) == {"ok": True}
        with pytest.raises(SignatureError):
            await app.handle_webhook("scores", body, sign(body, "wrong"))
        with pytest.raises(ConfigError, match="no function has webhook"):
            await app.handle_webhook("nope", body, None)
    assert seen == [body]
    assert app.metrics("on_score").invocations == 1
    assert abs(time.time() - int(sign(b"", "k").split(",")[0][2:])) < 5
