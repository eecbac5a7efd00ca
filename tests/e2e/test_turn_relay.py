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
of the RTP packets carries, where its payload begins (past the CSRCs and header extensions
Chromium adds), the VP8 payload descriptor and key-frame start code that every unencrypted key
frame of Chromium's fake camera would show.
"""

from __future__ import annotations

import random
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
from tests.e2e.webrtc_stats import stats

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


VP8_KEYFRAME_START = b"\x9d\x01\x2a"  # in every VP8 key frame's header (RFC 6386 9.1)
RTP_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence number, timestamp, SSRC


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


def relayed_both_ways(person: Participant, transport: str) -> bool:
    pairs = stats(person.page)
    assert len(pairs) == 1, pairs
    (pair,) = pairs.values()
    assert pair.ice_transport_policy == "relay", pair
    assert pair.local is not None and pair.remote is not None, pair
    assert (pair.local.type, pair.remote.type) == ("relay", "relay"), pair
    assert pair.local.relay_protocol == transport, pair
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


def test_a_relay_only_join_from_the_pre_call_screen_goes_through_coturn(
    turn_salon: Salon, participants: Participants
):
    """Bob's page makes the connection for his first offer on the pre-call screen, before it
    knows the room's ICE servers and that it is relay-only; joining sets both on it before it
    gathers anything, so it too connects only through coturn."""
    meeting = turn_salon.create_meeting(roomMode="normal", relayOnly=True)
    script = ONLY_TRANSPORT % "udp"
    ann = participants(meeting.room_url, "Ann", init_script=script)
    ann.wait_screen("in_room")
    bob = participants(meeting.room_url, init_script=script)
    bob.join_from_precall("Bob")
    assert bob.offered_on_spare()
    for person in (ann, bob):
        wait_until(lambda p=person: receiving_from(p, 1), 90, message="relayed media")
        wait_until(lambda p=person: relayed_both_ways(p, "udp"), 30, message="relay pair")


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


def rtp_payload_offset(packet: bytes) -> int | None:
    """Where the payload of an RTP packet starts (RFC 3550 5.1, 5.3.1): past the fixed header,
    the CSRC list and the header extension; ``None`` if ``packet`` is not RTP version 2 or its
    header does not fit. The same for SRTP, whose header is not encrypted (RFC 3711 3.1)."""
    # RFC 7983: a first byte of 128-191 is RTP or RTCP; RTCP's packet types 192-223 show in
    # the second byte (marker bit and payload type).
    if len(packet) < RTP_HEADER.size or packet[0] >> 6 != 2 or 192 <= packet[1] <= 223:
        return None
    offset = RTP_HEADER.size + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:  # X: a header extension (e.g. RFC 8285's 0xBEDE one-byte form)
        if len(packet) < offset + 4:
            return None
        _profile, words = struct.unpack_from("!HH", packet, offset)
        offset += 4 + 4 * words
    return offset if offset <= len(packet) else None


def is_rtp(packet: bytes) -> bool:
    return rtp_payload_offset(packet) is not None


def rtp_payload(packet: bytes) -> bytes | None:
    """The payload of a plaintext RTP packet, padding removed; ``None`` if it is not one."""
    start = rtp_payload_offset(packet)
    if start is None:
        return None
    end = len(packet)
    if packet[0] & 0x20:  # P: the last byte counts the padding, itself included
        padding = packet[-1]
        if padding == 0 or start + padding > end:
            return None
        end -= padding
    return packet[start:end]


def vp8_frame_offset(payload: bytes) -> int | None:
    """Where the VP8 data starts after the VP8 payload descriptor (RFC 7741 4.2) of a packet
    that begins a frame (S set, partition index 0); ``None`` for any other packet."""
    if not payload or payload[0] & 0x17 != 0x10:  # S=1, PID=0
        return None
    offset = 1
    if payload[0] & 0x80:  # X: the extension byte says which optional fields follow
        if len(payload) < 2:
            return None
        extension = payload[1]
        offset = 2
        if extension & 0x80:  # I: a picture id, 15 bits (two bytes) when its M bit is set
            if len(payload) < offset + 1:
                return None
            offset += 2 if payload[offset] & 0x80 else 1
        if extension & 0x40:  # L: TL0PICIDX
            offset += 1
        if extension & 0x30:  # T or K: one byte of TID / Y / KEYIDX
            offset += 1
    return offset if offset <= len(payload) else None


def is_dtls_handshake(payload: bytes) -> bool:
    return len(payload) > 13 and payload[0] == 22 and payload[1] == 0xFE


def looks_like_plain_vp8(packet: bytes) -> bool:
    """Whether ``packet`` is plaintext RTP carrying the start of a VP8 key frame: the VP8
    payload header's frame tag with its key-frame bit (P) clear, then the start code."""
    payload = rtp_payload(packet)
    frame = None if payload is None else vp8_frame_offset(payload)
    if payload is None or frame is None or len(payload) < frame + 6:
        return False
    return payload[frame] & 0x01 == 0 and payload[frame + 3 : frame + 6] == VP8_KEYFRAME_START


