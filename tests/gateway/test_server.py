"""The push tier's WebSocket protocol: frames it writes itself, and what a connection offers."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from arenaflow.gateway.server import PUSH_SNDBUF, PushProtocol, server_config, text_frame


def _parse(data: bytes) -> Frame:
    """Read ``data`` back with the websockets library's own frame parser (as a client would)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_text_frame_matches_the_websockets_library_at_every_length_boundary(size: int) -> None:
    payload = b"x" * size
    frame = text_frame(payload)
    assert frame == Frame(Opcode.TEXT, payload).serialize(mask=False)
    parsed = _parse(frame)
    assert (parsed.opcode, parsed.fin, parsed.rsv1, bytes(parsed.data)) == (
        Opcode.TEXT,
        True,
        False,  # never marked compressed: valid with or without permessage-deflate
        payload,
    )


def test_server_config_serves_with_the_push_protocol_unless_told_otherwise() -> None:
    assert server_config(object(), port=0).ws is PushProtocol
    assert server_config(object(), port=0, ws="wsproto").ws == "wsproto"
    assert PUSH_SNDBUF >= 16 * 1024  # room for a burst of a game's updates
