// One RTCPeerConnection to one remote participant in a full mesh, negotiated with
// "perfect negotiation": either side may renegotiate at any time, and when both offer at once
// the polite side (the lexicographically smaller participant id) yields.
//
// Media layout. The connection has three media transceivers, one per slot, in this order:
// microphone, camera, screen. Both sides share them, so one offer/answer round carries media
// both ways: the side making the first offer adds them (send-receive for a publisher,
// receive-only for a viewer); the side answering it takes the ones the offer created, in m-line
// order (first audio: microphone; first video: camera; second video: screen), puts its own
// tracks on them and makes them send-receive before answering. Turning the camera on or off, or
// starting and stopping a screen share, is a replaceTrack() on a transceiver that already
// exists: no renegotiation, no glare. A viewer never sends: its transceivers are receive-only,
// and between two viewers there are none at all.
//
// Should both sides offer first at once (the wait below ran out just as the first offer came),
// the side that yields drops the transceivers of its rolled-back offer and takes the ones the
// other's offer made: transceivers made with addTransceiver() are never matched to the other
// side's m-lines, so keeping both sets would carry each side's media on m-lines of its own.
// Remote tracks that arrive outside this side's slots are placed by kind and order too.
//
// Chat runs on a pre-negotiated data channel (id 0, label "chat"), so the server never sees it.
//
// A newcomer who joins from a pre-call screen offers on a connection made while that screen
// showed (SpareConnection), its transceivers and data channel already there.
//
// Who offers first. Perfect negotiation survives glare, but a glare costs a rollback, and
// Chromium cannot roll back a first offer whose data channel sits at another m-line than the
// remote offer's ("Failed to start SCTP transport"; both sides' first offers here have the same
// m-lines, the data channel last, which keeps that away). So the first offer comes from the
// newcomer (the `initiator`: it learnt of the other from its join answer); the other side
// answers, offering afterwards only what that answer could not carry. If no offer comes in time,
// it offers anyway.
//
// ICE restarts when the connection fails, or stays "disconnected" for a moment (a network
// change: an address gone, another one come). The restart offer carries new ICE credentials,
// so both sides gather candidates on the networks they have now.

/** @typedef {"audio" | "video" | "screen"} Slot */
/** @typedef {{description?: RTCSessionDescriptionInit, candidate?: RTCIceCandidateInit}} SignalPayload */
/** @typedef {"connecting" | "stable" | "unstable" | "closed"} LinkQuality */

export const SLOTS = /** @type {const} */ (["audio", "video", "screen"]);
const DISCONNECTED_GRACE_MS = 2500; // "disconnected" often heals alone; restart ICE after this
const FIRST_OFFER_WAIT_MS = 4000; // how long the non-initiator waits for the first offer

/** @param {Slot} slot */
const kindOf = (slot) => (slot === "audio" ? "audio" : "video");

/** @param {RTCRtpTransceiver} t  stopped here, or by the other side */
const stopped = (t) => t.direction === "stopped" || t.currentDirection === "stopped";

/**
 * A link's connection (bundled, as every one here) and its chat channel.
 * @param {RTCConfiguration} config
 */
function openConnection(config) {
  const pc = new RTCPeerConnection({ ...config, bundlePolicy: "max-bundle" });
  return { pc, channel: pc.createDataChannel("chat", { negotiated: true, id: 0 }) };
}

/**
 * A connection made ahead of need for a newcomer's first offer, while its pre-call screen shows
 * (salon-client.js, preconnect): the connection, its data channel and its three transceivers
 * (no tracks yet) are what that offer carries, so the join skips making them, ~10-15 ms of the
 * first offer on a busy machine (bench/join.py), more on a slow phone. Nothing is gathered or
 * sent until the link makes its offer: the ICE servers, which come with the join, are set first.
 */
export class SpareConnection {
  constructor() {
    const { pc, channel } = openConnection({});
    this.pc = pc;
    this.channel = channel;
    /** @type {Record<Slot, RTCRtpTransceiver>} */
    this.slots = /** @type {Record<Slot, RTCRtpTransceiver>} */ (Object.fromEntries(
      SLOTS.map((slot) => [slot, pc.addTransceiver(kindOf(slot), { direction: "sendrecv" })]),
    ));
  }

  close() {
    this.channel.close();
    this.pc.close();
  }
}

