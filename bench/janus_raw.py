"""Janus driven directly over its raw WebSocket API: the baseline of bench/sfu.py.

What a developer writing against Janus without Salon would do: plain JSON over one
WebSocket, one session, a handle per peer connection, requests matched to replies by
transaction. No validation, no typed errors, no translation: the least work a client can do,
so that what Salon adds on top shows in the comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

__all__ = ["RawJanus"]


class RawJanus:
    """One Janus session: ``await RawJanus.connect(url, api_secret)``."""

    def __init__(self, ws: ClientConnection, api_secret: str) -> None:
        self._ws = ws
        self._secret = api_secret
        self._session: int | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def connect(cls, url: str, api_secret: str) -> RawJanus:
        ws = await websockets.connect(
            url, subprotocols=[Subprotocol("janus-protocol")], compression=None
        )
        janus = cls(ws, api_secret)
        janus._tasks.append(asyncio.create_task(janus._read()))
        reply = await janus.send({"janus": "create"})
        janus._session = reply["data"]["id"]
        janus._tasks.append(asyncio.create_task(janus._keepalive()))
        return janus

    async def _read(self) -> None:
        async for text in self._ws:
            message = json.loads(text)
            future = self._pending.get(message.get("transaction", ""))
            if future is not None and message.get("janus") != "ack" and not future.done():
                future.set_result(message)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(15)
            await self.send({"janus": "keepalive"}, wait=False)

    async def send(
        self, message: dict[str, Any], *, handle: int | None = None, wait: bool = True
    ) -> dict[str, Any]:
        """Janus's reply to ``message`` (the event, for asynchronous plugin requests)."""
        transaction = secrets.token_hex(8)
        message = message | {"transaction": transaction, "apisecret": self._secret}
        if self._session is not None:
            message["session_id"] = self._session
        if handle is not None:
            message["handle_id"] = handle
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if wait:
            self._pending[transaction] = future
        try:
            await self._ws.send(json.dumps(message))
            if not wait:
                return {}
            reply = await asyncio.wait_for(future, 10)
        finally:
            self._pending.pop(transaction, None)
        if reply.get("janus") == "error":
            raise RuntimeError(f"Janus error: {reply['error']}")
        data = reply.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise RuntimeError(f"VideoRoom error: {data['error']}")
        return reply

    async def attach(self) -> int:
        reply = await self.send({"janus": "attach", "plugin": "janus.plugin.videoroom"})
        return int(reply["data"]["id"])

    async def message(
        self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        request: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        return await self.send(request, handle=handle)

    async def detach(self, handle: int) -> None:
        with contextlib.suppress(RuntimeError):
            await self.send({"janus": "detach"}, handle=handle)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await self.send({"janus": "destroy"}, wait=False)
        await self._ws.close()
