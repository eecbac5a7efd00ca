// A group room's media through Salon's SFU (docs/signaling.md, "Group rooms (SFU)").
//
// Two RTCPeerConnections, both with the SFU, never with another browser: the publisher sends
// this side's microphone, camera and screen; the subscriber receives everyone else's streams.
// The browser speaks only Salon's signaling (sfu_publish, sfu_subscribe, sfu_answer,
// sfu_candidate, sfu_unpublish, sfu_restart_ice, sfu_view; sfu_offer and sfu_reset from the
// server); Salon drives the SFU.
//
// Publisher. Three send-only transceivers, in this order: microphone, camera, screen (a viewer
// has none). The camera is simulcast in three layers (rids h, m, l) where the browser allows;
// `kinds` tells the server which mid is which, so a screen share stays a screen share for
// everyone. Turning camera or screen on and off is replaceTrack(): no renegotiation.
//
// Subscriber. The SFU offers; this side answers. Every offer comes with `streams`
// ({mid, participantId, kind}): which m-line carries whose microphone, camera or screen. The
// SFU reuses the m-lines of streams that went away, so after each offer every receiver's track
// is placed again by its mid.
//
// The room app sees one `SfuRemote` per other participant, with the face of a PeerLink
// (peer-link.js): `remoteCamera` and `remoteScreen` streams, `quality`, and a `pc` whose
// getStats() holds only that participant's inbound streams. Chat has no data channel here
// (`send` says false, so the client relays chat through the server).
//
// Layers. Each camera reaches the SFU in three simulcast layers; which one this side receives
// is the server's choice (salon.media.layers), from what this side tells it with `sfu_view`:
// how large it draws each stream (a TileWatcher watches the elements that show them: size in
// device pixels, on screen or not, page hidden or not) and how its receiving path fares (the
// subscriber's packet loss and, where the browser has one, its estimate of the bandwidth
// available). A view goes out at most once a second, and only when it changed.
//
// Fresh ICE servers. TURN credentials are short-lived, and coturn refuses to refresh an
// allocation whose credential has expired: when the server sends new ones, both connections
// restart ICE on the same RTCPeerConnection (`renewIce`), so they gather relay candidates on new
// allocations while the old ones still carry the media, which moves to a new pair once ICE
// chose it. The publisher offers with iceRestart (sfu_publish renegotiates); the subscriber,
// whose offers the SFU makes, asks for one with sfu_restart_ice and answers the sfu_offer that
// follows. Resubscribing instead would make a new connection and stop every stream the page
// receives until it is up.
//
// Failures. `sfu_reset` (the room's media was lost with an SFU node and made again) starts both
// connections over. A publisher whose ICE fails restarts ICE (a new offer, same connection); a
// subscriber whose ICE fails subscribes afresh. After a signaling resume, whatever did not get
// through while the signaling was down is done again (the server re-sends an unanswered offer).

/** @typedef {"audio" | "video" | "screen"} Slot */
/** @typedef {{mid: string, participantId: string, kind: Slot}} StreamInfo */
/** @typedef {{ok: true} & Record<string, any> | {ok: false, error: {code: string, message: string}}} Answer */
/** @typedef {(event: string, payload: object) => Promise<Answer>} Request */
/** @typedef {"connecting" | "stable" | "unstable" | "closed"} LinkQuality */
/** @typedef {import("./tiles.js").TileWatcher} TileWatcher */

const SLOTS = /** @type {const} */ (["audio", "video", "screen"]);
/** Camera simulcast: full, half and quarter resolution. */
const SIMULCAST = [
  { rid: "h", maxBitrate: 900_000 },
  { rid: "m", maxBitrate: 300_000, scaleResolutionDownBy: 2 },
  { rid: "l", maxBitrate: 100_000, scaleResolutionDownBy: 4 },
];
const DISCONNECTED_GRACE_MS = 2500; // "disconnected" often heals alone; restart after this
/** The least time between two views sent to the server. */
const VIEW_INTERVAL_MS = 1000;
/** How often the subscriber's statistics are read for loss and bandwidth. */
const STATS_INTERVAL_MS = 2000;
/** Loss goes to the server in whole percents; a bandwidth estimate once it moved by 15 %. */
const LOSS_STEP = 0.01;
const BANDWIDTH_CHANGE = 0.15;
/** What sfu_view accepts (the server refuses more). */
const MAX_TILES = 400;
const MAX_BANDWIDTH = 10_000_000_000;
/** Request failures that mean the message may not have reached the server. */
const LOST = new Set(["not_connected", "timeout"]);

