"""Fresh TURN credentials in a relay-only group room: both connections of a page restart ICE
onto new relay allocations, and nobody's video stops (issue: TURN credentials expire, coturn
refuses to refresh an allocation with an expired one, so a relayed path to Janus must move to
allocations made with the new credentials before the old ones run out).

A real ``salon serve`` (a subprocess) runs its embedded Janus and coturn, Janus with its media
on one end of a veth pair made in this test's network namespace (``scripts/e2e``; Janus never
offers loopback candidates), coturn relaying from that same address (``SALON_TURN_RELAY_IPS``:
a relay's own address is the one private address it may reach, so the relay reaches Janus and
nothing else). The meeting is relay-only, so every page connects to Janus through coturn.

Three Chromium pages decode each other. Then one page is handed fresh credentials the way the
server hands them (TURN REST credentials made with the shared secret in ``salon serve``'s data
dir, delivered to the page's ``ice_servers`` listeners as the signaling delivers them). Its
publisher and subscriber must each restart ICE (new ICE credentials on both sides, the same
RTCPeerConnections, no start-over) and end on relay pairs over allocations they did not have
before; meanwhile every page keeps decoding every other's video, with no long stall.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from salon.turn.credentials import issue_credential, load_turn_secret
from tests.e2e import test_group_sfu as group_sfu
from tests.e2e.conftest import Participants, run_salon
from tests.e2e.media import receiving_from
from tests.e2e.polling import wait_until
from tests.e2e.room_page import Participant
from tests.janus.support import Veth

# test_group_sfu's veth pair fixture, shared (assigned, so that pytest finds it here).
veth = group_sfu.veth

# The longest a page may go without decoding a new frame from someone while ICE restarts. A
# start-over (a new subscription) would stop every stream until its connection is up; the
# sampling itself takes a while on the shared two-core machine that runs these tests.
MAX_STALL_S = 5.0

# The SFU link's two connections: ICE state, configuration, ICE credentials of both
# descriptions, the selected pair's candidates, and a mark set on the connection object (a new
# RTCPeerConnection would not have it); with the link's restart counters.
_LINK = """
async () => {
  const link = window.salon && window.salon.client && window.salon.client.sfu;
  if (!link) return null;
  const ufrag = (d) => ((d && d.sdp) || "").match(/^a=ice-ufrag:(\\S+)/m)?.[1] ?? null;
  const out = { renewals: { ...link.renewals }, restarts: { ...link.restarts }, connections: {} };
  for (const [role, pc] of Object.entries(link.peerConnections())) {
    if (!pc) continue;
    const report = await pc.getStats();
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    let pair = null;
    report.forEach((s) => {
      const id = s.type === "transport" && s.selectedCandidatePairId;
      if (id) pair = byId.get(id);
    });
    const side = (c) => c ? { type: c.candidateType, address: c.address || c.ip || "",
                              port: c.port, relayProtocol: c.relayProtocol || null } : null;
    const config = pc.getConfiguration();
    out.connections[role] = {
      mark: pc.__renewalMark || null,
      ice: pc.iceConnectionState,
      policy: config.iceTransportPolicy,
      usernames: (config.iceServers || []).map((s) => s.username || null),
      localUfrag: ufrag(pc.localDescription),
      remoteUfrag: ufrag(pc.remoteDescription),
      local: pair ? side(byId.get(pair.localCandidateId)) : null,
      remote: pair ? side(byId.get(pair.remoteCandidateId)) : null,
    };
  }
  return out;
}
"""

_MARK = """(token) => {
  const { publisher, subscriber } = window.salon.client.sfu.peerConnections();
  publisher.__renewalMark = token;
  subscriber.__renewalMark = token;
}"""

# What the page's signaling does with a server event: every listener of it gets the payload.
_DELIVER_ICE_SERVERS = """(payload) => {
  const listeners = window.salon.client.socket.listeners.get("ice_servers");
  for (const listener of [...(listeners || [])]) listener(payload);
  return listeners ? listeners.size : 0;
}"""


def _link(person: Participant) -> dict[str, Any]:
    found: dict[str, Any] | None = person.page.evaluate(_LINK)
    assert found is not None, f"{person.name} has no SFU link"
    return found


def _relayed_to_janus(person: Participant, veth: Veth) -> dict[str, Any]:
    """``person``'s link, once both its connections are up over relay pairs to Janus."""
    link = _link(person)
    connections = link["connections"]
    assert set(connections) == {"publisher", "subscriber"}, connections
    for role, c in connections.items():
        assert c["policy"] == "relay", (person.name, role, c)
        if c["ice"] not in ("connected", "completed") or c["local"] is None:
            return {}
        assert c["local"]["type"] == "relay", (person.name, role, c)
        assert c["remote"]["address"] == veth.janus_address, (person.name, role, c)
    return link


def _allocation(connection: dict[str, Any]) -> tuple[str, int]:
    return connection["local"]["address"], connection["local"]["port"]


