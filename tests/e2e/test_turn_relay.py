"""Calls relayed by the embedded coturn over UDP, TCP and TLS, and what the relay carries is
SRTP, never plaintext media (issue "TURN: coturn relays that never decrypt", "Proof").

``salon serve`` runs with its default embedded coturn (own ports, loopback peers allowed: the
test-only setting, since loopback is all this network namespace has). Each meeting is created
relay-only, so the room app must use ``iceTransportPolicy: "relay"``: with host candidates
allowed, two pages on one machine would connect directly and the relay assertions would fail.
Which TURN transport is used is forced from outside the product, the way a restrictive network
would: an init script drops every ICE server URL but the one transport from the configuration
the page hands to ``RTCPeerConnection``.

The SRTP proof captures, with a raw packet socket on this namespace's loopback, the UDP packets
coturn relays between the two pages' relay addresses: the DTLS handshake goes through, and none
of the RTP packets carries the plain VP8 key-frame start code that every unencrypted key frame
of Chromium's fake camera would show.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, Participants, Salon, run_salon
from tests.e2e.media import receiving_from
from tests.e2e.polling import wait_until
from tests.e2e.room_page import Participant

ONLY_TRANSPORT = """
((wanted) => {
  const keeps = (url) =>
    wanted === "tls" ? url.startsWith("turns:")
      : url.startsWith("turn:") && url.includes(`transport=${wanted}`);
  const only = (servers) => (servers || [])
    .map((s) => ({ ...s, urls: [].concat(s.urls).filter(keeps) }))
    .filter((s) => s.urls.length > 0);
  const Real = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Real {
    constructor(config, ...rest) {
      super({ ...(config || {}), iceServers: only(config && config.iceServers) }, ...rest);
    }
    setConfiguration(config) {
      return super.setConfiguration({ ...config, iceServers: only(config.iceServers) });
    }
  };
})(%r);
"""

# The selected pair of each peer connection, with how the local relay candidate reaches coturn.
RELAY_PAIRS = """
async () => {
  const out = {};
  const pcs = window.salon.debug.peerConnections();
  for (const [id, pc] of pcs instanceof Map ? pcs : Object.entries(pcs)) {
    const report = await pc.getStats();
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    let pair = null;
    report.forEach((s) => {
      const id = s.type === "transport" && s.selectedCandidatePairId;
      if (id) pair = byId.get(id);
    });
    if (!pair) continue;
    const local = byId.get(pair.localCandidateId), remote = byId.get(pair.remoteCandidateId);
    out[id] = {
      policy: pc.getConfiguration().iceTransportPolicy,
      local: { type: local.candidateType, address: local.address, port: local.port,
               relayProtocol: local.relayProtocol || null },
      remote: { type: remote.candidateType, address: remote.address, port: remote.port },
    };
  }
  return out;
}
"""

VP8_KEYFRAME_START = b"\x9d\x01\x2a"  # in every VP8 key frame's header (RFC 6386 9.1)


@pytest.fixture(scope="module")
def turn_salon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Salon]:
    env = {"SALON_TURN_TEST_ALLOW_LOOPBACK_PEERS": "1"}
    with run_salon(tmp_path_factory.mktemp("turn"), env) as running:
        yield running


@pytest.fixture(scope="module")
def trusting_browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """A Chromium that accepts the test server's self-signed certificate for TURN over TLS too
    (a deployment's certificate is trusted; Playwright's ignore_https_errors covers only pages
    and their requests, not the ICE agent's TLS connection to coturn)."""
    args = [*CHROMIUM_ARGS, "--ignore-certificate-errors"]
    launched = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=args)
    yield launched
    launched.close()


def relay_pairs(person: Participant) -> dict[str, dict[str, dict[str, object] | str]]:
    pairs: dict[str, dict[str, dict[str, object] | str]] = person.page.evaluate(RELAY_PAIRS)
    return pairs


def relayed_both_ways(person: Participant, transport: str) -> bool:
    pairs = relay_pairs(person)
    assert len(pairs) == 1, pairs
    (pair,) = pairs.values()
    local, remote = pair["local"], pair["remote"]
    assert isinstance(local, dict) and isinstance(remote, dict)
    assert pair["policy"] == "relay", pair
    assert (local["type"], remote["type"]) == ("relay", "relay"), pair
    assert local["relayProtocol"] == transport, pair
    return True


