"""A real ``salon serve`` process: signaling over WSS and long-polling leaves no IP address, no
display name and no chat text in its log or anywhere in its data dir."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.process import salon, serve
from tests.support.signaling_client import SignalingClient

pytestmark = pytest.mark.anyio


async def test_signaling_through_salon_serve_leaves_no_trace(tmp_path: Path):
    data = tmp_path / "data"
    salon(data, "org", "create", "acme")
    key = salon(data, "keys", "create", "--org", "acme").stdout.strip().splitlines()[-1]
    name = f"canary-name-{uuid.uuid4().hex}"
    external = f"canary-ext-{uuid.uuid4().hex}"
    chat = f"canary-chat-{uuid.uuid4().hex}"
    end = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    with serve(data) as running:
        with running.client(key) as http:
            room = http.post("/v1/meetings", json={"endDate": end}).json()["roomName"]
        target: Any = running  # the client needs only base_url and cert
        ws, polling = SignalingClient(target), SignalingClient(target, ("polling",))
        try:
            await ws.connect()
            await polling.connect()
            first = await ws.join(room, displayName=name, externalId=external)
            assert first["ok"], first
            assert (await polling.join(room, displayName="Polly"))["ok"]
            assert (await ws.call("chat", {"messageId": "m-1", "text": chat}))["ok"]
            assert (await polling.next("chat"))["text"] == chat
            assert (await polling.call("leave", {}))["ok"]
            assert (await ws.call("leave", {}))["ok"]
        finally:
            await ws.close()
            await polling.close()
        log = running.log()
    assert "WebSocket" not in log
    assert "Traceback" not in log
    # The only address in the log is the server's own listening one.
    assert [
        line for line in log.splitlines() if "127.0.0.1" in line and "running on" not in line
    ] == []
    for canary in (name, external, chat):
        assert canary not in log
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        content = path.read_bytes()
        for canary in (name, external, chat):
            assert canary.encode() not in content, f"{canary} found in {path}"
        if path.suffix != ".log":
            assert b"127.0.0.1" not in content, f"an IP address is stored in {path}"
