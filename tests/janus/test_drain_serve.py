"""``salon sfu drain`` reaches a running ``salon serve``: a real server in the external mode
with two real Janus nodes (control plane only, on loopback), group rooms made by real
signaling clients joining them, and each node asked directly how many rooms it has.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.signaling_client import SignalingClient
from tests.janus.external_pool import ExternalPool, external_pool
from tests.support.process import ServeProcess, salon, serve

pytestmark = pytest.mark.skipif(not Path("/usr/bin/janus").exists(), reason="Janus missing")


def _until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def _listed(data: Path, env: dict[str, str]) -> dict[str, list[str]]:
    """``salon sfu nodes``: node id -> the rest of its row."""
    lines = salon(data, "sfu", "nodes", env=env).stdout.splitlines()
    assert lines[0].split()[:4] == ["NODE", "REGION", "STATUS", "DRAINING"], lines
    rows = {}
    for line in lines[1:]:
        if not line.strip():
            break
        node_id, *rest = line.split()
        rows[node_id] = rest
    return rows


def _shows(data: Path, env: dict[str, str], node_id: str, draining: str, rooms: int) -> bool:
    # REGION STATUS DRAINING ROOMS PARTICIPANTS REPORTED: applied (no "(pending)"), fresh.
    row = _listed(data, env)[node_id]
    return row[:4] == ["default", "up", draining, str(rooms)] and row[-1] == "ago"


def _group_room(running: ServeProcess, api_key: str) -> str:
    end = datetime.now(UTC) + timedelta(hours=1)
    with running.client(api_key) as http:
        made = http.post("/v1/meetings", json={"endDate": end.isoformat(), "roomMode": "group"})
    assert made.status_code == 201, made.text
    room_name: str = made.json()["roomName"]
    return room_name


def _join(stack: contextlib.ExitStack, running: ServeProcess, room_name: str) -> SignalingClient:
    client = stack.enter_context(SignalingClient(running.base_url, running.cert))
    joined = client.call(
        "join", {"roomName": room_name, "displayName": "Ann", "audio": False, "video": False}
    )
    assert joined["ok"], joined
    return client


def _rooms(janus: ExternalPool) -> list[int]:
    return [janus.health(i).rooms for i in range(len(janus.nodes))]


def test_a_running_server_obeys_salon_sfu_drain(tmp_path: Path) -> None:
    with external_pool(tmp_path / "janus") as janus:
        env = janus.env | {"SALON_TURN_MODE": "off"}
        data = tmp_path / "data"
        salon(data, "org", "create", "acme", env=env)
        api_key = salon(data, "keys", "create", "--org", "acme", env=env).stdout.split()[-1]
        first, second = janus.node_id(0), janus.node_id(1)
        with serve(data, env=env) as running, contextlib.ExitStack() as people:
            for node_id in (first, second):
                _until(lambda n=node_id: _shows(data, env, n, "no", 0), f"{node_id} reported up")

            # Drained from another process: the server places every new room elsewhere.
            drained = salon(data, "sfu", "drain", first, env=env)
            assert f"SFU node {first} is draining" in drained.stdout
            assert drained.stderr == ""  # the node is reported, and another takes rooms
            _until(lambda: _shows(data, env, first, "yes", 0), "the drain to be applied")
            clients = [_join(people, running, _group_room(running, api_key)) for _ in range(3)]
            assert _rooms(janus) == [0, 3]
            _until(lambda: _shows(data, env, second, "no", 3), "the rooms to be reported")
            assert f"SFU node {first} is draining" in running.log()

            # Undrained: it takes rooms again (it is the least loaded).
            salon(data, "sfu", "drain", first, "--undrain", env=env)
            _until(lambda: _shows(data, env, first, "no", 0), "the undrain to be applied")
            clients.append(_join(people, running, _group_room(running, api_key)))
            assert _rooms(janus) == [1, 3]

            # --move: the second node's rooms move to the first now, their clients are told
            # to start over there, and nothing is left behind on the second.
            moved = salon(data, "sfu", "drain", second, "--move", env=env)
            assert "its rooms move to other nodes now" in moved.stdout
            _until(lambda: _rooms(janus) == [4, 0], "the rooms to move to the first node")
            for client in clients[:3]:
                _until(lambda c=client: "sfu_reset" in [e for e, _ in c.events], "sfu_reset")
            assert "sfu_reset" not in [e for e, _ in clients[3].events]
            _until(lambda: _shows(data, env, second, "yes", 0), "the drain to be reported")
            _until(lambda: _shows(data, env, first, "no", 4), "the moved rooms to be reported")
