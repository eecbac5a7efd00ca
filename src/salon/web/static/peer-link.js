// One RTCPeerConnection to one remote participant in a full mesh, negotiated with
// "perfect negotiation": either side may renegotiate at any time, and when both offer at once
// the polite side (the lexicographically smaller participant id) yields.
//
// Media layout. Each side that publishes adds its own three send-only transceivers, in this
// order, before any negotiation: microphone, camera, screen. Transceivers made with
// addTransceiver() are never matched to the other side's m-lines (JSEP only reuses addTrack
// ones), so the connection carries each side's three m-lines, one way each. The remote
// transceivers therefore arrive in the remote's creation order, and the second remote video one
// is always the screen. Turning the camera on or off, or starting and stopping a screen share,
// is a replaceTrack() on a transceiver that already exists: no renegotiation, no glare.
// A viewer adds no transceivers at all; the ones the others offer become receive-only.
//
// Chat runs on a pre-negotiated data channel (id 0, label "chat"), so the server never sees it.
//
// Who offers first. Perfect negotiation survives glare, but Chromium cannot roll back a first
// offer whose data channel sits at another m-line than the remote offer's ("Failed to start
// SCTP transport", e.g. a viewer's offer against a publisher's). So the first offer comes from
// the newcomer (the `initiator`: it learnt of the other from its join answer); the other side
// answers, then offers its own transceivers. If no offer comes in time, it offers anyway.

/** @typedef {"audio" | "video" | "screen"} Slot */
/** @typedef {{description?: RTCSessionDescriptionInit, candidate?: RTCIceCandidateInit}} SignalPayload */
/** @typedef {"connecting" | "stable" | "unstable" | "closed"} LinkQuality */

export const SLOTS = /** @type {const} */ (["audio", "video", "screen"]);
const DISCONNECTED_GRACE_MS = 2500; // "disconnected" often heals alone; restart ICE after this
const FIRST_OFFER_WAIT_MS = 4000; // how long the non-initiator waits for the first offer

export class PeerLink {
  /**
   * @param {object} options
   * @param {string} options.selfId
   * @param {string} options.remoteId
   * @param {RTCIceServer[]} options.iceServers
   * @param {boolean} options.publish     false for a viewer: receive only
   * @param {boolean} options.initiator   true: offer at once; false: wait for the first offer
   * @param {Record<Slot, MediaStreamTrack | null>} options.tracks  what to send now
   * @param {(payload: SignalPayload) => void} options.sendSignal
   * @param {(link: PeerLink) => void} options.onChange   tracks, data channel or quality changed
   * @param {(link: PeerLink, message: unknown) => void} options.onMessage  data channel message
   */
  constructor({
    selfId, remoteId, iceServers, publish, initiator, tracks, sendSignal, onChange, onMessage,
  }) {
    this.remoteId = remoteId;
    this.polite = selfId < remoteId;
    this.sendSignal = sendSignal;
    this.onChange = onChange;
    this.onMessage = onMessage;
    /** @type {LinkQuality} */
    this.quality = "connecting";
    /** The remote participant's microphone and camera. */
    this.remoteCamera = new MediaStream();
    /** The remote participant's screen share (a track exists even while nothing is shared). */
    this.remoteScreen = new MediaStream();

    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
    /** @type {Set<RTCRtpTransceiver>} */
    this.own = new Set();
    /** @type {Partial<Record<Slot, RTCRtpTransceiver>>} */
    this.senders = {};
    if (publish) {
      for (const slot of SLOTS) {
        const kind = slot === "audio" ? "audio" : "video";
        const transceiver = this.pc.addTransceiver(tracks[slot] ?? kind, {
          direction: "sendonly",
        });
        this.own.add(transceiver);
        this.senders[slot] = transceiver;
      }
    }
    this.channel = this.pc.createDataChannel("chat", { negotiated: true, id: 0 });

    this.makingOffer = false;
    this.ignoreOffer = false;
    this.closed = false;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.restartTimer = null;
    this.awaitingOffer = !initiator;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.firstOfferTimer = initiator ? null : setTimeout(() => this.#stopAwaiting(), FIRST_OFFER_WAIT_MS);
    // Incoming signals are applied one at a time, in arrival order.
    /** @type {Promise<void>} */
    this.queue = Promise.resolve();

    this.pc.onnegotiationneeded = () => {
      if (!this.awaitingOffer) this.#offer();
    };
    this.pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.sendSignal({ candidate: withoutNulls(candidate.toJSON()) });
    };
    this.pc.oniceconnectionstatechange = () => this.#iceChanged();
    this.pc.onconnectionstatechange = () => this.#iceChanged();
    this.pc.ontrack = ({ track, transceiver }) => this.#addRemoteTrack(track, transceiver);
    this.channel.onopen = () => this.onChange(this);
    this.channel.onclose = () => this.onChange(this);
    this.channel.onmessage = ({ data }) => {
      if (typeof data !== "string" || data.length > 64 * 1024) return;
      try {
        this.onMessage(this, JSON.parse(data));
      } catch {
        // Not JSON: a peer speaking something else. Ignore it.
      }
    };
  }

  /** Whether chat can go over the data channel now. */
  get chatOpen() {
    return this.channel.readyState === "open";
  }

