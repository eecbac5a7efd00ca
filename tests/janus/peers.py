"""aiortc peers that publish to and subscribe from Janus through ``JanusBackend``.

The publisher sends a loud tone (so Janus's audio-level detection says it is talking) and a
moving test pattern (so the subscriber's decoder has real frames to decode). Every peer
connection is made with ``iceServers=[]``: without it aiortc would ask a public STUN server.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import re
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from salon.janus.backend import JanusBackend
from salon.media.sfu import (
    FeedKind,
    FeedSelection,
    MediaHandle,
    PublishGrant,
    SdpType,
    SessionDescription,
    SfuRoom,
)

SAMPLE_RATE = 48000
AUDIO_PTIME = 0.02


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone near full scale: well above Janus's talking threshold."""

    def __init__(self) -> None:
        super().__init__()
        self._samples = 0
        self._began: float | None = None

    async def recv(self) -> av.AudioFrame:
        count = int(SAMPLE_RATE * AUDIO_PTIME)
        if self._began is None:
            self._began = time.monotonic()
        else:
            wait = self._began + self._samples / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        pcm = struct.pack(
            f"<{count}h",
            *(
                int(20000 * math.sin(2 * math.pi * 440 * (self._samples + i) / SAMPLE_RATE))
                for i in range(count)
            ),
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=count)
        frame.planes[0].update(pcm)
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._samples += count
        return frame


class PatternTrack(VideoStreamTrack):
    """A 320x240 picture that changes every frame."""

    def __init__(self) -> None:
        super().__init__()
        self._n = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(320, 240, "yuv420p")
        shift = self._n % 256
        self._n += 1
        for index, plane in enumerate(frame.planes):
            row = bytes((x + shift * (index + 1)) % 256 for x in range(plane.line_size))
            plane.update(row * plane.height)
        frame.pts = pts
        frame.time_base = time_base
        return frame


def new_peer_connection() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def fingerprint_of(cert_pem: bytes) -> str:
    """The SHA-256 fingerprint of a certificate as an SDP ``a=fingerprint`` line writes it."""
    der = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in der)


def sdp_fingerprints(sdp: str) -> set[str]:
    return {m.upper() for m in re.findall(r"a=fingerprint:sha-256 ([0-9A-Fa-f:]+)", sdp)}


def remote_dtls_fingerprints(pc: RTCPeerConnection) -> set[str]:
    """SHA-256 fingerprints of the certificates the remote side presented in its DTLS
    handshakes, one per connected transport."""
    found = set()
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        if dtls is None or dtls.state != "connected":
            continue
        assert dtls._ssl is not None
        certificate = dtls._ssl.get_peer_certificate(as_cryptography=True)
        assert certificate is not None
        found.add(":".join(f"{b:02X}" for b in certificate.fingerprint(hashes.SHA256())))
    return found


def remote_ice_hosts(pc: RTCPeerConnection) -> set[str]:
    """The remote addresses of the nominated ICE pairs."""
    hosts = set()
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        if dtls is None:
            continue
        connection = dtls.transport._connection
        for pair in connection._nominated.values():
            hosts.add(pair.remote_candidate.host)
    return hosts


@dataclass
class Publisher:
    pc: RTCPeerConnection
    handle: MediaHandle
    answer: SessionDescription

    async def close(self) -> None:
        await self.pc.close()


async def offer_from(pc: RTCPeerConnection) -> SessionDescription:
    await pc.setLocalDescription(await pc.createOffer())
    return SessionDescription(SdpType.OFFER, pc.localDescription.sdp)


async def publish(backend: JanusBackend, grant: PublishGrant) -> Publisher:
    pc = new_peer_connection()
    pc.addTransceiver(ToneTrack(), direction="sendonly")
    pc.addTransceiver(PatternTrack(), direction="sendonly")
    kinds: Mapping[str, FeedKind] = {"0": FeedKind.AUDIO, "1": FeedKind.VIDEO}
    try:
        publication = await backend.publish(grant, await offer_from(pc), kinds=kinds)
    except BaseException:
        await pc.close()
        raise
    await pc.setRemoteDescription(RTCSessionDescription(publication.answer.sdp, "answer"))
    return Publisher(pc, publication.handle, publication.answer)


@dataclass
class Subscriber:
    pc: RTCPeerConnection
    handle: MediaHandle
    offer: SessionDescription
    tracks: list[MediaStreamTrack] = field(default_factory=list)
    video_frames: list[tuple[int, int]] = field(default_factory=list)
    audio_frames: int = 0
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            if isinstance(frame, av.VideoFrame):
                self.video_frames.append((frame.width, frame.height))
            else:
                self.audio_frames += 1

    async def close(self) -> None:
        for reader in self._readers:
            reader.cancel()
        await self.pc.close()


async def subscribe(
    backend: JanusBackend, room: SfuRoom, participant_id: str, publisher_id: str
) -> Subscriber:
    subscription = await backend.subscribe(room, participant_id, [FeedSelection(publisher_id)])
    pc = new_peer_connection()
    subscriber = Subscriber(pc, subscription.handle, subscription.offer)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        subscriber.tracks.append(track)
        subscriber._readers.append(asyncio.ensure_future(subscriber._read(track)))

    await answer(backend, subscriber, subscription.offer)
    return subscriber


async def answer(backend: JanusBackend, subscriber: Subscriber, offer: SessionDescription) -> None:
    """Answers one of the SFU's offers to ``subscriber`` (its first, or a renegotiation)."""
    pc = subscriber.pc
    await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    answered = SessionDescription(SdpType.ANSWER, pc.localDescription.sdp)
    await backend.start_subscription(subscriber.handle, answered)