export class PeerLink {
  /**
   * @param {object} options
   * @param {string} options.selfId
   * @param {string} options.remoteId
   * @param {RTCIceServer[]} options.iceServers
   * @param {RTCIceTransportPolicy} [options.iceTransportPolicy]  "relay": TURN only, so the
   *   remote never learns this side's addresses (a relay-only room)
   * @param {boolean} options.publish     false for a viewer: receive only
   * @param {boolean} [options.remotePublishes]  false when the remote is a viewer
   * @param {boolean} options.initiator   true: offer at once; false: wait for the first offer
   * @param {Record<Slot, MediaStreamTrack | null>} options.tracks  what to send now
   * @param {(payload: SignalPayload) => void} options.sendSignal
   * @param {(link: PeerLink) => void} options.onChange   tracks, data channel or quality changed
   * @param {(link: PeerLink, message: unknown) => void} options.onMessage  data channel message
   * @param {SpareConnection | null} [options.spare]  a connection made ahead, for an initiator
   *   (closed here when this link cannot use it)
   */
  constructor({
    selfId, remoteId, iceServers, iceTransportPolicy = "all", publish, remotePublishes = true,
    initiator, tracks, sendSignal, onChange, onMessage, spare = null,
  }) {
    this.remoteId = remoteId;
    this.polite = selfId < remoteId;
    this.publish = publish;
    this.remotePublishes = remotePublishes;
    this.sendSignal = sendSignal;
    this.onChange = onChange;
    this.onMessage = onMessage;
    /** @type {LinkQuality} */
    this.quality = "connecting";
    /** The remote participant's microphone and camera. */
    this.remoteCamera = new MediaStream();
    /** The remote participant's screen share (a track exists even while nothing is shared). */
    this.remoteScreen = new MediaStream();
    /** @type {Record<Slot, MediaStreamTrack | null>} what this side sends in each slot */
    this.tracks = { ...tracks };
    /** @type {Partial<Record<Slot, RTCRtpTransceiver>>} the transceiver of each slot */
    this.slots = {};

    const taken = initiator ? this.#takeSpare(spare, iceServers, iceTransportPolicy) : null;
    if (!taken) spare?.close();
    const { pc, channel } = taken ?? openConnection({ iceServers, iceTransportPolicy });
    this.pc = pc;
    this.channel = channel;

    this.makingOffer = false;
    /** @type {Promise<void> | null} the offer or answer on its way: settles once sent (or failed) */
    this.outgoing = null;
    this.ignoreOffer = false;
    this.closed = false;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.restartTimer = null;
    /** How many ICE restarts this side asked for (diagnostics and tests). */
    this.iceRestarts = 0;
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
    if (initiator) {
      // The first offer carries the transceivers both sides will use. It starts now rather
      // than at "negotiationneeded", a task later, behind whatever the page renders meanwhile.
      this.#addSlots();
      this.#offer();
    }
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
    if (!this.publish || this.closed) return;
    this.tracks[slot] = track;
    const transceiver = this.slots[slot];
    if (transceiver) await transceiver.sender.replaceTrack(track);
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

  /** Restarts ICE (also after a network change): the next offer has new ICE credentials. */
  restartIce() {
    if (this.closed) return;
    this.iceRestarts += 1;
    this.pc.restartIce();
  }

  /**
   * Fresh ICE servers (TURN credentials are short-lived): used from the next ICE gathering on,
   * e.g. an ICE restart.
   * @param {RTCIceServer[]} iceServers
   */
  setIceServers(iceServers) {
    if (this.closed) return;
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers });
    } catch (err) {
      console.warn("Salon: could not update the ICE servers:", err);
    }
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

  /**
   * `spare` with this link's ICE servers and its slots' directions and tracks, or null when
   * this link has no use for it (nothing to carry: two viewers) or it cannot take them.
   * @param {SpareConnection | null} spare
   * @param {RTCIceServer[]} iceServers
   * @param {RTCIceTransportPolicy} iceTransportPolicy
   */
  #takeSpare(spare, iceServers, iceTransportPolicy) {
    const direction = this.#direction();
    if (!spare || !direction) return null;
    try {
      spare.pc.setConfiguration({ ...spare.pc.getConfiguration(), iceServers, iceTransportPolicy });
    } catch {
      return null; // a new connection with them says what is wrong
    }
    for (const slot of SLOTS) this.#occupy(slot, spare.slots[slot], direction);
    return spare;
  }

  /**
   * Makes `transceiver` the one of `slot`, in `direction`, with this side's track on it. The
   * track goes on the connection's own chain of operations, ahead of the offer or answer
   * made next: no need to wait.
   * @param {Slot} slot
   * @param {RTCRtpTransceiver} transceiver
   * @param {RTCRtpTransceiverDirection} direction
   */
  #occupy(slot, transceiver, direction) {
    this.slots[slot] = transceiver;
    transceiver.direction = direction;
    const track = this.publish ? this.tracks[slot] : null;
    if (track) {
      transceiver.sender.replaceTrack(track).catch((err) => console.warn("Salon: replaceTrack:", err));
    }
  }

  /** The direction this side wants on its slots, or null when there is nothing to carry. */
  #direction() {
    if (this.publish) return this.remotePublishes ? "sendrecv" : "sendonly";
    return this.remotePublishes ? "recvonly" : null;
  }

  /** Adds a transceiver for each slot that has none yet (then negotiation is needed). */
  #addSlots() {
    const direction = this.#direction();
    if (!direction || this.closed) return;
    for (const slot of SLOTS) {
      if (this.slots[slot]) continue;
      const track = this.publish ? this.tracks[slot] : null;
      this.slots[slot] = this.pc.addTransceiver(track ?? kindOf(slot), { direction });
    }
  }

  /**
   * Takes the transceivers a remote offer just created into the empty slots, in m-line order,
   * with this side's tracks on them, so the answer carries this side's media too.
   */
  #adoptSlots() {
    const direction = this.#direction();
    if (!direction) return;
    for (const slot of SLOTS) {
      // This side's own first offer lost a glare (rolled back, so never negotiated): the
      // remote's offer brings m-lines for the same slots. Use those, and keep one set.
      const own = this.slots[slot];
      if (own && own.mid === null) {
        own.stop();
        delete this.slots[slot];
      }
    }
    const taken = new Set(Object.values(this.slots));
    for (const transceiver of this.pc.getTransceivers()) {
      if (taken.has(transceiver) || transceiver.mid === null || stopped(transceiver)) continue;
      const kind = transceiver.receiver.track.kind;
      /** @type {Slot | undefined} */
      const slot = SLOTS.find((s) => kindOf(s) === kind && !this.slots[s]);
      if (!slot) continue; // an m-line beyond the three slots: it stays receive-only
      this.#occupy(slot, transceiver, direction);
      taken.add(transceiver);
    }
  }

  /** Ends the wait for the first offer; offers what this side still has to negotiate. */
  #stopAwaiting() {
    if (!this.awaitingOffer || this.closed) return;
    this.awaitingOffer = false;
    if (this.firstOfferTimer) clearTimeout(this.firstOfferTimer);
    this.firstOfferTimer = null;
    // Slots the remote's offer did not bring (none came, or the remote is a viewer).
    this.#addSlots();
    const unnegotiated = this.pc.getTransceivers().some((t) => t.mid === null && !stopped(t)) ||
      this.pc.remoteDescription === null;
    if (unnegotiated) this.#offer();
  }

  #offer() {
    // An offer already on its way carries every transceiver; another would only glare.
    if (this.closed || this.makingOffer || this.pc.signalingState !== "stable") return;
    this.makingOffer = true;
    this.#goingOut(this.#sendOffer());
  }

  async #sendOffer() {
    try {
      await this.#sendLocalDescription();
    } catch (err) {
      console.warn(`Salon: offer to ${this.remoteId} failed:`, err);
    } finally {
      this.makingOffer = false;
    }
  }

  /** Makes this side's offer or answer (whichever the signaling state calls for) and sends it. */
  async #sendLocalDescription() {
    await this.pc.setLocalDescription();
    const local = /** @type {RTCSessionDescription} */ (this.pc.localDescription);
    this.sendSignal({ description: { type: local.type, sdp: local.sdp } });
  }

  /**
   * Marks `sending` as this side's description on its way (`outgoing`) until it settles.
   * @param {Promise<void>} sending
   */
  #goingOut(sending) {
    const outgoing = sending.finally(() => {
      if (this.outgoing === outgoing) this.outgoing = null;
    });
    this.outgoing = outgoing;
    return outgoing;
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
        this.#adoptSlots();
        await this.#goingOut(this.#sendLocalDescription());
        // Offer whatever that answer could not carry.
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
   * The slot a remote track belongs to: its transceiver's slot, or, for a transceiver outside
   * the slots (the remote's own m-lines), the same order rule among those.
   * @param {RTCRtpTransceiver} transceiver
   * @returns {Slot}
   */
  #remoteSlot(transceiver) {
    const slot = SLOTS.find((s) => this.slots[s] === transceiver);
    if (slot) return slot;
    const kind = transceiver.receiver.track.kind;
    if (kind === "audio") return "audio";
    const taken = new Set(Object.values(this.slots));
    const others = this.pc
      .getTransceivers()
      .filter((t) => !taken.has(t) && !stopped(t) && t.receiver.track.kind === "video");
    return others.indexOf(transceiver) >= 1 ? "screen" : "video";
  }

  /**
   * @param {MediaStreamTrack} track
   * @param {RTCRtpTransceiver} transceiver
   */
  #addRemoteTrack(track, transceiver) {
    const stream = this.#remoteSlot(transceiver) === "screen" ? this.remoteScreen : this.remoteCamera;
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