/** @param {Slot} slot */
const kindOf = (slot) => (slot === "audio" ? "audio" : "video");

export class SfuLink {
  /**
   * @param {object} options
   * @param {RTCIceServer[]} options.iceServers
   * @param {RTCIceTransportPolicy} [options.iceTransportPolicy]
   * @param {boolean} options.publish  false for a viewer: receive only
   * @param {Record<Slot, MediaStreamTrack | null>} options.tracks  what to send now
   * @param {Request} options.request  sends a client event, resolves with its acknowledgement
   * @param {(remoteId: string) => void} options.onChange  a participant's media or quality changed
   */
  constructor({ iceServers, iceTransportPolicy = "all", publish, tracks, request, onChange }) {
    this.iceServers = iceServers;
    this.iceTransportPolicy = iceTransportPolicy;
    this.publish = publish;
    this.request = request;
    this.onChange = onChange;
    /** @type {Record<Slot, MediaStreamTrack | null>} */
    this.tracks = { ...tracks };
    /** @type {Map<string, SfuRemote>} */
    this.remotes = new Map();
    /** @type {RTCPeerConnection | null} */
    this.publisher = null;
    /** @type {Partial<Record<Slot, RTCRtpTransceiver>>} */
    this.slots = {};
    /** @type {RTCPeerConnection | null} */
    this.subscriber = null;
    /** @type {Map<string, StreamInfo>} what each subscriber m-line carries */
    this.streams = new Map();
    /** @type {LinkQuality} */
    this.quality = "connecting";
    this.closed = false;
    /** Bumped at every start over: work of an older generation stops where it is. */
    this.generation = 0;
    /** A publish (or its renegotiation) is on its way; its candidates wait until it is done. */
    this.publishing = false;
    /** @type {RTCIceCandidateInit[]} */
    this.heldCandidates = [];
    /** @type {object | null} the sfu_subscribe queued or on its way: offers that arrive before
     * its answer are for the subscription it replaces */
    this.pendingSubscribe = null;
    /** Something may not have reached the server (the signaling was down): redo on resume. */
    this.missed = { publisher: false, subscriber: false };
    /** Counts signaling resumes: a request lost across one is redone at once. */
    this.resumes = 0;
    /** The subscriber's ICE restart (renewIce) may not have reached the server. */
    this.renewalMissed = false;
    /** How many times each side started over or restarted ICE (diagnostics and tests). */
    this.restarts = { publisher: 0, subscriber: 0 };
    /** How many ICE restarts each side completed for fresh ICE servers, on the same
     * connection (renewIce; diagnostics and tests). */
    this.renewals = { publisher: 0, subscriber: 0 };
    // Work on each connection happens one step at a time, in order.
    /** @type {Promise<void>} */
    this.publisherQueue = Promise.resolve();
    /** @type {Promise<void>} */
    this.subscriberQueue = Promise.resolve();
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.restartTimer = null;
    // Views (sfu_view): the tiles' watcher, the network as last sampled, what was last sent.
    /** @type {TileWatcher | null} */
    this.watcher = null;
    /** @type {(() => void) | null} */
    this.unwatchTiles = null;
    /** @type {{loss?: number, bandwidth?: number}} */
    this.network = {};
    /** @type {{pc: RTCPeerConnection, lost: number, received: number} | null} */
    this.counters = null;
    /** @type {string | null} the last view the server took, as JSON */
    this.lastView = null;
    this.lastViewAt = -Infinity;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.viewTimer = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.statsTimer = null;
    /** How many views went to the server (diagnostics and tests). */
    this.viewsSent = 0;
  }

  /** Publishes (unless a viewer) and subscribes. */
  start() {
    if (this.closed) return;
    if (this.publish) this.#onPublisher(() => this.#startPublisher());
    this.#queueSubscribe(true);
  }

