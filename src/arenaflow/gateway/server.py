"""Serving the gateway: uvicorn, with a WebSocket protocol made for the push tier.

A push server sends the same small message to thousands of sockets. Through ASGI each copy costs
a task switch, a trip through the server's WebSocket state machine and a frame encoded for that
socket alone (about 15 us on this class of machine). :class:`PushProtocol` is uvicorn's sans-I/O
``websockets`` protocol plus one ASGI extension, ``"arenaflow.push"``: a :class:`DirectSink`
through which the hub writes a frame it encoded once straight to the connection's transport,
without waiting (a few microseconds, mostly the ``send`` system call). Everything else (the
handshake, client messages, pings, the closing handshake) stays uvicorn's.

Server-to-client frames are never masked (RFC 6455 section 5.1) and the hub sends them
uncompressed, which a connection that negotiated permessage-deflate still accepts (RFC 7692
section 6: a message with RSV1 clear is not compressed), so one encoded frame serves every
subscriber of a message.

The protocol also keeps a slow client's backlog short: each push socket's kernel send buffer is
``PUSH_SNDBUF`` bytes and the transport reports itself not writable as soon as the kernel takes no
more, so a client that falls behind is noticed within a few dozen messages and gets the latest
value per key (conflation, see :mod:`.hub`) instead of seconds of stale updates.

Example:
    >>> from arenaflow import App
    >>> from arenaflow.gateway.app import create_gateway
    >>> from arenaflow.gateway.auth import KeyRing
    >>> config = server_config(create_gateway(App(), keys=KeyRing()), port=8000)
    >>> config.ws is PushProtocol
    True
    >>> text_frame(b'{"type":"pong"}')[:2]
    b'\\x81\\x0f'
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any, Final

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

#: The ASGI scope extension carrying a connection's :class:`DirectSink`.
PUSH_EXTENSION: Final = "arenaflow.push"
#: Kernel send buffer of a push socket (Linux doubles it for its bookkeeping).
PUSH_SNDBUF: Final = 64 * 1024


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented WebSocket text frame carrying ``payload`` (UTF-8 JSON)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class DirectSink:
    """What the hub holds of one connection served by :class:`PushProtocol`."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: PushProtocol) -> None:
        self._protocol = protocol

    def writable(self) -> bool:
        """Whether a frame written now goes straight to the kernel (the client keeps up)."""
        p = self._protocol
        return p.writable.is_set() and not p.close_sent and not p.disconnected

    def closed(self) -> bool:
        """Whether nothing more can be written (closing, or gone)."""
        p = self._protocol
        return p.close_sent or p.disconnected or p.transport.is_closing()

    def write(self, frame: bytes) -> None:
        """Write a frame made by :func:`text_frame`; call only when :meth:`writable`."""
        self._protocol.transport.write(frame)

    async def wait_writable(self) -> None:
        """Until the kernel takes data again (or the connection is lost)."""
        await self._protocol.writable.wait()


class PushProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O ``websockets`` protocol, offering :class:`DirectSink` to the app."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PUSH_SNDBUF)
        # Not writable as soon as anything waits in user space: the kernel's buffer is full.
        self.transport.set_write_buffer_limits(high=0)

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: dict[str, Any] | None = getattr(self, "scope", None)  # set once accepted
        if scope is not None:
            scope["extensions"][PUSH_EXTENSION] = DirectSink(self)


def server_config(app: Any, **options: Any) -> uvicorn.Config:
    """A ``uvicorn.Config`` serving ``app`` (the gateway) with :class:`PushProtocol`; ``options``
    are uvicorn's (host, port, log_level, ...)."""
    options.setdefault("ws", PushProtocol)
    return uvicorn.Config(app, **options)
