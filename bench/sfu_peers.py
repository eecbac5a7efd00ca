"""Cheap WebRTC peers for SFU load: aiortc does ICE and DTLS-SRTP, the media path is replaced.

A load test of an SFU must load the SFU, not its clients. Encoding video in Python costs more
than forwarding it in C, and so does aiortc's full receive path (a coroutine, an RTP parse, a
jitter buffer and a decoder per packet). So, once aiortc has negotiated and connected a peer:

- ``ReplayPublisher`` sends a clip encoded once at start-up (VP8 frames already packetised,
  Opus frames), as RTP it builds itself with the negotiated payload types, SSRCs and ``mid``
  header extension, SRTP-protected with the DTLS-derived keys aiortc set up, straight to the
  nominated ICE pair's socket. It answers Janus's PLI/FIR by restarting the clip at its
  keyframe, so a new subscriber gets a picture at once. Nothing is encoded while it runs.
- ``CountingSubscriber`` takes over the datagrams of its ICE pair: each SRTP packet is
  decrypted (so the DTLS-SRTP path is real) and counted per SSRC, then dropped. STUN and DTLS
  still go to aiortc (consent checks keep the pair alive). RTCP is counted and dropped.

Every peer connection is ``RTCConfiguration(iceServers=[])``: no STUN server is ever asked.
Signalling is a pair of callables, so the same peers work through Salon's ``SfuBackend`` and
through Janus's raw API (``bench/janus_raw.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import av
import pylibsrtp
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder

from salon.media.sfu import (
    FeedKind,
    FeedSelection,
    PublishGrant,
    SdpType,
    SessionDescription,
    SfuBackend,
    SfuRoom,
)

__all__ = [
    "Clip",
    "CountingSubscriber",
    "ReplayPublisher",
    "Sender",
    "encode_clip",
    "publish_via",
    "subscribe_via",
]

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_PTIME_S = 0.02
VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000
RECEIVE_BUFFER = 8 * 1024 * 1024
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
_PSFB = 206
_PLI, _FIR = 1, 4


# --- the clip --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """Pre-encoded media: VP8 RTP payloads per frame (frame 0 the only keyframe), Opus frames."""

    video: tuple[tuple[bytes, ...], ...]
    audio: tuple[bytes, ...]
    fps: int

    @property
    def video_packets_per_frame(self) -> float:
        """Packets per frame as sent in a loop (the keyframe only on request)."""
        looped = self.video[1:] or self.video
        return sum(len(f) for f in looped) / len(looped)


def _pattern(width: int, height: int, n: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    for index, plane in enumerate(frame.planes):
        shift = (n * (index + 2)) % 256
        rows = [
            bytes((x + y + shift) % 256 for x in range(plane.line_size))
            for y in range(0, plane.height, 8)
        ]
        plane.update(b"".join(row * min(8, plane.height - 8 * i) for i, row in enumerate(rows)))
    return frame


def encode_clip(
    *,
    width: int = 640,
    height: int = 360,
    fps: int = 30,
    bitrate: int = 1_000_000,
    seconds: float = 2.0,
) -> Clip:
    """Encodes a moving test pattern (VP8) and a tone (Opus) once."""
    video_encoder = Vp8Encoder()
    video_encoder.target_bitrate = bitrate
    video: list[tuple[bytes, ...]] = []
    count = max(1, round(fps * seconds))
    for n in range(count):
        frame = _pattern(width, height, n)
        frame.pts = n * (VIDEO_CLOCK // fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        payloads, _ = video_encoder.encode(frame, force_keyframe=n == 0)
        video.append(tuple(payloads))
    audio_encoder = OpusEncoder()
    audio: list[bytes] = []
    samples = int(AUDIO_CLOCK * AUDIO_PTIME_S)
    for n in range(max(1, round(seconds / AUDIO_PTIME_S))):
        pcm = struct.pack(
            f"<{samples}h",
            *(
                int(8000 * math.sin(2 * math.pi * 440 * (n * samples + i) / AUDIO_CLOCK))
                for i in range(samples)
            ),
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        frame.planes[0].update(pcm)
        frame.sample_rate = AUDIO_CLOCK
        frame.pts = n * samples
        frame.time_base = fractions.Fraction(1, AUDIO_CLOCK)
        payloads, _ = audio_encoder.encode(frame)
        audio.extend(payloads)
    return Clip(tuple(video), tuple(audio), fps)


# --- plumbing shared by both peers -------------------------------------------------------------


class _Idle(MediaStreamTrack):
    """A track that never yields a frame: aiortc's own sender stays idle, ours sends."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self) -> Any:
        await asyncio.Event().wait()