  /**
   * The per-participant face the room app shows (made if there is none yet).
   * @param {string} id
   */
  remote(id) {
    let remote = this.remotes.get(id);
    if (!remote) {
      remote = new SfuRemote(this, id);
      this.remotes.set(id, remote);
      this.#placeTracks();
    }
    return remote;
  }

  /**
   * Sends `track` (or nothing) in a slot; no renegotiation.
   * @param {Slot} slot
   * @param {MediaStreamTrack | null} track
   */
  async setTrack(slot, track) {
    if (!this.publish || this.closed || this.tracks[slot] === track) return;
    this.tracks[slot] = track;
    const transceiver = this.slots[slot];
    if (transceiver && this.publisher?.signalingState !== "closed") {
      await transceiver.sender.replaceTrack(track);
    }
  }

  /**
   * Fresh ICE servers (TURN credentials are short-lived): for both connections from their next
   * ICE gathering on, and for every connection made from now on.
   * @param {RTCIceServer[]} iceServers
   */
  setIceServers(iceServers) {
    if (this.closed) return;
    this.iceServers = iceServers;
    for (const pc of [this.publisher, this.subscriber]) {
      if (!pc) continue;
      try {
        pc.setConfiguration({ ...pc.getConfiguration(), iceServers });
      } catch (err) {
        console.warn("Salon: could not update the ICE servers:", err);
      }
    }
  }

