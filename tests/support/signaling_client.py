"""A real python-socketio client for tests: real TLS (trusting the test certificate), real
WebSocket or long-polling, and every server event kept in order so a test can wait for one."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import aiohttp
import engineio
import socketio

from tests.support.server import RunningServer

T = TypeVar("T")


async def on_server(server: RunningServer, coro: Coroutine[Any, Any, T]) -> T:
    """Awaits ``coro`` run on the server's own event loop (e.g. ``signaling.tick()``)."""
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, server.loop))


class SignalingClient:
    """Make it inside the test's event loop (it opens an HTTP session there)."""

    def __init__(self, server: RunningServer, transports: Sequence[str] = ("websocket",)) -> None:
        self.server = server
        self.transports = list(transports)
        context = ssl.create_default_context(cafile=str(server.cert))
        self._sockets: list[socket.socket] = []
        # Our own session rather than a factory, so that python-engineio never closes it under
        # a request in flight: closing it (and waiting for its sockets) is ours.
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, socket_factory=self._socket)
        )
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self._http)
        self.events: list[tuple[str, Any]] = []
        self._arrived = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.connect_error: Any = None
        self.sio.on("*", self._on_any)
        self.sio.on("connect_error", self._on_connect_error)
        self.sio.on("disconnect", self._on_disconnect)

    def _socket(self, addr_info: Any) -> socket.socket:
        family, type_, proto, _, _ = addr_info
        sock = socket.socket(family=family, type=type_, proto=proto)
        self._sockets.append(sock)
        return sock

    async def _on_any(self, event: str, data: Any = None) -> None:
        self.events.append((event, data))
        self._arrived.set()

    async def _on_connect_error(self, data: Any = None) -> None:
        self.connect_error = data

    async def _on_disconnect(self, *_args: Any) -> None:
        self.disconnected.set()

    async def connect(self, auth: Any = None) -> None:
        await self.sio.connect(
            self.server.base_url,
            auth={"v": 1} if auth is None else auth,
            transports=self.transports,
            wait_timeout=10,
        )

    async def call(self, event: str, payload: Any = None, timeout: float = 10) -> Any:
        """Emits ``event`` and returns the server's acknowledgement."""
        return await self.sio.call(event, {} if payload is None else payload, timeout=timeout)

    async def join(self, room_name: str, room_key: str | None = None, **fields: Any) -> Any:
        payload: dict[str, Any] = {
            "roomName": room_name,
            "displayName": fields.pop("displayName", "Someone"),
            "audio": fields.pop("audio", False),
            "video": fields.pop("video", False),
        }
        if room_key is not None:
            payload["roomKey"] = room_key
        payload.update(fields)
        return await self.call("join", payload)

    async def next(self, event: str, timeout: float = 10) -> Any:
        """The first not yet taken ``event`` from the server, waiting for it if needed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for index, (name, data) in enumerate(self.events):
                if name == event:
                    del self.events[index]
                    return data
            self._arrived.clear()
            left = deadline - loop.time()
            if left <= 0:
                seen = [name for name, _ in self.events]
                raise AssertionError(f"no {event!r} arrived; events so far: {seen}")
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                continue

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    async def settle(self, seconds: float = 0.3) -> None:
        """Lets in-flight server events arrive (used before asserting that none did)."""
        await asyncio.sleep(seconds)

    async def drop(self) -> None:
        """Cuts the transport without a goodbye, as a network failure would."""
        await self.sio.eio.disconnect(abort=True)

    async def close(self) -> None:
        if self.sio.connected and self.sio.eio.current_transport == "polling":
            await self._close_polling()
        elif self.sio.connected:
            await self.sio.disconnect()
        await self.sio.shutdown()
        await self._http.close()
        await self._sockets_closed()

    async def _close_polling(self) -> None:
        # python-engineio's client waits for its pending long-poll, which the server answers
        # only at its next ping; a browser aborts it. Do as a browser: post the close packet,
        # then cut the poll.
        eio = self.sio.eio
        close = engineio.packet.Packet(engineio.packet.CLOSE).encode()
        async with self._http.post(eio.base_url, data=close) as response:
            await response.read()
        for protocol in list(getattr(self._http.connector, "_acquired", ())):
            if protocol.transport is not None:
                protocol.transport.abort()
        for task in (eio.write_loop_task, eio.read_loop_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await eio.disconnect(abort=True)

    async def _sockets_closed(self, timeout: float = 10) -> None:
        # TLS transports finish closing (close_notify) a few loop turns after they are told
        # to; the test's event loop must outlive them, or they are reported as leaked.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(s.fileno() != -1 for s in self._sockets) and loop.time() < deadline:
            await asyncio.sleep(0.02)
