"""A minimal Socket.IO v4 client (Engine.IO v4 over one WebSocket), light enough to run
thousands of connections in one benchmark process.

It is an ``asyncio.Protocol`` that speaks RFC 6455 itself: one HTTP upgrade, then frames parsed
straight out of ``data_received`` with no task, queue or future per message, so a received
message costs a few microseconds plus TLS. It knows just enough of the protocols for
bench/signaling.py:

- Engine.IO: the ``0{...}`` open packet, ``2`` pings answered with ``3``, ``1`` close;
  WebSocket pings answered with pongs.
- Socket.IO (namespace ``/``): ``40{auth}`` connect, ``40{"sid"}`` / ``44{...}`` answers,
  events ``42[...]`` (handed raw to ``on_event``), events with an ack id ``42<id>[...]`` and
  their answers ``43<id>[...]``.

No long-polling, no reconnection, no binary packets, no other namespaces.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import ssl
from collections.abc import Callable
from typing import Any

__all__ = ["EioClient", "EioError", "open_client"]

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_HTTP, _WS, _CLOSED = 0, 1, 2
_OP_CONT, _OP_TEXT, _OP_BIN, _OP_CLOSE, _OP_PING, _OP_PONG = 0, 1, 2, 8, 9, 10

EventHandler = Callable[["EioClient", bytes], None]
AckHandler = Callable[[bytes], None]


class EioError(Exception):
    """The server refused, closed or broke the connection."""


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 §5.3: every client frame is masked)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0xFF)) + n.to_bytes(8, "big")
    mask = random.getrandbits(32).to_bytes(4, "little")
    if n:
        key = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
        payload = (int.from_bytes(payload, "little") ^ key).to_bytes(n, "little")
    return head + mask + payload


class EioClient(asyncio.Protocol):
    """One Socket.IO connection. Create it with :func:`open_client`."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self.transport: asyncio.Transport | None = None
        self._state = _HTTP
        self._buf = b""
        self._fragments: list[bytes] = []
        self._fragment_op = 0
        self._ws_key = base64.b64encode(os.urandom(16))
        self._waiter: asyncio.Future[bytes] | None = None
        self._acks: dict[int, AckHandler] = {}
        self._next_ack = 0
        self.on_event: EventHandler | None = None
        self.sid: str | None = None
        self.lost = False  # the transport is gone (closed by either side)
        self.server_closed = False  # the server closed or disconnected us
        self.pings = 0  # Engine.IO pings answered
        self.error = ""  # why the connection ended, when it did not end by close()

    # -- opening ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is no asyncio.Transport

    async def _open(self, path: str, auth: dict[str, Any], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            self._waiter = loop.create_future()
            self._write(
                f"GET {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {self._ws_key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
                "\r\n".encode()
            )
            await self._waiter  # the Engine.IO open packet
            self._waiter = loop.create_future()
            self.send_text(b"40" + json.dumps(auth, separators=(",", ":")).encode())
            answer = await self._waiter  # Socket.IO's connect answer
            self.sid = json.loads(answer[2:])["sid"]
            self._waiter = None

    def _resolve(self, packet: bytes | None, error: str | None = None) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if error is None and packet is not None:
            waiter.set_result(packet)
        else:
            waiter.set_exception(EioError(error or "connection lost"))

    # -- receiving ----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        try:
            self._received(data)
        except Exception as exc:
            # A bug here must not pass for a server that dropped us.
            self.error = f"client error: {exc!r}"
            self._fail(self.error)

    def _received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        if self._state == _HTTP:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self._buf = buf
                return
            self._check_upgrade(buf[:end])
            buf = buf[end + 4 :]
            if self._state != _WS:
                return
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, start = b1 & 0x7F, pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            end = start + length
            if end > size:
                break
            pos = end
            self._frame(b0, buf[start:end])
            if self._state == _CLOSED:
                return
        self._buf = buf[pos:]

    def _check_upgrade(self, head: bytes) -> None:
        accept = base64.b64encode(hashlib.sha1(self._ws_key + _WS_GUID).digest())
        lines = head.split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if not lines[0].startswith(b"HTTP/1.1 101") or headers.get(b"sec-websocket-accept") != (
            accept
        ):
            self._fail(f"upgrade refused: {lines[0][:100]!r}")
            return
        self._state = _WS

    def _frame(self, b0: int, payload: bytes) -> None:
        opcode = b0 & 0x0F
        if opcode == _OP_TEXT and b0 & 0x80:
            self._packet(payload)
        elif opcode in (_OP_TEXT, _OP_BIN, _OP_CONT):
            if opcode != _OP_CONT:
                self._fragments, self._fragment_op = [], opcode
            self._fragments.append(payload)
            if b0 & 0x80:
                whole, self._fragments = b"".join(self._fragments), []
                if self._fragment_op == _OP_TEXT:
                    self._packet(whole)
        elif opcode == _OP_PING:
            self._write(_frame(_OP_PONG, payload))
        elif opcode == _OP_CLOSE:
            self.server_closed = True
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            self.error = self.error or f"the server closed the WebSocket ({code})"
            self._write(_frame(_OP_CLOSE, payload[:2]))
            self._fail("the server closed the WebSocket")

    def _packet(self, p: bytes) -> None:
        """One Engine.IO packet (a whole text message)."""
        kind = p[0]
        if kind == 0x34 and len(p) > 1:  # '4' message: a Socket.IO packet
            sio = p[1]
            if sio == 0x32:  # '2' event
                if self.on_event is not None:
                    self.on_event(self, p)
            elif sio == 0x33:  # '3' ack
                bracket = p.find(b"[", 2)
                handler = self._acks.pop(int(p[2:bracket]), None)
                if handler is not None:
                    handler(p[bracket:])
            elif sio == 0x30:  # '0' connected
                self._resolve(p)
            elif sio == 0x34:  # '4' connect error
                self._resolve(None, f"refused: {p[2:300].decode(errors='replace')}")
            elif sio == 0x31:  # '1' disconnected by the server
                self.server_closed = True
                self.error = self.error or "the server disconnected the Socket.IO session"
        elif kind == 0x32:  # '2' ping
            self.pings += 1
            self.send_text(b"3")
        elif kind == 0x30:  # '0' open
            self._resolve(p)
        elif kind == 0x31:  # '1' close
            self.server_closed = True
            self.error = self.error or "the server closed the Engine.IO session"

    def connection_lost(self, exc: Exception | None) -> None:
        if self._state != _CLOSED or exc is not None:
            self.error = self.error or f"connection lost: {exc!r}"
        self.lost = True
        self._state = _CLOSED
        self._resolve(None, f"connection lost: {exc!r}" if exc else "connection closed")

    def _fail(self, why: str) -> None:
        self.error = self.error or why
        self._state = _CLOSED
        self._resolve(None, why)
        if self.transport is not None:
            self.transport.close()

    # -- sending ------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.lost:
            self.transport.write(data)

    def send_text(self, packet: bytes) -> None:
        self._write(_frame(_OP_TEXT, packet))

    def emit_raw(self, body: bytes, on_ack: AckHandler | None = None) -> None:
        """Sends the event whose JSON array (``["name",{...}]``) is ``body``; ``on_ack`` gets
        the raw JSON array of the acknowledgement's arguments."""
        if on_ack is None:
            self.send_text(b"42" + body)
            return
        self._next_ack += 1
        self._acks[self._next_ack] = on_ack
        self.send_text(b"42%d%b" % (self._next_ack, body))

    async def call(self, event: str, data: Any, timeout: float = 30.0) -> Any:
        """Emits ``event`` with an ack and returns the ack's first argument."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bytes] = loop.create_future()

        def done(raw: bytes) -> None:
            if not answer.done():
                answer.set_result(raw)

        self.emit_raw(json.dumps([event, data], separators=(",", ":")).encode(), done)
        async with asyncio.timeout(timeout):
            while not answer.done():
                if self.lost:
                    raise EioError(f"no ack for {event}: {self.error or 'connection closed'}")
                await asyncio.wait([answer], timeout=0.5)
        return json.loads(answer.result())[0]

    def close(self) -> None:
        """Closes politely (WebSocket close frame) without waiting for the server."""
        if self.transport is None or self.lost:
            return
        with contextlib.suppress(Exception):
            self._write(_frame(_OP_CLOSE, (1000).to_bytes(2, "big")))
        self._state = _CLOSED
        self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def open_client(
    host: str,
    port: int,
    tls: ssl.SSLContext,
    *,
    auth: dict[str, Any] | None = None,
    path: str = "/socket.io/?EIO=4&transport=websocket",
    timeout: float = 30.0,
) -> EioClient:
    """A connected Socket.IO client (WebSocket transport, namespace ``/``)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        _, client = await loop.create_connection(lambda: EioClient(host, port), host, port, ssl=tls)
    try:
        await client._open(path, auth if auth is not None else {"v": 1}, timeout)
    except BaseException:
        client.abort()
        raise
    return client