  /**
   * Fresh ICE servers, and ICE restarted on both connections with them (see "Fresh ICE
   * servers" above). A connection not negotiated yet has gathered nothing: the servers alone
   * do for it, as for one made from now on.
   * @param {RTCIceServer[]} iceServers
   */
  renewIce(iceServers) {
    if (this.closed) return;
    this.setIceServers(iceServers);
    const generation = this.generation;
    if (this.publish) {
      this.#onPublisher(async () => {
        const pc = this.publisher;
        if (!pc || generation !== this.generation || pc.signalingState !== "stable" ||
            !pc.remoteDescription) return;
        if (await this.#offerToSfu(pc, generation, true)) this.renewals.publisher += 1;
      });
    }
    this.#renewSubscriber();
  }

  /** Asks the SFU to restart the subscriber's ICE; its offer follows as sfu_offer. */
  #renewSubscriber() {
    const generation = this.generation;
    this.#onSubscriber(async () => {
      const pc = this.subscriber;
      // A subscription on its way is a new connection, made with the new servers.
      if (!pc || generation !== this.generation || this.pendingSubscribe ||
          !pc.remoteDescription) return;
      this.renewalMissed = false;
      const since = this.resumes;
      // The SFU's offer comes after this answer, and goes through handleOffer.
      const answer = await this.request("sfu_restart_ice", {});
      if (answer.ok || generation !== this.generation || pc !== this.subscriber) return;
      if (!LOST.has(answer.error.code)) {
        console.warn("Salon: the SFU did not restart ICE:", answer.error);
      } else if (since === this.resumes) {
        this.renewalMissed = true; // asked again at the resume
      } else {
        this.#renewSubscriber(); // the signaling is back already
      }
    });
  }

  /** @param {Record<Slot, MediaStreamTrack | null>} tracks */
  async setTracks(tracks) {
    await Promise.all(SLOTS.map((slot) => this.setTrack(slot, tracks[slot])));
  }

  /**
   * The SFU renegotiates the subscription (someone started or stopped publishing).
   * @param {{description?: RTCSessionDescriptionInit, streams?: StreamInfo[]}} payload
   */
  handleOffer(payload) {
    // Offers sent before the answer to a pending sfu_subscribe belong to the subscription it
    // replaces (the server answers in order).
    if (this.closed || this.pendingSubscribe || payload?.description?.type !== "offer") return;
    const generation = this.generation;
    this.#onSubscriber(() => this.#applyOffer(payload, generation));
  }

  /** The room's media was lost with an SFU node: everything starts over. */
  reset() {
    if (this.closed) return;
    this.generation += 1;
    this.#closePublisher();
    this.#closeSubscriber();
    this.start();
  }

  /**
   * Reads the tiles `watcher` watches: from now on the server hears how this side shows each
   * stream it receives and how its receiving path fares (sfu_view), so it forwards each
   * camera in a layer that fits.
   * @param {TileWatcher} watcher
   */
  useTiles(watcher) {
    if (this.closed || this.watcher === watcher) return;
    this.unwatchTiles?.();
    this.watcher = watcher;
    this.unwatchTiles = watcher.listen(() => this.#viewChanged());
    if (this.statsTimer === null) {
      this.statsTimer = setInterval(() => {
        this.#sampleNetwork().catch((err) => console.warn("Salon: no receive statistics:", err));
      }, STATS_INTERVAL_MS);
    }
    this.#viewChanged();
  }

  /** After a signaling resume: redo whatever the drop may have swallowed. */
  resumed() {
    if (this.closed) return;
    this.resumes += 1;
    if (this.lastView === null) this.#viewChanged();
    const failed = (/** @type {RTCPeerConnection | null} */ pc) =>
      !pc || pc.connectionState === "failed" || pc.connectionState === "closed";
    if (this.publish && (this.missed.publisher || failed(this.publisher))) this.#missed("publisher");
    if (this.missed.subscriber || (this.subscriber && failed(this.subscriber))) {
      this.#missed("subscriber");
    }
    if (this.renewalMissed) {
      this.renewalMissed = false;
      this.#renewSubscriber();
    }
  }

  /**
   * A request of that side may not have reached the server: start that side over now if the
   * signaling is back since it was sent (`since`: `resumes` then), else at the next resume.
   * @param {"publisher" | "subscriber"} side
   * @param {number} [since]
   */
  #missed(side, since) {
    if (since !== undefined && since === this.resumes) {
      this.missed[side] = true;
      return;
    }
    this.missed[side] = false;
    if (side === "publisher") this.#onPublisher(() => this.#startPublisher());
    else this.#queueSubscribe(false);
  }

  /** Subscribes afresh (a new connection), once however many participants ask. */
  resubscribe() {
    if (!this.closed) this.#queueSubscribe(false);
  }

  /** @param {string} id */
  forget(id) {
    const remote = this.remotes.get(id);
    if (!remote) return;
    this.remotes.delete(id);
    remote.quality = "closed";
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.generation += 1;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.viewTimer) clearTimeout(this.viewTimer);
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.unwatchTiles?.();
    this.#closePublisher();
    this.#closeSubscriber();
    for (const remote of this.remotes.values()) remote.quality = "closed";
    this.quality = "closed";
  }

  /** The real connections: {publisher, subscriber} (tests and diagnostics). */
  peerConnections() {
    return { publisher: this.publisher, subscriber: this.subscriber };
  }

  // --- publisher -------------------------------------------------------------------------

  /** @param {() => Promise<void>} step */
  #onPublisher(step) {
    this.publisherQueue = this.publisherQueue.then(step).catch((err) => {
      console.warn("Salon: publishing to the SFU failed:", err);
    });
  }

  /** @param {() => Promise<void>} step */
  #onSubscriber(step) {
    this.subscriberQueue = this.subscriberQueue.then(step).catch((err) => {
      console.warn("Salon: receiving from the SFU failed:", err);
    });
  }

  #newConnection() {
    return new RTCPeerConnection({
      iceServers: this.iceServers,
      iceTransportPolicy: this.iceTransportPolicy,
      bundlePolicy: "max-bundle",
    });
  }

  /** A new publisher connection, offered to the SFU. */
  async #startPublisher() {
    if (this.closed) return;
    const generation = this.generation;
    const hadOne = this.publisher !== null;
    this.#closePublisher();
    if (hadOne) {
      // The server's publisher belongs to the old connection: leave it, then join afresh.
      this.restarts.publisher += 1;
      // Lost or not, the server also tells a new connection's offer from the old one's.
      await this.request("sfu_unpublish", {});
      if (generation !== this.generation) return;
    }
    const pc = this.#newConnection();
    this.publisher = pc;
    for (const slot of SLOTS) {
      const track = this.tracks[slot] ?? kindOf(slot);
      /** @type {RTCRtpTransceiverInit} */
      const init = { direction: "sendonly" };
      if (slot === "video") {
        try {
          this.slots[slot] = pc.addTransceiver(track, { ...init, sendEncodings: SIMULCAST });
          continue;
        } catch (err) {
          console.info("Salon: no simulcast here:", err);
        }
      }
      this.slots[slot] = pc.addTransceiver(track, init);
    }
    pc.onicecandidate = ({ candidate }) => {
      if (pc !== this.publisher) return;
      this.#trickle("publisher", candidate ? withoutNulls(candidate.toJSON()) : null);
    };
    pc.oniceconnectionstatechange = () => this.#publisherIceChanged(pc);
    await this.#offerToSfu(pc, generation);
  }

  /**
   * Offers `pc`'s current state to the SFU and applies its answer; true once applied.
   * @param {RTCPeerConnection} pc
   * @param {number} generation
   * @param {boolean} [iceRestart]
   * @returns {Promise<boolean>}
   */
  async #offerToSfu(pc, generation, iceRestart = false) {
    this.publishing = true;
    try {
      await pc.setLocalDescription(await pc.createOffer({ iceRestart }));
      const local = /** @type {RTCSessionDescription} */ (pc.localDescription);
      /** @type {Record<string, Slot>} */
      const kinds = {};
      for (const slot of SLOTS) {
        const mid = this.slots[slot]?.mid;
        if (mid) kinds[mid] = slot;
      }
      const since = this.resumes;
      const answer = await this.request("sfu_publish", {
        description: { type: "offer", sdp: local.sdp },
        kinds,
      });
      if (generation !== this.generation || pc !== this.publisher) return false;
      if (!answer.ok) {
        if (LOST.has(answer.error.code)) this.#missed("publisher", since);
        console.warn("Salon: the SFU did not take this side's media:", answer.error);
        return false;
      }
      await pc.setRemoteDescription(answer.description);
      return true;
    } finally {
      this.publishing = false;
      const held = this.heldCandidates;
      this.heldCandidates = [];
      if (pc === this.publisher) for (const c of held) this.#trickle("publisher", c);
    }
  }

  /** @param {RTCPeerConnection} pc */
  #publisherIceChanged(pc) {
    if (pc !== this.publisher || this.closed) return;
    const state = pc.iceConnectionState;
    if (state === "failed") {
      this.#restartPublisherIce(pc);
    } else if (state === "disconnected") {
      if (this.restartTimer) clearTimeout(this.restartTimer);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (pc === this.publisher && pc.iceConnectionState === "disconnected") {
          this.#restartPublisherIce(pc);
        }
      }, DISCONNECTED_GRACE_MS);
    }
    this.#qualityChanged();
  }

  /** @param {RTCPeerConnection} pc */
  #restartPublisherIce(pc) {
    this.restarts.publisher += 1;
    const generation = this.generation;
    this.#onPublisher(async () => {
      if (pc !== this.publisher || pc.signalingState !== "stable") return;
      await this.#offerToSfu(pc, generation, true);
    });
  }

  #closePublisher() {
    const pc = this.publisher;
    this.publisher = null;
    this.slots = {};
    this.heldCandidates = [];
    if (pc) {
      pc.onicecandidate = null;
      pc.oniceconnectionstatechange = null;
      pc.close();
    }
  }

  // --- subscriber ------------------------------------------------------------------------

  /** @param {boolean} force  queue one even if one is queued already (a new generation) */
  #queueSubscribe(force) {
    if (this.pendingSubscribe && !force) return;
    const token = {};
    this.pendingSubscribe = token;
    const done = () => {
      if (this.pendingSubscribe === token) this.pendingSubscribe = null;
    };
    this.#onSubscriber(async () => {
      try {
        await this.#subscribe(done);
      } finally {
        done();
      }
    });
  }

  /**
   * A new subscription: the SFU offers everything the others publish (or nothing yet).
   * @param {() => void} answered  called once the server answered (later offers are for it)
   */
  async #subscribe(answered) {
    if (this.closed) return;
    const generation = this.generation;
    if (this.subscriber) this.restarts.subscriber += 1;
    this.#closeSubscriber();
    const pc = this.#newConnection();
    this.subscriber = pc;
    pc.onicecandidate = ({ candidate }) => {
      if (pc !== this.subscriber) return;
      this.#trickle("subscriber", candidate ? withoutNulls(candidate.toJSON()) : null);
    };
    pc.oniceconnectionstatechange = () => this.#subscriberIceChanged(pc);
    pc.ontrack = () => this.#placeTracks();
    const since = this.resumes;
    const answer = await this.request("sfu_subscribe", {});
    answered();
    if (generation !== this.generation || pc !== this.subscriber) return;
    if (!answer.ok) {
      if (LOST.has(answer.error.code)) this.#missed("subscriber", since);
      console.warn("Salon: the SFU did not subscribe this side:", answer.error);
      return;
    }
    // A new subscription on the server keeps the view it had; a view that did not get
    // through goes again.
    if (this.lastView === null) this.#viewChanged();
    // Null while nobody publishes: the offer comes as sfu_offer when someone does.
    if (answer.description) await this.#applyOffer(answer, generation);
  }

  /**
   * @param {{description?: RTCSessionDescriptionInit, streams?: StreamInfo[]}} offered
   * @param {number} generation
   */
  async #applyOffer(offered, generation) {
    const pc = this.subscriber;
    if (!pc || generation !== this.generation || !offered.description) return;
    this.streams = new Map();
    for (const stream of Array.isArray(offered.streams) ? offered.streams : []) {
      if (typeof stream?.mid === "string" && typeof stream.participantId === "string" &&
          SLOTS.includes(stream.kind)) {
        this.streams.set(stream.mid, stream);
      }
    }
    // New ICE credentials from the SFU on the same connection: the restart sfu_restart_ice
    // asked for (whether the SFU offered it at once or with its next renegotiation).
    const before = iceUfrag(pc.remoteDescription?.sdp);
    const restarted = before !== null && before !== iceUfrag(offered.description.sdp);
    await pc.setRemoteDescription(offered.description);
    await pc.setLocalDescription();
    this.#placeTracks();
    const local = /** @type {RTCSessionDescription} */ (pc.localDescription);
    const since = this.resumes;
    const answer = await this.request("sfu_answer", { description: { type: "answer", sdp: local.sdp } });
    if (generation !== this.generation || pc !== this.subscriber) return;
    if (answer.ok && restarted) this.renewals.subscriber += 1;
    if (!answer.ok && LOST.has(answer.error.code)) this.#missed("subscriber", since);
  }

  /** Puts every received track in the stream of the participant (and slot) it carries. */
  #placeTracks() {
    const pc = this.subscriber;
    /** @type {Map<string, {camera: MediaStreamTrack[], screen: MediaStreamTrack[]}>} */
    const wanted = new Map();
    for (const transceiver of pc ? pc.getTransceivers() : []) {
      const info = transceiver.mid === null ? undefined : this.streams.get(transceiver.mid);
      const track = transceiver.receiver.track;
      if (!info || transceiver.currentDirection === "inactive" || !track) continue;
      let tracks = wanted.get(info.participantId);
      if (!tracks) wanted.set(info.participantId, (tracks = { camera: [], screen: [] }));
      (info.kind === "screen" ? tracks.screen : tracks.camera).push(track);
    }
    for (const [id, remote] of this.remotes) {
      const tracks = wanted.get(id) ?? { camera: [], screen: [] };
      const changed = sync(remote.remoteCamera, tracks.camera) | sync(remote.remoteScreen, tracks.screen);
      if (changed) this.onChange(id);
    }
  }

  /** @param {RTCPeerConnection} pc */
  #subscriberIceChanged(pc) {
    if (pc !== this.subscriber || this.closed) return;
    if (pc.iceConnectionState === "failed") this.resubscribe();
    this.#qualityChanged();
  }

  #closeSubscriber() {
    const pc = this.subscriber;
    this.subscriber = null;
    this.streams = new Map();
    if (pc) {
      pc.onicecandidate = null;
      pc.oniceconnectionstatechange = null;
      pc.ontrack = null;
      pc.close();
    }
    this.#placeTracks();
  }

  // --- views (simulcast layers) ----------------------------------------------------------

  #viewChanged() {
    if (this.closed || this.viewTimer !== null || !this.watcher) return;
    const wait = Math.max(0, this.lastViewAt + VIEW_INTERVAL_MS - performance.now());
    this.viewTimer = setTimeout(() => {
      this.viewTimer = null;
      this.#sendView();
    }, wait);
  }

  async #sendView() {
    if (this.closed || !this.watcher) return;
    const view = { tiles: this.watcher.tiles().slice(0, MAX_TILES), ...this.network };
    const json = JSON.stringify(view);
    if (json === this.lastView) return;
    this.lastView = json;
    this.lastViewAt = performance.now();
    this.viewsSent += 1;
    const answer = await this.request("sfu_view", view);
    if (!answer.ok && this.lastView === json) {
      // Sent again at the next change, subscription or resume.
      this.lastView = null;
      if (!LOST.has(answer.error.code)) console.warn("Salon: the server did not take the view:", answer.error);
    }
  }

  /** Reads the subscriber's loss (video, since the last reading) and bandwidth estimate. */
  async #sampleNetwork() {
    const pc = this.subscriber;
    if (this.closed || !pc || pc.connectionState !== "connected") return;
    const report = await pc.getStats();
    let lost = 0;
    let received = 0;
    /** @type {string | null} */
    let pairId = null;
    report.forEach((/** @type {any} */ s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        lost += Math.max(0, s.packetsLost || 0);
        received += s.packetsReceived || 0;
      }
      if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    });
    const pair = pairId ? report.get(pairId) : null;
    const before = this.counters;
    this.counters = { pc, lost, received };
    /** @type {{loss?: number, bandwidth?: number}} */
    const network = {};
    if (before && before.pc === pc) {
      const newlyLost = Math.max(0, lost - before.lost);
      const arrived = Math.max(0, received - before.received);
      if (newlyLost + arrived > 0) {
        const loss = newlyLost / (newlyLost + arrived);
        network.loss = Math.min(1, Math.round(loss / LOSS_STEP) / Math.round(1 / LOSS_STEP));
      } else if (this.network.loss !== undefined) {
        network.loss = this.network.loss;
      }
    }
    const estimate = pair?.availableIncomingBitrate;
    if (typeof estimate === "number" && Number.isFinite(estimate) && estimate >= 0) {
      const previous = this.network.bandwidth;
      network.bandwidth = previous !== undefined &&
        Math.abs(estimate - previous) <= previous * BANDWIDTH_CHANGE
        ? previous : Math.min(MAX_BANDWIDTH, Math.round(estimate));
    }
    if (network.loss !== this.network.loss || network.bandwidth !== this.network.bandwidth) {
      this.network = network;
      this.#viewChanged();
    }
  }

  // --- both ------------------------------------------------------------------------------

  /**
   * @param {"publisher" | "subscriber"} target
   * @param {RTCIceCandidateInit | null} candidate
   */
  #trickle(target, candidate) {
    if (this.closed) return;
    if (target === "publisher" && this.publishing) {
      // The server knows the publisher only once it answered its offer.
      if (candidate) this.heldCandidates.push(candidate);
      return;
    }
    // A lost candidate costs nothing: the SFU learns this side's address from its checks.
    this.request("sfu_candidate", { target, candidate });
  }

  #qualityChanged() {
    const states = [this.publisher, this.subscriber]
      .filter((pc) => pc !== null)
      .map((pc) => /** @type {RTCPeerConnection} */ (pc).iceConnectionState);
    /** @type {LinkQuality} */
    let quality = "stable";
    if (states.some((s) => s === "failed" || s === "disconnected")) quality = "unstable";
    else if (states.some((s) => s === "new" || s === "checking")) quality = "connecting";
    if (quality === this.quality) return;
    this.quality = quality;
    for (const [id, remote] of this.remotes) {
      remote.quality = quality;
      this.onChange(id);
    }
  }
}