def start_call(participants: Participants, salon: Salon, transport: str) -> list[Participant]:
    meeting = salon.create_meeting(roomMode="normal", relayOnly=True)
    script = ONLY_TRANSPORT % transport
    people = [participants(meeting.room_url, name, init_script=script) for name in ("Ann", "Bob")]
    for person in people:
        person.wait_screen("in_room")
    for person in people:
        wait_until(lambda p=person: receiving_from(p, 1), 90, message="relayed media")
    return people


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_a_relay_only_call_goes_through_coturn(
    turn_salon: Salon, trusting_browser: Browser, transport: str
):
    participants = Participants(trusting_browser)
    try:
        check_relayed_call(participants, turn_salon, transport)
    finally:
        participants.close_all()


def check_relayed_call(participants: Participants, turn_salon: Salon, transport: str) -> None:
    people = start_call(participants, turn_salon, transport)
    floors = {p.name: {pid: s.frames_decoded for pid, s in p.stats().items()} for p in people}
    for person in people:
        wait_until(
            lambda p=person: receiving_from(p, 1, floors[p.name]),
            60,
            message="frames to keep coming through the relay",
        )
        wait_until(lambda p=person: relayed_both_ways(p, transport), 30, message="relay pair")


class Capture:
    """Every UDP packet on this namespace's loopback while it runs: (source port, destination
    port, payload). Loopback frames carry a 14-byte link header of zeros, then IPv4."""

    def __init__(self) -> None:
        self.packets: list[tuple[int, int, bytes]] = []
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
        self._sock.bind(("lo", 0))
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame, (_, _, kind, _, _) = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            ip = frame[14:]
            if kind == socket.PACKET_OUTGOING:
                continue  # loopback shows each packet twice: once going out, once coming in
            if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP:
                continue
            header = (ip[0] & 0x0F) * 4
            src, dst = struct.unpack("!HH", ip[header : header + 4])
            self.packets.append((src, dst, ip[header + 8 :]))

    def between(self, ports: frozenset[int]) -> list[bytes]:
        return [data for src, dst, data in list(self.packets) if {src, dst} <= ports]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


def is_rtp(payload: bytes) -> bool:
    # RFC 7983: 128-191 is RTP/RTCP; RTCP packet types are 192-223 in the second byte.
    return len(payload) > 12 and 128 <= payload[0] <= 191 and not 192 <= payload[1] <= 223


def is_dtls_handshake(payload: bytes) -> bool:
    return len(payload) > 13 and payload[0] == 22 and payload[1] == 0xFE


def looks_like_plain_vp8(payload: bytes) -> bool:
    return is_rtp(payload) and VP8_KEYFRAME_START in payload[12:40]


def test_the_plaintext_check_would_see_plain_vp8():
    # An unencrypted RTP packet with a VP8 key frame, as the check below must catch it.
    rtp = bytes([0x90, 96]) + b"\x00\x01" + b"\x00" * 8 + b"\x10\x00\x00" + b"\x9d\x01\x2a"
    assert looks_like_plain_vp8(rtp + b"\x80\x02\xe0\x01")


def test_what_coturn_relays_is_dtls_srtp(turn_salon: Salon, participants: Participants):
    capture = Capture()
    try:
        people = start_call(participants, turn_salon, "udp")
        (pair,) = relay_pairs(people[0]).values()
        local, remote = pair["local"], pair["remote"]
        assert isinstance(local, dict) and isinstance(remote, dict)
        assert (local["type"], remote["type"]) == ("relay", "relay"), pair
        # coturn sends what one page's allocation relays to the other's: the peers' own bytes.
        ports = frozenset({int(str(local["port"])), int(str(remote["port"]))})
        wait_until(
            lambda: sum(is_rtp(p) for p in capture.between(ports)) >= 300,
            60,
            message="relayed RTP between the two relay addresses",
        )
    finally:
        capture.close()
    relayed = capture.between(ports)
    rtp = [p for p in relayed if is_rtp(p)]
    # The keys were agreed in a DTLS handshake through the relay, which coturn passed on as
    # it was (it has no keys)...
    assert any(is_dtls_handshake(p) for p in relayed), "no DTLS handshake went through the relay"
    # ...and the media is encrypted: no plain VP8 key frame among hundreds of RTP packets.
    assert not [p for p in rtp if looks_like_plain_vp8(p)], "plain VP8 went through the relay"