def chromium_like_rtp(payload: bytes, *, padding: int = 0) -> bytes:
    """An RTP packet whose payload starts well into it: past two CSRCs (a mixer's; a browser
    sends none, but the header may hold them) and a one-byte-header extension block (RFC 8285)
    of three 32-bit words, like those on Chromium's video packets."""
    first = 0x80 | 0x10 | 2 | (0x20 if padding else 0)  # V=2, X, CC=2, P if padded
    header = RTP_HEADER.pack(first, 0x80 | 96, 4711, 90000, 0x1234ABCD)
    csrcs = struct.pack("!II", 0x11111111, 0x22222222)
    # Each element: a byte of ID (4 bits) and length - 1 (4 bits), then its data.
    elements = b"".join(
        (
            b"\x22\x12\x34\x56",  # id 2 (abs-send-time): 3 bytes
            b"\x31\x00\x07",  # id 3 (transport-wide sequence number): 2 bytes
            b"\x40\x01",  # id 4 (video orientation): 1 byte
        )
    )
    elements += b"\x00" * (-len(elements) % 4)  # zero padding to whole words
    extension = struct.pack("!HH", 0xBEDE, len(elements) // 4) + elements
    pad = b"\x00" * (padding - 1) + bytes([padding]) if padding else b""
    return header + csrcs + extension + payload + pad


# A VP8 payload descriptor as Chromium writes it at a frame's start: X and S set; I (a 15-bit
# picture id), L (TL0PICIDX) and T (TID/Y/KEYIDX) present.
VP8_DESCRIPTOR = bytes([0x90, 0xE0, 0x80 | 0x12, 0x34, 0x05, 0x20])
# A key frame's first bytes (RFC 6386 9.1): frame tag (P=0: key frame), start code, 640x480.
VP8_KEYFRAME = b"\x50\x2d\x01" + VP8_KEYFRAME_START + struct.pack("<HH", 640, 480)


@pytest.mark.parametrize("padding", [0, 4])
def test_the_plaintext_check_would_see_plain_vp8(padding: int):
    # An unencrypted RTP packet with a VP8 key frame, as the check below must catch it...
    plain = chromium_like_rtp(VP8_DESCRIPTOR + VP8_KEYFRAME + bytes(900), padding=padding)
    assert is_rtp(plain) and looks_like_plain_vp8(plain)
    # ...with its start code past what a fixed window at the front of the packet would see.
    assert plain.index(VP8_KEYFRAME_START) > 40
    # An inter frame (P=1), or a packet continuing a frame (S=0), starts no key frame.
    inter = bytes([VP8_KEYFRAME[0] | 0x01]) + VP8_KEYFRAME[1:]
    assert not looks_like_plain_vp8(chromium_like_rtp(VP8_DESCRIPTOR + inter + bytes(900)))
    middle = bytes([VP8_DESCRIPTOR[0] & ~0x10]) + VP8_DESCRIPTOR[1:]
    assert not looks_like_plain_vp8(chromium_like_rtp(middle + VP8_KEYFRAME + bytes(900)))


def test_the_plaintext_check_does_not_flag_srtp():
    # SRTP keeps the RTP header (CSRCs and extensions included) in the clear and encrypts the
    # payload, then appends an authentication tag: random-looking bytes after the header.
    rng = random.Random(5)
    srtp = [chromium_like_rtp(rng.randbytes(rng.randrange(20, 1200))) for _ in range(2000)]
    assert all(is_rtp(p) for p in srtp)
    assert not any(looks_like_plain_vp8(p) for p in srtp)
    # Not RTP at all: RTCP, DTLS, a header claiming more CSRCs or extension than it holds.
    rtcp = bytes([0x81, 200]) + bytes(26)
    dtls = b"\x16\xfe\xfd" + bytes(20)
    csrcs = bytes([0x8F, 96]) + bytes(40)  # 15 CSRCs need 72 bytes
    extension = chromium_like_rtp(b"")[:30]  # the extension block needs 36
    assert not any(is_rtp(p) for p in (rtcp, dtls, csrcs, extension))


def test_what_coturn_relays_is_dtls_srtp(turn_salon: Salon, participants: Participants):
    capture = Capture()
    try:
        people = start_call(participants, turn_salon, "udp")
        (pair,) = stats(people[0].page).values()
        local, remote = pair.local, pair.remote
        assert local is not None and remote is not None, pair
        assert (local.type, remote.type) == ("relay", "relay"), pair
        # coturn sends what one page's allocation relays to the other's: the peers' own bytes.
        ports = frozenset({local.port, remote.port})
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