/**
 * One other participant as the room app sees it: the same face as a PeerLink.
 */
export class SfuRemote {
  /**
   * @param {SfuLink} link
   * @param {string} remoteId
   */
  constructor(link, remoteId) {
    this.link = link;
    this.remoteId = remoteId;
    /** The participant's microphone and camera. */
    this.remoteCamera = new MediaStream();
    /** The participant's screen share. */
    this.remoteScreen = new MediaStream();
    /** @type {LinkQuality} */
    this.quality = link.quality;
    /** getStats() and states as a PeerLink's connection has them, for this participant. */
    this.pc = new RemoteStats(link, this);
  }

  /** Chat in group rooms goes through the server. */
  get chatOpen() {
    return false;
  }

  /** @param {unknown} _message */
  send(_message) {
    return false;
  }

  /**
   * @param {Slot} slot
   * @param {MediaStreamTrack | null} track
   */
  setTrack(slot, track) {
    return this.link.setTrack(slot, track);
  }

  /** @param {RTCIceServer[]} iceServers */
  setIceServers(iceServers) {
    this.link.setIceServers(iceServers);
  }

  /** Peer-to-peer signals have no place in a group room. */
  handleSignal() {
    return Promise.resolve();
  }

  restartIce() {
    this.link.resubscribe();
  }