def _fresh_ice_servers(person: Participant, data_dir: Path) -> dict[str, Any]:
    """The page's ICE servers with a new TURN credential, as ``salon serve`` makes them: a
    TURN REST credential signed with the shared secret in its data dir."""
    secret = load_turn_secret(data_dir / "turn.secret", create=False)
    credential = issue_credential(secret, datetime.now(UTC) + timedelta(hours=1))
    servers: list[dict[str, Any]] = person.page.evaluate("() => window.salon.client.iceServers")
    turn = [s for s in servers if s.get("username")]
    assert turn, f"{person.name} was given no TURN server: {servers}"
    assert all(s["username"] != credential.username for s in turn)
    fresh = [
        s | {"username": credential.username, "credential": credential.password.reveal()}
        if s.get("username")
        else s
        for s in servers
    ]
    return {"iceServers": fresh, "iceTransportPolicy": "relay"}


class FrameWatch:
    """Samples every page's decoded frames from every other page; keeps the longest time any
    of them waited between two samples that saw new frames, and fails on a stall."""

    def __init__(self, people: list[Participant]) -> None:
        self.people = people
        self.last: dict[tuple[str, str], tuple[int, float]] = {}
        self.longest = 0.0
        self.sample()

    def sample(self) -> None:
        for person in self.people:
            now = time.monotonic()
            seen = person.stats()
            assert len(seen) == 2, f"{person.name} receives from {sorted(seen)}"
            for pid, stats in seen.items():
                key = (person.name, pid)
                frames, since = self.last.get(key, (-1, now))
                waited = now - since
                assert waited <= MAX_STALL_S, (
                    f"{person.name} decoded nothing new from {pid} for {waited:.1f} s"
                )
                if stats.frames_decoded > frames:
                    self.last[key] = (stats.frames_decoded, now)
                    self.longest = max(self.longest, waited)

    def frames(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (name, pid), (frames, _) in self.last.items():
            out.setdefault(name, {})[pid] = frames
        return out


def _renewed(
    person: Participant, veth: Veth, before: dict[str, Any], token: str, watch: FrameWatch
) -> dict[str, Any]:
    """``person``'s link once both connections restarted ICE onto new relay allocations (and
    every page's frames sampled meanwhile)."""
    watch.sample()
    link = _relayed_to_janus(person, veth)
    if not link or link["renewals"] != {"publisher": 1, "subscriber": 1}:
        return {}
    old_allocations = {_allocation(c) for c in before["connections"].values()}
    for role, c in link["connections"].items():
        old = before["connections"][role]
        if _allocation(c) in old_allocations:
            return {}  # still on an allocation of the old credential
        assert c["mark"] == token, f"{person.name}'s {role} is a new connection"
        assert c["localUfrag"] != old["localUfrag"], (role, old, c)
        assert c["remoteUfrag"] != old["remoteUfrag"], (role, old, c)
    return link


def test_fresh_turn_credentials_move_a_relayed_group_room_to_new_allocations(
    tmp_path: Path,
    veth: Veth,
    participants: Participants,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = {"SALON_JANUS_INTERFACE": veth.janus_address, "SALON_TURN_RELAY_IPS": veth.janus_address}
    with run_salon(tmp_path, env) as server:
        meeting = server.create_meeting(roomMode="group", relayOnly=True)
        people = [
            participants(meeting.host_room_url, "Hana"),
            participants(meeting.room_url, "Gus"),
            participants(meeting.room_url, "Ivo"),
        ]
        for person in people:
            person.wait_screen("in_room")
        for person in people:
            wait_until(lambda p=person: receiving_from(p, 2), 90, message=f"{person.name}'s media")
            wait_until(
                lambda p=person: _relayed_to_janus(p, veth),
                30,
                message=f"{person.name}'s connections to be relayed to Janus",
            )

        gus = people[1]
        token = secrets.token_hex(8)
        gus.page.evaluate(_MARK, token)
        before = _relayed_to_janus(gus, veth)
        assert before["renewals"] == {"publisher": 0, "subscriber": 0}, before
        watch = FrameWatch(people)

        fresh = _fresh_ice_servers(gus, server.data_dir)
        assert gus.page.evaluate(_DELIVER_ICE_SERVERS, fresh) >= 1
        delivered_at = time.monotonic()
        after = wait_until(
            lambda: _renewed(gus, veth, before, token, watch),
            60,
            interval=0.2,
            message="Gus's publisher and subscriber to restart ICE onto new relay allocations",
        )
        took = time.monotonic() - delivered_at
        # Each connection restarted once, for the new servers, and neither started over.
        assert after["restarts"] == before["restarts"], (before, after)
        for role, c in after["connections"].items():
            assert c["usernames"] == [s.get("username") for s in fresh["iceServers"]], (role, c)

        # Frames keep coming to every page from every other, on the new path too.
        floors = watch.frames()

        def decoding(person: Participant) -> bool:
            watch.sample()
            return receiving_from(person, 2, floors[person.name])

        for person in people:
            wait_until(
                lambda p=person: decoding(p),
                60,
                message=f"{person.name} to keep decoding after Gus's ICE restart",
            )
        for person in people:
            assert person.screen() == "in_room", person.name
        moves = ", ".join(
            f"{role} {':'.join(map(str, _allocation(before['connections'][role])))}"
            f" -> {':'.join(map(str, _allocation(c)))}"
            for role, c in after["connections"].items()
        )
        with capsys.disabled():
            print(
                f"\nTURN renewal: Gus's connections moved to new relay allocations ({moves}) "
                f"{took:.1f} s after the fresh credentials; the longest any page waited for a "
                f"new frame from another was {watch.longest:.1f} s (bound {MAX_STALL_S:.0f} s)"
            )