  /**
   * Sends a message on the data channel; false when it is not open.
   * @param {unknown} message
   */
  send(message) {
    if (!this.chatOpen) return false;
    try {
      this.channel.send(JSON.stringify(message));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Sends `track` (or nothing) in a slot; no renegotiation.
   * @param {Slot} slot
   * @param {MediaStreamTrack | null} track
   */
  async setTrack(slot, track) {
    const transceiver = this.senders[slot];
    if (!transceiver || this.closed) return;
    await transceiver.sender.replaceTrack(track);
  }

  /**
   * Applies a signal from the remote participant.
   * @param {SignalPayload} payload
   */
  handleSignal(payload) {
    this.queue = this.queue.then(() => this.#apply(payload)).catch((err) => {
      console.warn(`Salon: signal from ${this.remoteId} not applied:`, err);
    });
    return this.queue;
  }

  /** Restarts ICE (also after a network change). */
  restartIce() {
    if (!this.closed) this.pc.restartIce();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.firstOfferTimer) clearTimeout(this.firstOfferTimer);
    this.quality = "closed";
    this.pc.onnegotiationneeded = null;
    this.pc.onicecandidate = null;
    this.channel.onclose = null;
    this.channel.close();
    this.pc.close();
    for (const track of [...this.remoteCamera.getTracks(), ...this.remoteScreen.getTracks()]) {
      track.stop();
    }
  }

  /** Ends the wait for the first offer; offers what this side still has to negotiate. */
  #stopAwaiting() {
    if (!this.awaitingOffer) return;
    this.awaitingOffer = false;
    if (this.firstOfferTimer) clearTimeout(this.firstOfferTimer);
    this.firstOfferTimer = null;
    const unnegotiated = this.pc.getTransceivers().some((t) => t.mid === null) ||
      this.pc.remoteDescription === null;
    if (unnegotiated) this.#offer();
  }

  async #offer() {
    // An offer already on its way carries every transceiver; another would only glare.
    if (this.closed || this.makingOffer || this.pc.signalingState !== "stable") return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      const local = /** @type {RTCSessionDescription} */ (this.pc.localDescription);
      this.sendSignal({ description: { type: local.type, sdp: local.sdp } });
    } catch (err) {
      console.warn(`Salon: offer to ${this.remoteId} failed:`, err);
    } finally {
      this.makingOffer = false;
    }
  }

  /** @param {SignalPayload} payload */
  async #apply({ description, candidate }) {
    if (this.closed) return;
    const pc = this.pc;
    if (description) {
      const collision =
        description.type === "offer" && (this.makingOffer || pc.signalingState !== "stable");
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) return;
      // The polite side's setRemoteDescription rolls its own offer back implicitly.
      await pc.setRemoteDescription(description);
      if (description.type === "offer") {
        await pc.setLocalDescription();
        const local = /** @type {RTCSessionDescription} */ (pc.localDescription);
        this.sendSignal({ description: { type: local.type, sdp: local.sdp } });
        // This side's own transceivers were not in that offer: offer them now.
        if (this.awaitingOffer) queueMicrotask(() => this.#stopAwaiting());
      }
    } else if (candidate) {
      try {
        await pc.addIceCandidate(candidate);
      } catch (err) {
        // Candidates of an offer this side ignored fail to apply; that is expected.
        if (!this.ignoreOffer) throw err;
      }
    }
  }

  /**
   * @param {MediaStreamTrack} track
   * @param {RTCRtpTransceiver} transceiver
   */
  #addRemoteTrack(track, transceiver) {
    if (this.own.has(transceiver)) return;
    let stream = this.remoteCamera;
    if (track.kind === "video") {
      const remoteVideo = this.pc
        .getTransceivers()
        .filter((t) => !this.own.has(t) && t.receiver.track.kind === "video");
      if (remoteVideo.indexOf(transceiver) >= 1) stream = this.remoteScreen;
    }
    for (const old of stream.getTracks()) {
      if (old.kind === track.kind && old !== track) stream.removeTrack(old);
    }
    if (!stream.getTracks().includes(track)) stream.addTrack(track);
    track.onunmute = () => this.onChange(this);
    track.onmute = () => this.onChange(this);
    this.onChange(this);
  }

  #iceChanged() {
    if (this.closed) return;
    const ice = this.pc.iceConnectionState;
    const connection = this.pc.connectionState;
    if (ice === "failed" || connection === "failed") {
      this.restartIce();
    } else if (ice === "disconnected") {
      if (this.restartTimer) clearTimeout(this.restartTimer);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (this.pc.iceConnectionState === "disconnected") this.restartIce();
      }, DISCONNECTED_GRACE_MS);
    }
    const before = this.quality;
    if (ice === "connected" || ice === "completed") this.quality = "stable";
    else if (ice === "new" || (ice === "checking" && before === "connecting")) {
      this.quality = "connecting";
    } else this.quality = "unstable";
    if (this.quality !== before) this.onChange(this);
  }
}

/**
 * A copy of `value` without its null and undefined fields (the server refuses unknown shapes).
 * @template {object} T
 * @param {T} value
 * @returns {Partial<T>}
 */
function withoutNulls(value) {
  return /** @type {Partial<T>} */ (
    Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined))
  );
}