  close() {
    this.link.forget(this.remoteId);
  }

  /** The mids of the subscription that carry this participant. */
  mids() {
    return new Set([...this.link.streams.values()]
      .filter((s) => s.participantId === this.remoteId)
      .map((s) => s.mid));
  }
}

/**
 * The subscriber connection seen from one participant: states, and getStats() with only
 * their inbound streams (plus the transport, candidates, and this side's media sources).
 */
class RemoteStats {
  /**
   * @param {SfuLink} link
   * @param {SfuRemote} remote
   */
  constructor(link, remote) {
    this.link = link;
    this.remote = remote;
  }

  get connectionState() {
    return this.link.subscriber?.connectionState ?? "new";
  }

  get iceConnectionState() {
    return this.link.subscriber?.iceConnectionState ?? "new";
  }

  get signalingState() {
    return this.link.subscriber?.signalingState ?? "stable";
  }

  get localDescription() {
    return this.link.subscriber?.localDescription ?? null;
  }

  get remoteDescription() {
    return this.link.subscriber?.remoteDescription ?? null;
  }

  getSenders() {
    return this.link.publisher?.getSenders() ?? [];
  }

  getTransceivers() {
    const mids = this.remote.mids();
    return (this.link.subscriber?.getTransceivers() ?? []).filter((t) => t.mid !== null && mids.has(t.mid));
  }

