"""What a page's RTCPeerConnections receive, read with getStats() through the room app's debug hook.

The room app exposes ``window.salon.debug.peerConnections()``: remote participant id →
RTCPeerConnection. ``stats(page)`` turns each connection's report into a ``PeerStats``, with the
ICE username fragments of its current local and remote descriptions (an ICE restart changes
them).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Page

_COLLECT = """
async () => {
  const debug = window.salon && window.salon.debug;
  if (!debug || typeof debug.peerConnections !== "function") return null;
  const pcs = debug.peerConnections();
  const entries = pcs instanceof Map ? [...pcs.entries()] : Object.entries(pcs || {});
  const ufrag = (d) => ((d && d.sdp) || "").match(/^a=ice-ufrag:(\\S+)/m)?.[1] ?? null;
  const out = {};
  for (const [id, pc] of entries) {
    const report = await pc.getStats();
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    const r = {
      connectionState: pc.connectionState, signalingState: pc.signalingState,
      iceConnectionState: pc.iceConnectionState,
      // A group room's entries are the SFU link's faces of each participant, without one.
      iceTransportPolicy: pc.getConfiguration ? pc.getConfiguration().iceTransportPolicy : null,
      framesDecoded: 0, videoInbound: 0, packetsReceived: 0, audioInbound: 0,
      totalAudioEnergy: 0, localTracks: pc.getSenders().filter((s) => s.track).length,
      pair: null,
      localUfrag: ufrag(pc.localDescription), remoteUfrag: ufrag(pc.remoteDescription),
    };
    let pairId = null;
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        r.videoInbound += 1;
        r.framesDecoded += s.framesDecoded || 0;
      }
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        r.audioInbound += 1;
        r.packetsReceived += s.packetsReceived || 0;
        r.totalAudioEnergy += s.totalAudioEnergy || 0;
      }
      if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    });
    if (!pairId) {
      report.forEach((s) => {
        if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pairId = s.id;
      });
    }
    const pair = pairId ? byId.get(pairId) : null;
    if (pair) {
      const side = (c) => c ? {type: c.candidateType, address: c.address || c.ip || "",
                               port: c.port, protocol: c.protocol,
                               relayProtocol: c.relayProtocol || null} : null;
      r.pair = {state: pair.state, local: side(byId.get(pair.localCandidateId)),
                remote: side(byId.get(pair.remoteCandidateId))};
    }
    out[id] = r;
  }
  return out;
}
"""


@dataclass(frozen=True)
class Candidate:
    type: str  # host | srflx | prflx | relay
    address: str
    port: int
    protocol: str
    relay_protocol: str | None = None  # a relay candidate: how it reaches the TURN server

    @property
    def is_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.address).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True)
class PeerStats:
    """What one page receives from one remote participant."""

    connection_state: str
    signaling_state: str
    ice_state: str
    ice_transport_policy: str | None  # "relay" in a relay-only room (None: not a connection)
    frames_decoded: int  # inbound video, all tracks
    video_inbound: int  # inbound video streams
    packets_received: int  # inbound audio
    audio_inbound: int  # inbound audio streams
    total_audio_energy: float
    local_tracks: int  # senders with a track: what this page publishes to that peer
    local: Candidate | None  # the selected candidate pair
    remote: Candidate | None
    local_ufrag: str | None = None  # a=ice-ufrag of the current local description
    remote_ufrag: str | None = None  # and of the remote one

    @property
    def host_to_host_on_loopback(self) -> bool:
        """Peer to peer: both ends of the selected pair are host candidates on loopback."""
        return (
            self.local is not None
            and self.remote is not None
            and self.local.type == "host"
            and self.remote.type == "host"
            and self.local.is_loopback
            # Chromium may report a peer's host candidate without its address (mDNS).
            and (self.remote.is_loopback or not self.remote.address)
        )


def _candidate(raw: dict[str, Any] | None) -> Candidate | None:
    if not raw:
        return None
    return Candidate(
        raw["type"] or "",
        raw["address"] or "",
        raw["port"] or 0,
        raw["protocol"],
        raw.get("relayProtocol"),
    )


def stats(page: Page) -> dict[str, PeerStats]:
    """Remote participant id → what this page receives from them (empty before the room app
    has its debug hook)."""
    raw: dict[str, dict[str, Any]] | None = page.evaluate(_COLLECT)
    result = {}
    for pid, r in (raw or {}).items():
        pair = r["pair"] or {}
        result[pid] = PeerStats(
            connection_state=r["connectionState"],
            signaling_state=r["signalingState"],
            ice_state=r["iceConnectionState"],
            ice_transport_policy=r["iceTransportPolicy"],
            frames_decoded=int(r["framesDecoded"]),
            video_inbound=int(r["videoInbound"]),
            packets_received=int(r["packetsReceived"]),
            audio_inbound=int(r["audioInbound"]),
            total_audio_energy=float(r["totalAudioEnergy"]),
            local_tracks=int(r["localTracks"]),
            local=_candidate(pair.get("local")),
            remote=_candidate(pair.get("remote")),
            local_ufrag=r["localUfrag"],
            remote_ufrag=r["remoteUfrag"],
        )
    return result