def new_peer_connection() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def _connected(pc: RTCPeerConnection, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while pc.connectionState != "connected":
        if pc.connectionState in ("failed", "closed") or time.monotonic() > deadline:
            raise RuntimeError(f"peer connection {pc.connectionState} after {timeout} s")
        await asyncio.sleep(0.02)


@dataclass
class _Wire:
    """The nominated ICE pair's socket and the DTLS transport's SRTP sessions."""

    protocol: Any
    transport: asyncio.DatagramTransport
    remote: tuple[str, int]
    tx: pylibsrtp.Session
    rx: pylibsrtp.Session


def _wire(pc: RTCPeerConnection) -> _Wire:
    dtls = pc.getTransceivers()[0].receiver.transport
    pair = dtls.transport._connection._nominated[1]
    sock = pair.protocol.transport.get_extra_info("socket")
    for option in (_SO_RCVBUFFORCE, _SO_SNDBUFFORCE):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
    return _Wire(
        pair.protocol, pair.protocol.transport, pair.remote_addr, dtls._tx_srtp, dtls._rx_srtp
    )


def _is_rtcp(data: bytes) -> bool:
    return 192 <= data[1] <= 223


# --- publisher -------------------------------------------------------------------------------


@dataclass
class _Stream:
    kind: str
    ssrc: int
    payload_type: int
    extension: bytes  # the header extension block (with the mid), after the 12-byte header
    sequence: int = 0
    timestamp: int = 0
    sent: int = 0


def _extension(mid: str, ext_id: int | None) -> bytes:
    if ext_id is None:
        return b""
    element = bytes([(ext_id << 4) | (len(mid) - 1)]) + mid.encode()
    element += b"\0" * (-len(element) % 4)
    return struct.pack("!HH", 0xBEDE, len(element) // 4) + element


@dataclass
class ReplayPublisher:
    """Sends a ``Clip`` over a negotiated, connected peer connection (see the module doc)."""

    pc: RTCPeerConnection
    wire: _Wire
    clip: Clip
    audio: _Stream | None
    video: _Stream | None
    handle: Any = None
    frame: int = 0
    audio_frame: int = 0
    keyframe_requests: int = 0
    keyframe_requested_at: float = 0.0

    @classmethod
    async def connect(
        cls,
        negotiate: Callable[[str], Awaitable[tuple[str, Any]]],
        clip: Clip,
        *,
        audio: bool = True,
        video: bool = True,
        timeout: float = 20.0,
    ) -> ReplayPublisher:
        """Offers ``audio``/``video``, gets the answer from ``negotiate(offer_sdp)`` (which
        returns it and a handle to keep), waits for DTLS, and takes over sending."""
        pc = new_peer_connection()
        try:
            kinds = [kind for kind, wanted in (("audio", audio), ("video", video)) if wanted]
            for kind in kinds:
                pc.addTransceiver(_Idle(kind), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            answer, handle = await negotiate(pc.localDescription.sdp)
            await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            await _connected(pc, timeout)
            streams: dict[str, _Stream] = {}
            parsed = aiortc_sdp.SessionDescription.parse(answer)
            for transceiver, media in zip(pc.getTransceivers(), parsed.media, strict=True):
                ext = next((e.id for e in media.rtp.headerExtensions if e.uri == MID_URI), None)
                streams[media.kind] = _Stream(
                    media.kind,
                    transceiver.sender._ssrc,
                    media.rtp.codecs[0].payloadType,
                    _extension(transceiver.mid or "", ext),
                    sequence=int.from_bytes(os.urandom(2), "big"),
                    timestamp=int.from_bytes(os.urandom(4), "big"),
                )
            publisher = cls(pc, _wire(pc), clip, streams.get("audio"), streams.get("video"))
            publisher.handle = handle
            publisher._take_over()
            return publisher
        except BaseException:
            await pc.close()
            raise

    def _take_over(self) -> None:
        original = self.wire.protocol.datagram_received
        unprotect_rtcp = self.wire.rx.unprotect_rtcp

        def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
            if 127 < data[0] < 192 and len(data) > 8:
                if _is_rtcp(data):
                    with contextlib.suppress(pylibsrtp.Error):
                        self._on_rtcp(unprotect_rtcp(data))
                return  # RTP to a send-only publisher: nothing to do
            original(data, addr)

        self.wire.protocol.datagram_received = datagram_received

    def _on_rtcp(self, data: bytes) -> None:
        pos = 0
        while pos + 4 <= len(data):
            fmt, packet_type, length = data[pos] & 0x1F, data[pos + 1], data[pos + 2 : pos + 4]
            if packet_type == _PSFB and fmt in (_PLI, _FIR):
                self.frame = 0  # the clip's keyframe comes next
                self.keyframe_requests += 1
                self.keyframe_requested_at = time.monotonic()
            pos += 4 * (int.from_bytes(length, "big") + 1)

    def _send(self, stream: _Stream, payload: bytes, marker: bool) -> None:
        header = struct.pack(
            "!BBHII",
            0x90 if stream.extension else 0x80,
            (0x80 if marker else 0) | stream.payload_type,
            stream.sequence,
            stream.timestamp,
            stream.ssrc,
        )
        stream.sequence = (stream.sequence + 1) & 0xFFFF
        stream.sent += 1
        self.wire.transport.sendto(
            self.wire.tx.protect(header + stream.extension + payload), self.wire.remote
        )

    def send_video_frame(self, fps: float) -> None:
        stream = self.video
        if stream is None:
            return
        payloads = self.clip.video[self.frame]
        # Loop over the delta frames: a camera sends a keyframe only when asked (PLI/FIR).
        self.frame = (
            self.frame + 1 if self.frame + 1 < len(self.clip.video) else 1 % len(self.clip.video)
        )
        last = len(payloads) - 1
        for i, payload in enumerate(payloads):
            self._send(stream, payload, i == last)
        stream.timestamp = (stream.timestamp + int(VIDEO_CLOCK / fps)) & 0xFFFFFFFF

    def send_audio_frame(self) -> None:
        stream = self.audio
        if stream is None:
            return
        self._send(stream, self.clip.audio[self.audio_frame], False)
        self.audio_frame = (self.audio_frame + 1) % len(self.clip.audio)
        stream.timestamp = (stream.timestamp + int(AUDIO_CLOCK * AUDIO_PTIME_S)) & 0xFFFFFFFF

    @property
    def sent(self) -> dict[int, int]:
        """Packets sent per SSRC."""
        return {s.ssrc: s.sent for s in (self.audio, self.video) if s is not None}

    def reset(self) -> None:
        for stream in (self.audio, self.video):
            if stream is not None:
                stream.sent = 0

    async def close(self) -> None:
        await self.pc.close()


class Sender:
    """Paces many publishers: every video frame of each at ``fps``, audio every 20 ms.

    One timer per tick for all publishers, scheduled on absolute times (no drift); frames are
    sent in a burst per tick, as a camera's encoder would. Publishers are staggered over the
    frame interval so they do not all burst at once."""

    def __init__(self, publishers: Sequence[ReplayPublisher], fps: float) -> None:
        self.publishers = list(publishers)
        self.fps = fps
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        video_interval = 1 / self.fps
        count = max(1, len(self.publishers))
        next_video = [start + video_interval * i / count for i in range(count)]
        next_audio = start
        while True:
            now = loop.time()
            for i, publisher in enumerate(self.publishers):
                while next_video[i] <= now:
                    publisher.send_video_frame(self.fps)
                    next_video[i] += video_interval
            while next_audio <= now:
                for publisher in self.publishers:
                    publisher.send_audio_frame()
                next_audio += AUDIO_PTIME_S
            wake = min(*next_video, next_audio)
            await asyncio.sleep(max(0.0, wake - loop.time()))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="replay sender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


# --- subscriber ------------------------------------------------------------------------------


@dataclass
class CountingSubscriber:
    """Counts SRTP packets per SSRC after decrypting them; drops them (see the module doc)."""

    pc: RTCPeerConnection
    wire: _Wire
    labels: dict[int, tuple[str, str]]  # SSRC -> (publisher id, kind)
    handle: Any = None
    counts: dict[int, int] = field(default_factory=dict)
    rtcp: int = 0
    errors: int = 0
    first_packet_at: float | None = None

    @classmethod
    async def connect(
        cls,
        offer: str,
        streams: Mapping[str, tuple[str, str]],
        start: Callable[[str], Awaitable[None]],
        *,
        handle: Any = None,
        timeout: float = 20.0,
    ) -> CountingSubscriber:
        """Answers the SFU's ``offer`` (whose m-lines ``streams`` labels by mid with
        (publisher id, kind)), sends the answer with ``start``, waits for DTLS, takes over."""
        pc = new_peer_connection()
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            await start(pc.localDescription.sdp)
            labels = {}
            for media in aiortc_sdp.SessionDescription.parse(offer).media:
                label = streams.get(media.rtp.muxId or "")
                if label is not None:
                    for ssrc in media.ssrc:
                        labels[ssrc.ssrc] = label
            await _connected(pc, timeout)
            subscriber = cls(pc, _wire(pc), labels, handle)
            subscriber._take_over()
            return subscriber
        except BaseException:
            await pc.close()
            raise

    def _take_over(self) -> None:
        original = self.wire.protocol.datagram_received
        unprotect = self.wire.rx.unprotect
        counts = self.counts

        def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
            if 127 < data[0] < 192 and len(data) > 12:
                if _is_rtcp(data):
                    self.rtcp += 1
                    return
                try:
                    plain = unprotect(data)
                except pylibsrtp.Error:
                    self.errors += 1
                    return
                ssrc = int.from_bytes(plain[8:12], "big")
                counts[ssrc] = counts.get(ssrc, 0) + 1
                if self.first_packet_at is None:
                    self.first_packet_at = time.monotonic()
                return
            original(data, addr)

        self.wire.protocol.datagram_received = datagram_received

    def received(self) -> dict[tuple[str, str], int]:
        """Packets counted per (publisher id, kind)."""
        out: dict[tuple[str, str], int] = {}
        for ssrc, count in self.counts.items():
            label = self.labels.get(ssrc)
            if label is not None:
                out[label] = out.get(label, 0) + count
        return out

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reset(self) -> None:
        self.counts.clear()

    async def close(self) -> None:
        await self.pc.close()


# --- through Salon's SfuBackend ----------------------------------------------------------------


async def publish_via(
    sfu: SfuBackend, grant: PublishGrant, clip: Clip, *, audio: bool = True, video: bool = True
) -> ReplayPublisher:
    """A ``ReplayPublisher`` publishing through ``sfu`` with ``grant``."""
    order = [kind for kind, wanted in ((FeedKind.AUDIO, audio), (FeedKind.VIDEO, video)) if wanted]
    kinds = {str(mid): kind for mid, kind in enumerate(order)}

    async def negotiate(offer: str) -> tuple[str, Any]:
        publication = await sfu.publish(
            grant, SessionDescription(SdpType.OFFER, offer), kinds=kinds
        )
        return publication.answer.sdp, publication.handle

    return await ReplayPublisher.connect(negotiate, clip, audio=audio, video=video)


async def subscribe_via(
    sfu: SfuBackend, room: SfuRoom, participant_id: str, feeds: Sequence[FeedSelection]
) -> CountingSubscriber:
    """A ``CountingSubscriber`` of ``feeds`` through ``sfu``."""
    subscription = await sfu.subscribe(room, participant_id, feeds)
    streams = {s.mid: (s.publisher_id, s.kind.value) for s in subscription.streams}

    async def start(answer: str) -> None:
        await sfu.start_subscription(
            subscription.handle, SessionDescription(SdpType.ANSWER, answer)
        )

    return await CountingSubscriber.connect(
        subscription.offer.sdp, streams, start, handle=subscription.handle
    )
