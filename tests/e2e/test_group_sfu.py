"""Group rooms carry media through a real Janus, driven by Salon's signaling.

Salon's real HTTPS signaling server runs in this process (``tests.support.server``) with its
SFU bridge on a real Janus (Debian's, started by Salon's own ``JanusProcess``). Janus gets one
end of a veth pair made inside this test's network namespace (``scripts/e2e`` makes the
namespace): Janus never offers loopback candidates and aioice ignores 127.0.0.1. No packet
leaves the namespace.

The peers speak only Salon's signaling (``sfu_publish``, ``sfu_subscribe``, ``sfu_answer``,
``sfu_candidate``) — never Janus's API: aiortc clients over python-socketio here, Chromium
pages running the room app in the browser test below.

The asyncio parts run on a thread of their own: the browser tests' session-wide Playwright
keeps an event loop running on the main thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import av
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

from salon.clock import FakeClock
from salon.janus.backend import JanusBackend
from salon.janus.process import JanusProcess
from salon.media.sfu import SfuRoom
from salon.services.container import Services, build_services
from salon.services.meetings import RoomMode
from salon.signaling.sfu_bridge import sfu_participant_id
from tests.conftest import make_settings
from tests.e2e.conftest import Participants
from tests.e2e.media import receiving_from
from tests.e2e.polling import wait_until
from tests.e2e.room_page import Participant
from tests.janus import peers
from tests.janus.support import (
    IP,
    Veth,
    connect,
    eventually,
    in_own_network_namespace,
    running_janus,
)
from tests.signaling.conftest import RoomUnderTest, make_room
from tests.support.server import RunningServer, https_server
from tests.support.signaling_client import SignalingClient, on_server

T = TypeVar("T")


def run(main: Callable[[], Coroutine[None, None, T]]) -> T:
    """Runs ``main()`` to completion in a fresh event loop on a thread of its own."""
    with ThreadPoolExecutor(1, thread_name_prefix="group-sfu") as pool:
        return pool.submit(lambda: asyncio.run(main())).result()


@contextlib.contextmanager
def quiet_veth_pair() -> Iterator[Veth]:
    """``tests.janus.support.veth_pair``, without IPv6 on it.

    Chromium (one browser for the whole session) treats every address change as a network
    change and fails the requests in flight with ERR_NETWORK_CHANGED. An interface with IPv6
    gets its link-local address a second or so after it comes up (once duplicate address
    detection is done), just when the pages load; without IPv6 every change happens here,
    before any page opens.
    """
    if not in_own_network_namespace():
        raise RuntimeError("the veth pair is made only in a network namespace the tests made")
    veth = Veth("10.77.0.1", "10.77.0.2")

    def ip(*args: str) -> None:
        subprocess.run([IP, *args], check=True, capture_output=True, timeout=10)

    ip("link", "set", "lo", "up")
    ip("link", "add", veth.janus_interface, "type", "veth", "peer", "name", veth.peer_interface)
    try:
        for name in (veth.janus_interface, veth.peer_interface):
            Path(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6").write_text("1\n")
        ip("addr", "add", f"{veth.janus_address}/24", "dev", veth.janus_interface)
        ip("addr", "add", f"{veth.peer_address}/24", "dev", veth.peer_interface)
        ip("link", "set", veth.janus_interface, "up")
        ip("link", "set", veth.peer_interface, "up")
        yield veth
    finally:
        ip("link", "del", veth.janus_interface)


@pytest.fixture
def veth() -> Iterator[Veth]:
    if not Path("/usr/bin/janus").exists():
        pytest.skip("Janus is not installed (apt-get install janus)")
    with quiet_veth_pair() as pair:
        yield pair


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = build_services(make_settings(tmp_path, turn_mode="off"), FakeClock())
    yield built
    built.close()


@pytest.fixture
def server(services: Services) -> Iterator[RunningServer]:
    with https_server(services) as running:
        yield running


@dataclass
class JanusSfu:
    """A real Janus on the veth pair, and the signaling server's SFU bridge driving it. Both
    live on the server's event loop, as they do in ``salon serve``."""

    server: RunningServer
    veth: Veth
    janus: JanusProcess
    backend: JanusBackend

    @property
    def fingerprint(self) -> str:
        return peers.fingerprint_of(self.janus.config.cert_pem.read_bytes())

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs ``coro`` (a backend call) on the server's loop, from the test's."""
        return await on_server(self.server, coro)


@pytest.fixture
def janus_sfu(server: RunningServer, veth: Veth, tmp_path: Path) -> Iterator[JanusSfu]:
    janus_running = running_janus(tmp_path / "janus", media_address=veth.janus_address)
    janus = server.call(janus_running.__aenter__(), timeout=60)
    try:

        async def attach() -> JanusBackend:
            backend = await connect(janus, keepalive_interval=5.0)
            server.signaling.use_sfu(backend)
            return backend

        backend = server.call(attach(), timeout=30)
        try:
            yield JanusSfu(server, veth, janus, backend)
        finally:
            server.call(backend.close(), timeout=30)
    finally:
        server.call(janus_running.__aexit__(None, None, None), timeout=60)


@dataclass
class Person:
    """Someone in the group room: a Socket.IO client and aiortc peer connections, no Janus."""

    name: str
    client: SignalingClient
    id: str = ""
    publisher: RTCPeerConnection | None = None
    subscriber: RTCPeerConnection = field(default_factory=peers.new_peer_connection)
    # What each m-line of the subscription carries: mid -> (participant id, kind).
    streams: dict[str, tuple[str, str]] = field(default_factory=dict)
    frames: Counter[tuple[str, str]] = field(default_factory=Counter)
    offers: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.subscriber.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(self._read(track)))

    def _mid_of(self, track: MediaStreamTrack) -> str | None:
        for transceiver in self.subscriber.getTransceivers():
            if transceiver.receiver.track is track:
                return transceiver.mid
        return None

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            mid = self._mid_of(track)
            sender = self.streams.get(mid or "")
            if sender is not None:
                kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
                self.frames[(sender[0], kind)] += 1

    async def join(self, room: RoomUnderTest, key: str | None) -> None:
        reply = await self.client.join(room.room_name, key, displayName=self.name)
        assert reply["ok"], reply
        self.id = reply["self"]["id"]

    async def publish(self) -> dict[str, Any]:
        pc = self.publisher = peers.new_peer_connection()
        pc.addTransceiver(peers.ToneTrack(), direction="sendonly")
        pc.addTransceiver(peers.PatternTrack(), direction="sendonly")
        offer = await peers.offer_from(pc)
        reply: dict[str, Any] = await self.client.call(
            "sfu_publish",
            {
                "description": {"type": "offer", "sdp": offer.sdp},
                "kinds": {"0": "audio", "1": "video"},
            },
        )
        assert reply["ok"], reply
        await pc.setRemoteDescription(RTCSessionDescription(reply["description"]["sdp"], "answer"))
        # aiortc puts its candidates in the SDP; trickle one anyway, then the end of them,
        # as a browser does.
        line = re.search(r"a=(candidate:[^\r\n]+)", offer.sdp)
        assert line is not None
        for candidate in ({"candidate": line[1], "sdpMid": "0"}, None):
            trickled = await self.client.call(
                "sfu_candidate", {"target": "publisher", "candidate": candidate}
            )
            assert trickled == {"ok": True}, trickled
        return reply

    async def subscribe(self) -> None:
        reply = await self.client.call("sfu_subscribe")
        assert reply["ok"], reply
        if reply["description"] is not None:
            await self._answer(reply)
        self._tasks.append(asyncio.ensure_future(self._answer_offers()))

    async def _answer_offers(self) -> None:
        while True:
            try:
                offered = await self.client.next("sfu_offer", timeout=3600)
            except AssertionError:
                continue
            await self._answer(offered)

    async def _answer(self, offered: dict[str, Any]) -> None:
        self.offers += 1
        self.streams = {s["mid"]: (s["participantId"], s["kind"]) for s in offered["streams"]}
        pc = self.subscriber
        await pc.setRemoteDescription(RTCSessionDescription(offered["description"]["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        reply = await self.client.call(
            "sfu_answer", {"description": {"type": "answer", "sdp": pc.localDescription.sdp}}
        )
        assert reply == {"ok": True}, reply

    def receives(self, others: list[Person], video: int = 30, audio: int = 10) -> bool:
        return all(
            self.frames[(o.id, "video")] >= video and self.frames[(o.id, "audio")] >= audio
            for o in others
        )

    def connections(self) -> list[RTCPeerConnection]:
        return [pc for pc in (self.publisher, self.subscriber) if pc is not None]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for pc in self.connections():
            await pc.close()
        await self.client.close()


def test_aiortc_peers_publish_and_subscribe_through_salon_and_janus(
    janus_sfu: JanusSfu, services: Services
) -> None:
    clock = services.clock
    assert isinstance(clock, FakeClock)
    room = make_room(services, clock, mode=RoomMode.GROUP)
    run(lambda: _through_salon_and_janus(janus_sfu, room, clock))


async def _through_salon_and_janus(salon: JanusSfu, room: RoomUnderTest, clock: FakeClock) -> None:
    people: list[Person] = []
    try:
        await _media_flows(salon, room, clock, people)
    finally:
        for person in people:
            await person.close()


async def _media_flows(
    salon: JanusSfu, room: RoomUnderTest, clock: FakeClock, people: list[Person]
) -> None:
    server = salon.server
    backend = salon.backend
    assert backend is not None

    async def person(name: str, key: str | None) -> Person:
        client = SignalingClient(server)
        await client.connect()
        made = Person(name, client)
        people.append(made)
        await made.join(room, key)
        return made

    ann = await person("Ann", room.host_key)
    bob = await person("Bob", None)
    vera = await person("Vera", room.viewer_key)
    sfu_room = SfuRoom(backend.node.node_id, room.meeting_id)

    # Everyone subscribes first (nothing is published: the offers come as sfu_offer), then
    # Ann and Bob publish: subscriptions start, then grow by renegotiation.
    for p in (ann, bob, vera):
        await p.subscribe()
    for p in (ann, bob):
        await p.publish()

    await eventually(lambda: ann.receives([bob]), 60, "Ann to decode Bob's video and audio")
    await eventually(lambda: bob.receives([ann]), 60, "Bob to decode Ann's video and audio")
    await eventually(lambda: vera.receives([ann, bob]), 60, "Vera to decode Ann's and Bob's")
    assert not any(p == ann.id for p, _ in ann.frames), "nobody receives themselves"

    # Every DTLS handshake was with the holder of Janus's certificate, over ICE pairs whose
    # remote end is Janus's address: no path between peers.
    for p in (ann, bob, vera):
        for pc in p.connections():
            assert peers.remote_dtls_fingerprints(pc) == {salon.fingerprint}, p.name
            assert peers.remote_ice_hosts(pc) == {salon.veth.janus_address}, p.name

    # The viewer's crafted publish is refused by Salon; Janus knows only Ann and Bob.
    crafted = peers.new_peer_connection()
    crafted.addTransceiver(peers.PatternTrack(), direction="sendonly")
    try:
        offer = await peers.offer_from(crafted)
        refused = await vera.client.call(
            "sfu_publish", {"description": {"type": "offer", "sdp": offer.sdp}}
        )
    finally:
        await crafted.close()
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden", refused
    on_janus = await salon.call(backend.participants(sfu_room))
    assert {(p.participant_id, p.publishing) for p in on_janus} == {
        (sfu_participant_id(ann.id), True),
        (sfu_participant_id(bob.id), True),
    }

    # The tones make Janus report talking; Salon tells everyone who speaks.
    speaker = await vera.client.next("active_speaker", timeout=30)
    assert speaker["participantId"] in {ann.id, bob.id}

    # Bob leaves: Janus no longer has him, and the others keep receiving Ann.
    assert (await bob.client.call("leave"))["ok"]
    people.remove(bob)
    await bob.close()

    async def only_ann() -> bool:
        left = await salon.call(backend.participants(sfu_room))
        return {p.participant_id for p in left} == {sfu_participant_id(ann.id)}

    await eventually(only_ann, 20, "Janus to drop Bob")
    floor = vera.frames[(ann.id, "video")]
    await eventually(
        lambda: vera.frames[(ann.id, "video")] > floor + 30, 30, "Vera to keep receiving Ann"
    )

    # When the room is idle (its session lingers a minute), its Janus room is destroyed.
    for p in list(people):
        assert (await p.client.call("leave"))["ok"]
        people.remove(p)
        await p.close()
    clock.advance(timedelta(seconds=61))
    await on_server(server, server.signaling.tick())

    async def no_rooms() -> bool:
        return (await salon.call(backend.health())).rooms == 0

    await eventually(no_rooms, 20, "Salon to destroy the Janus room")


# --- Chromium: the room app in a group room --------------------------------------------------

# Counts every RTCPeerConnection a page makes, whoever makes it.
_COUNT_PEER_CONNECTIONS = """
(() => {
  const Real = window.RTCPeerConnection;
  const made = [];
  window.__salonTestPeerConnections = made;
  window.RTCPeerConnection = class extends Real {
    constructor(...args) {
      super(...args);
      made.push(this);
    }
  };
})();
"""

# Every peer connection of a page that is not closed, by its role in the SFU link (publisher,
# subscriber; "other" for one the link does not know): for each of its transports, the DTLS
# state, the remote end of the selected ICE pair and the fingerprint of the certificate the
# remote side presented (when Chromium reports it: it does not always); and the fingerprints
# the remote description announces, which the certificate of a connected DTLS transport must
# match.
_REMOTE_PEERS = """
async () => {
  const link = window.salon && window.salon.client && window.salon.client.sfu;
  if (!link) return null;
  const { publisher, subscriber } = link.peerConnections();
  const out = {};
  for (const pc of window.__salonTestPeerConnections) {
    if (pc.signalingState === "closed") continue;
    const role = pc === publisher ? "publisher" : pc === subscriber ? "subscriber" : "other";
    const report = await pc.getStats();
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    const sdp = (pc.remoteDescription && pc.remoteDescription.sdp) || "";
    const announced = [...sdp.matchAll(/a=fingerprint:sha-256 ([0-9A-Fa-f:]+)/g)]
      .map((m) => m[1].toUpperCase());
    out[role] = out[role] || [];
    report.forEach((t) => {
      if (t.type !== "transport") return;
      const pair = byId.get(t.selectedCandidatePairId);
      const remote = pair && byId.get(pair.remoteCandidateId);
      const cert = byId.get(t.remoteCertificateId);
      out[role].push({
        dtls: t.dtlsState,
        remote: remote ? (remote.address || remote.ip || "") : null,
        fingerprint: cert ? cert.fingerprint.toUpperCase() : null,
        algorithm: cert ? cert.fingerprintAlgorithm : null,
        announced,
      });
    });
  }
  return out;
}
"""


def _remote_peers(person: Participant) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] | None = person.page.evaluate(_REMOTE_PEERS)
    assert found is not None, f"{person.name} has no SFU link"
    return found


def _talks_only_to_janus(person: Participant, salon: JanusSfu, roles: set[str]) -> bool:
    peers_of = _remote_peers(person)
    assert set(peers_of) == roles, peers_of
    for role, transports in peers_of.items():
        assert transports, f"{person.name}'s {role} has no transport"
        for transport in transports:
            if transport["dtls"] != "connected":
                return False
            assert transport["remote"] == salon.veth.janus_address, (person.name, role, transport)
            # DTLS is up only with the holder of the certificate the SDP announced.
            assert set(transport["announced"]) == {salon.fingerprint}, (person.name, transport)
            if transport["fingerprint"] is not None:
                assert transport["algorithm"] == "sha-256", transport
                assert transport["fingerprint"] == salon.fingerprint, (person.name, transport)
    return True


def test_three_chromium_participants_see_each_other_through_janus(
    janus_sfu: JanusSfu, services: Services, participants: Participants
) -> None:
    clock = services.clock
    assert isinstance(clock, FakeClock)
    room = make_room(services, clock, mode=RoomMode.GROUP)
    base = janus_sfu.server.base_url + room.room_name
    count = _COUNT_PEER_CONNECTIONS
    people = [
        participants(f"{base}?roomKey={room.host_key}", "Hana", init_script=count),
        participants(base, "Gus", init_script=count),
        participants(base, "Ivo", init_script=count),
    ]
    for person in people:
        person.wait_screen("in_room")

    # Each page decodes the video (and receives the audio) of both others: its per-participant
    # links are views of one subscription, so they name the others by their participant ids.
    for person in people:
        wait_until(lambda p=person: receiving_from(p, 2), 90, message=f"{person.name}'s media")
    ids = {p.name: set(p.stats()) for p in people}
    everyone = set().union(*ids.values())
    assert len(everyone) == 3, ids
    for person in people:
        wait_until(
            lambda p=person: all(p.tile_playing(pid) for pid in ids[p.name]),
            60,
            message=f"{person.name} to show a playing tile for each of the others",
        )

    # Every remote DTLS peer of every page is Janus: its certificate, at its address. A page
    # has two peer connections, both the SFU link's, and none to another page.
    for person in people:
        wait_until(
            lambda p=person: _talks_only_to_janus(p, janus_sfu, {"publisher", "subscriber"}),
            30,
            message=f"{person.name}'s connections to be up with Janus",
        )

    # Gus's signaling drops and comes back (a resume): his media never stopped, since it
    # goes to Janus, not through the signaling; nothing is made anew.
    gus = people[1]
    made = {p.name: _made_connections(p) for p in people}
    floors = {p.name: {pid: s.frames_decoded for pid, s in p.stats().items()} for p in people}
    resumes = gus.page.evaluate("() => window.salon.client.sfu.resumes")
    gus.page.evaluate("() => window.salon.client.socket.dropTransport()")
    wait_until(
        lambda: gus.page.evaluate("() => window.salon.client.sfu.resumes") > resumes,
        30,
        message="Gus to resume",
    )
    for person in people:
        wait_until(
            lambda p=person: receiving_from(p, 2, floors[p.name]),
            60,
            message=f"{person.name} to keep receiving across Gus's resume",
        )
        assert _made_connections(person) == made[person.name], person.name

    # The room's media is lost (as when its Janus node dies and the pool makes it again):
    # every page is told sfu_reset, makes new connections, and media flows again.
    made = {p.name: _made_connections(p) for p in people}
    floors = {p.name: {pid: s.frames_decoded for pid, s in p.stats().items()} for p in people}

    async def lose_the_room() -> None:
        janus_sfu.server.signaling.sfu.lost(room.meeting_id)

    janus_sfu.server.call(lose_the_room())
    for person in people:
        wait_until(
            lambda p=person: _made_connections(p) == made[p.name] + 2,
            30,
            message=f"{person.name} to make new connections",
        )
        wait_until(
            lambda p=person: receiving_from(p, 2, floors[p.name]),
            90,
            message=f"{person.name} to receive again after the reset",
        )
        wait_until(
            lambda p=person: _talks_only_to_janus(p, janus_sfu, {"publisher", "subscriber"}),
            30,
            message=f"{person.name}'s new connections to be up with Janus",
        )

    # Chat has no data channel here: it goes through the server's relay, and reaches everyone.
    text = "hello from the group room"
    sender = people[0]
    sender.open_panel("chat-toggle", "chat-input")
    sender.by_testid("chat-input").first.fill(text)
    sender.click("chat-send")
    for person in people[1:]:
        wait_until(
            lambda p=person: _shows_chat(p, text), 30, message=f"{person.name} to get the chat"
        )


def _made_connections(person: Participant) -> int:
    made: int = person.page.evaluate("() => window.__salonTestPeerConnections.length")
    return made


def _shows_chat(person: Participant, text: str) -> bool:
    person.open_panel("chat-toggle", "chat-input")
    return person.by_testid("chat-message").filter(has_text=text).count() > 0