  async getStats() {
    /** @type {Map<string, any>} */
    const out = new Map();
    const { publisher, subscriber } = this.link;
    if (subscriber) {
      const mids = this.remote.mids();
      const tracks = new Set([...this.remote.remoteCamera.getTracks(), ...this.remote.remoteScreen.getTracks()]
        .map((t) => t.id));
      (await subscriber.getStats()).forEach((/** @type {any} */ s) => {
        if (s.type === "inbound-rtp" && !(mids.has(s.mid) || tracks.has(s.trackIdentifier))) return;
        out.set(s.id, s);
      });
    }
    if (publisher) {
      (await publisher.getStats()).forEach((/** @type {any} */ s) => {
        if (s.type === "media-source") out.set(`publisher-${s.id}`, s);
      });
    }
    return out;
  }
}

/**
 * Makes `stream` hold exactly `tracks`; 1 if it changed, else 0.
 * @param {MediaStream} stream
 * @param {MediaStreamTrack[]} tracks
 */
function sync(stream, tracks) {
  let changed = 0;
  for (const old of stream.getTracks()) {
    if (!tracks.includes(old)) {
      stream.removeTrack(old);
      changed = 1;
    }
  }
  for (const track of tracks) {
    if (!stream.getTracks().includes(track)) {
      stream.addTrack(track);
      changed = 1;
    }
  }
  return changed;
}

/**
 * The ICE username fragment an SDP announces first (null without one).
 * @param {string | undefined} sdp
 */
function iceUfrag(sdp) {
  return sdp?.match(/^a=ice-ufrag:(\S+)/m)?.[1] ?? null;
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
