// Salon's client core: signaling (Socket.IO, protocol v1 of docs/signaling.md), the room state,
// local media, and a full mesh of peer connections. The room app renders it; the JS SDK will
// expose it. It touches no DOM.
//
//   const client = new SalonClient({ roomName: "/abc", roomKey });
//   client.on("change", () => render(client.state));
//   await client.startLocalMedia({ audio: true, video: true });
//   await client.join({ displayName: "Ann" });

import { deviceConstraints } from "./params.js";
import { PeerLink, SLOTS, SpareConnection } from "./peer-link.js";
import { SignalSocket } from "./signal-socket.js";

/** @typedef {import("./sfu-link.js").SfuLink} SfuLink */

/** @type {typeof import("./sfu-link.js").SfuLink | null} */
let SfuLinkClass = null;
/** @type {Promise<typeof import("./sfu-link.js").SfuLink> | null} */
let sfuLoading = null;

/**
 * The group rooms' media client (sfu-link.js), loaded the first time a group room needs it: a
 * page in a normal room never fetches it. The room page preloads it for a group room.
 */
export function loadSfuLink() {
  sfuLoading ??= import("./sfu-link.js").then((module) => (SfuLinkClass = module.SfuLink));
  return sfuLoading;
}

export const PROTOCOL_VERSION = 1;
const ACK_TIMEOUT_MS = 15_000;
const MAX_CHAT_TEXT = 4000;
const MAX_CHAT_MESSAGES = 500;
const ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * @typedef {"idle" | "connecting" | "connected" | "reconnecting" | "room_locked" | "knocking"
 *   | "knock_rejected" | "kicked" | "left" | "meeting_ended" | "room_full" | "error"} ConnectionStatus
 * @typedef {"host" | "visitor" | "granted_visitor" | "viewer"} Role
 * @typedef {{id: string, displayName: string, role: Role, audio: boolean, video: boolean,
 *   screenshare: boolean, connection: "stable" | "reconnecting"}} Participant
 * @typedef {{roomName: string, mode: "normal" | "group", locked: boolean}} RoomInfo
 * @typedef {{messageId: string, from: string, displayName: string, text: string,
 *   sentAt: string, mine: boolean}} ChatMessage
 * @typedef {{knockId: string, displayName: string}} Knock
 * @typedef {{code: string, message: string}} ClientError
 * @typedef {{ok: true} & Record<string, any> | {ok: false, error: ClientError}} Answer
 */

/** Statuses after which the client does nothing more until told to join again. */
const FINAL = new Set(["idle", "kicked", "left", "meeting_ended", "knock_rejected", "room_full",
  "room_locked", "error"]);

/** Statuses from which a join (and its first offers) may still come. */
const BEFORE_JOIN = new Set(["idle", "connecting", "room_locked", "knocking"]);

/** Join errors and the status they put the client in. */
const JOIN_ERROR_STATUS = /** @type {Record<string, ConnectionStatus>} */ ({
  room_locked: "room_locked",
  room_full: "room_full",
  max_viewer_limit_reached: "room_full",
  meeting_ended: "meeting_ended",
  room_deactivated: "meeting_ended",
});

/**
 * @param {string} code
 * @param {string} message
 * @returns {{ok: false, error: ClientError}}
 */
function failure(code, message) {
  return { ok: false, error: { code, message } };
}

/**
 * The server's answer to `event` as the client reads it: a refusal is reported; no answer in
 * time, or a connection that dropped before it came, is a failure of the client's own.
 * @param {SignalSocket} socket
 * @param {string} event
 * @param {Promise<any>} pending
 * @returns {Promise<Answer>}
 */
function answerOf(socket, event, pending) {
  return pending.then(
    (answer) => {
      if (!answer || typeof answer !== "object") return failure("bad_answer", `bad answer to ${event}`);
      if (!answer.ok) console.warn(`Salon: ${event} refused:`, answer.error);
      return answer;
    },
    () => failure(socket.connected ? "timeout" : "not_connected", `no answer to ${event}`),
  );
}

/**
 * Whether two flat objects have the same fields with the same values.
 * @param {Record<string, unknown>} a
 * @param {Record<string, unknown>} b
 */
function sameFields(a, b) {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.is(a[k], b[k]));
}

/**
 * The camera and microphone the room page's inline script began opening (templates/room-boot.js:
 * a page that joins at once asks for them as it loads, not once its modules have run), taken once.
 * @returns {Promise<MediaStream> | null}
 */
function takeEarlyMedia() {
  const page = /** @type {any} */ (globalThis);
  const media = page.__salonEarlyMedia ?? null;
  delete page.__salonEarlyMedia;
  return media;
}

export class SalonClient {
  /**
   * @param {object} options
   * @param {string} options.roomName       "/abc": the path of the room URL
   * @param {string | null} [options.roomKey] the key of a host, viewer or admitted link
   * @param {Role} [options.role]           the role the room key gives (from the page)
   * @param {string} [options.serverUrl]    Salon's origin; the page's own by default
   */
  constructor({ roomName, roomKey = null, role = "visitor", serverUrl }) {
    this.roomName = roomName;
    this.roomKey = roomKey;
    this.role = role;
    this.serverUrl = serverUrl;
    /** @type {Map<string, Set<(detail: any) => void>>} */
    this.listeners = new Map();

    /** @type {ConnectionStatus} */
    this.status = "idle";
    /** @type {ClientError | null} */
    this.error = null;
    /** @type {RoomInfo | null} */
    this.room = null;
    /** @type {Participant | null} */
    this.self = null;
    /** @type {Map<string, Participant>} the others, by id */
    this.participants = new Map();
    /** @type {Map<string, PeerLink>} one peer connection per other participant */
    this.links = new Map();
    /** @type {SfuLink | null} a group room's media, through the SFU (links are its faces) */
    this.sfu = null;
    /** @type {ChatMessage[]} */
    this.chat = [];
    /** @type {Map<string, Knock>} people knocking (hosts see them) */
    this.knocks = new Map();
    /** The host's last message to this knocker (hold or reject). */
    this.knockMessage = "";
    /** @type {RTCIceServer[]} */
    this.iceServers = [];
    /** @type {SpareConnection | null} made ahead for the first offer after a join (#prepareSpare) */
    this.spare = null;
    this.sparePending = false;
    /** @type {RTCIceTransportPolicy} "relay" in a relay-only room */
    this.iceTransportPolicy = "all";
    /** @type {string | null} */
    this.resumeToken = null;

    /** The microphone and camera tracks this side sends. */
    this.localStream = new MediaStream();
    /** @type {MediaStream | null} */
    this.screenStream = null;
    this.audio = false;
    this.video = false;
    /** @type {{audioDeviceId: string | null, videoDeviceId: string | null}} */
    this.devices = { audioDeviceId: null, videoDeviceId: null };
    /** @type {{name: string, message: string} | null} the last camera/microphone failure */
    this.mediaError = null;
    /** Whether the join was the one the room page sent ahead of the modules (diagnostics). */
    this.joinedEarly = false;
    /** @type {{audio: boolean, video: boolean} | null} what startLocalMedia is opening now */
    this.mediaStarting = null;
    /** Counts stopLocalMedia calls: a device that opens after one is closed at once. */
    this.mediaEpoch = 0;

    /** @type {SignalSocket | null} */
    this.socket = null;
    /** @type {{displayName: string, externalId: string | null}} */
    this.identity = { displayName: "", externalId: null };
    /** @type {{audio: boolean, video: boolean}} the media state the last join announced */
    this.announced = { audio: false, video: false };
    /** @type {{to: string, description?: any, candidate?: any}[]} */
    this.pendingSignals = [];
    this.rejoining = false;
  }

  // --- events --------------------------------------------------------------------------------

  /**
   * Listens to an event; returns the function that stops listening.
   * "change" fires after every state change, with the name of the event that caused it.
   * @param {string} event
   * @param {(detail: any) => void} listener
   */
  on(event, listener) {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** @param {string} event @param {any} [detail] */
  emit(event, detail) {
    for (const name of [event, "change"]) {
      for (const listener of this.listeners.get(name) ?? []) {
        try {
          listener(name === "change" ? event : detail);
        } catch (err) {
          console.error(`Salon: a listener of ${name} failed:`, err);
        }
      }
    }
  }

  /** @param {ConnectionStatus} status @param {ClientError | null} [error] */
  setStatus(status, error = null) {
    if (status === this.status && !error) return;
    this.status = status;
    this.error = error;
    this.emit("status", status);
  }

  get isViewer() {
    return this.role === "viewer";
  }

  get inRoom() {
    return this.status === "connected" || this.status === "reconnecting";
  }

  /** The connection as a person sees it: "stable", "unstable" or "reconnecting". */
  get connectionQuality() {
    if (this.status === "reconnecting") return "reconnecting";
    for (const link of this.links.values()) if (link.quality === "unstable") return "unstable";
    return "stable";
  }

  /** participant id -> RTCPeerConnection, for tests and diagnostics. */
  peerConnections() {
    return Object.fromEntries([...this.links].map(([id, link]) => [id, link.pc]));
  }

  // --- local media ---------------------------------------------------------------------------

  /**
   * Opens the microphone and camera asked for (a preview before joining). Failures do not
   * throw: they leave that device off and are in `mediaError`.
   * @param {{audio: boolean, video: boolean}} wanted
   */
  async startLocalMedia({ audio, video }) {
    if (this.isViewer) return;
    // A join sent meanwhile announces what is being opened (see #joinPayload); a toggle
    // meanwhile (the person, or a host's mute request) changes what is wanted.
    const wanted = (this.mediaStarting = { audio, video });
    const epoch = this.mediaEpoch;
    try {
      if (audio && video && !this.#localTrack("audio") && !this.#localTrack("video")) {
        // One request for both: the browser asks the person once, not twice. A page that joins
        // at once asked already, in its inline script, with the same constraints (unless a
        // device was chosen since: then those close again).
        let early = takeEarlyMedia();
        if (early && (this.devices.audioDeviceId || this.devices.videoDeviceId)) {
          early.then((s) => s.getTracks().forEach((track) => track.stop()), () => {});
          early = null;
        }
        try {
          const stream = await (early ?? navigator.mediaDevices.getUserMedia({
            audio: this.#constraints("audio"),
            video: this.#constraints("video"),
          }));
          // Refused (room full, say) or left while the devices opened: close them again.
          if (epoch !== this.mediaEpoch) {
            for (const track of stream.getTracks()) track.stop();
            return;
          }
          for (const track of stream.getTracks()) this.localStream.addTrack(track);
          this.mediaError = null;
        } catch {
          // One of them may still work alone (no camera, say): the calls below find out.
        }
      }
      if (epoch !== this.mediaEpoch) return;
      await Promise.all([this.setMicrophone(wanted.audio), this.setCamera(wanted.video)]);
      // The join may have told the room's mode while the camera opened at another size.
      if (this.room) this.#fitCamera();
    } finally {
      this.mediaStarting = null;
    }
    // Joined while the devices were opening: say once what came of it.
    if (this.#announcedWrong()) this.#publishMediaState();
  }

  /** Whether the media state the server has from this side is not the real one. */
  #announcedWrong() {
    return !this.isViewer && !this.mediaStarting &&
      (this.audio !== this.announced.audio || this.video !== this.announced.video);
  }

  /** Stops every local track (camera and microphone lights go off). */
  stopLocalMedia() {
    this.mediaEpoch += 1;
    for (const track of this.localStream.getTracks()) {
      track.stop();
      this.localStream.removeTrack(track);
    }
    this.stopScreenshare();
    this.audio = false;
    this.video = false;
    this.#sendTracks();
    this.emit("local_media");
  }

  /**
   * @param {"audio" | "video"} kind
   * @returns {MediaTrackConstraints}
   */
  #constraints(kind) {
    const deviceId = kind === "audio" ? this.devices.audioDeviceId : this.devices.videoDeviceId;
    const constraints = deviceConstraints(kind, this.room?.mode);
    if (deviceId) constraints.deviceId = { exact: deviceId };
    return constraints;
  }

  /** Sizes the open camera for the room's mode (deviceConstraints). */
  #fitCamera() {
    this.#localTrack("video")?.applyConstraints(deviceConstraints("video", this.room?.mode))
      .catch((/** @type {unknown} */ err) => console.warn("Salon: camera size:", err));
  }

  /**
   * @param {"audio" | "video"} kind
   * @returns {Promise<MediaStreamTrack | null>}
   */
  async #openDevice(kind) {
    const epoch = this.mediaEpoch;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ [kind]: this.#constraints(kind) });
      if (epoch !== this.mediaEpoch) {
        for (const track of stream.getTracks()) track.stop();
        return null;
      }
      const track = stream.getTracks()[0] ?? null;
      this.mediaError = null;
      return track;
    } catch (err) {
      const e = /** @type {Error} */ (err);
      this.mediaError = { name: e.name, message: e.message };
      console.warn(`Salon: cannot open the ${kind === "audio" ? "microphone" : "camera"}:`, err);
      this.emit("media_error", this.mediaError);
      return null;
    }
  }

  /**
   * @param {"audio" | "video"} kind
   * @returns {MediaStreamTrack | null}
   */
  #localTrack(kind) {
    return (kind === "audio" ? this.localStream.getAudioTracks() : this.localStream.getVideoTracks())[0] ?? null;
  }

  /** Whether the microphone is on, or being opened to be: what the room is told, and shown. */
  get audioOn() {
    return this.audio || Boolean(this.mediaStarting?.audio);
  }

  /** Whether the camera is on, or being opened to be. */
  get videoOn() {
    return this.video || Boolean(this.mediaStarting?.video);
  }

  /**
   * Turns the microphone on or off. Off mutes the track (track.enabled), so turning it back on
   * is instant; the first time on opens the device.
   * @param {boolean} on
   */
  async setMicrophone(on) {
    if (this.isViewer) return false;
    if (this.mediaStarting) this.mediaStarting.audio = on;
    let track = this.#localTrack("audio");
    if (on && !track) {
      track = await this.#openDevice("audio");
      if (!track) on = false;
      else {
        this.localStream.addTrack(track);
        await this.#sendTracks();
      }
    }
    if (track) track.enabled = on;
    this.audio = on;
    this.#publishMediaState();
    this.emit("local_media");
    return on;
  }

  /**
   * Turns the camera on or off. Off stops the camera (its light goes off) and sends nothing.
   * @param {boolean} on
   */
  async setCamera(on) {
    if (this.isViewer) return false;
    if (this.mediaStarting) this.mediaStarting.video = on;
    let track = this.#localTrack("video");
    if (on && !track) {
      track = await this.#openDevice("video");
      if (!track) on = false;
      else this.localStream.addTrack(track);
    } else if (!on && track) {
      track.stop();
      this.localStream.removeTrack(track);
    }
    this.video = on;
    await this.#sendTracks();
    this.#publishMediaState();
    this.emit("local_media");
    return on;
  }

  /**
   * Switches to other devices (ids from `listDevices`); reopens only what is on.
   * @param {{audioDeviceId?: string | null, videoDeviceId?: string | null}} choice
   */
  async useDevices(choice) {
    for (const kind of /** @type {const} */ (["audio", "video"])) {
      const key = kind === "audio" ? "audioDeviceId" : "videoDeviceId";
      if (!(key in choice) || choice[key] === this.devices[key]) continue;
      this.devices[key] = choice[key] ?? null;
      const old = this.#localTrack(kind);
      if (!old) continue;
      const fresh = await this.#openDevice(kind);
      if (!fresh) continue;
      old.stop();
      this.localStream.removeTrack(old);
      fresh.enabled = kind === "audio" ? this.audio : true;
      this.localStream.addTrack(fresh);
    }
    await this.#sendTracks();
    this.emit("local_media");
  }

  /** Cameras and microphones (labels appear once the person has allowed access). */
  async listDevices() {
    if (!navigator.mediaDevices?.enumerateDevices) return { cameras: [], microphones: [] };
    const all = await navigator.mediaDevices.enumerateDevices();
    return {
      cameras: all.filter((d) => d.kind === "videoinput" && d.deviceId),
      microphones: all.filter((d) => d.kind === "audioinput" && d.deviceId),
    };
  }

  /** Starts sharing a screen or window the person picks; false when they cancel. */
  async startScreenshare() {
    if (this.isViewer || this.screenStream) return Boolean(this.screenStream);
    try {
      this.screenStream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (err) {
      console.warn("Salon: screen sharing did not start:", err);
      return false;
    }
    const [track] = this.screenStream.getVideoTracks();
    // The browser's own "Stop sharing" button ends the track.
    track.addEventListener("ended", () => this.stopScreenshare());
    await this.#sendTracks();
    this.#publishMediaState();
    this.emit("local_media");
    return true;
  }

  stopScreenshare() {
    if (!this.screenStream) return;
    for (const track of this.screenStream.getTracks()) track.stop();
    this.screenStream = null;
    this.#sendTracks();
    this.#publishMediaState();
    this.emit("local_media");
  }

  /** What each slot sends now. */
  #tracks() {
    return {
      audio: this.#localTrack("audio"),
      video: this.#localTrack("video"),
      screen: this.screenStream?.getVideoTracks()[0] ?? null,
    };
  }

  async #sendTracks() {
    const tracks = this.#tracks();
    this.sfu?.setTracks(tracks);
    await Promise.all(
      [...this.links.values()].flatMap((link) =>
        SLOTS.map((slot) =>
          link.setTrack(slot, tracks[slot]).catch((err) => console.warn("Salon: replaceTrack:", err)),
        ),
      ),
    );
  }

  #publishMediaState() {
    if (!this.inRoom || !this.self) return;
    const state = { audio: this.audio, video: this.video, screenshare: Boolean(this.screenStream) };
    this.self = { ...this.self, ...state };
    // While startLocalMedia opens devices it speaks once, at the end.
    if (this.status !== "connected" || this.mediaStarting) return;
    this.announced = { audio: state.audio, video: state.video };
    this.#request("media_state", state);
  }

  /**
   * Settles once the offers and answers on their way to the others have gone out (at once when
   * none is), or after `withinMs` at the latest. The room app renders after this (room.js,
   * render): a newcomer's first offers start as its join is answered, and the side answering
   * makes its answer as the offer's tracks arrive; a screen built first would hold them back.
   * @param {number} withinMs
   * @returns {Promise<void>}
   */
  descriptionsSent(withinMs) {
    const outgoing = [...this.links.values()].flatMap((link) => link.outgoing ?? []); // SFU faces: none
    if (outgoing.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, withinMs);
      Promise.allSettled(outgoing).then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  // --- signaling -----------------------------------------------------------------------------

  /**
   * Connects to the server ahead of `join` or `knock` (e.g. while the person looks at the
   * pre-call screen), so joining later costs one round trip, and makes the peer connection
   * for the first offer (#prepareSpare). Failures are left for the join.
   */
  preconnect() {
    this.#prepareSpare();
    if (this.socket?.connected) return;
    this.#ensureSocket().catch(() => {});
  }

  /**
   * Makes the connection for the first offer after a join (peer-link.js, SpareConnection) once
   * the page is idle, unless joined or done by then. The join takes it, or closes it when it
   * has no use for it (a group room, nobody else in the room yet).
   */
  #prepareSpare() {
    if (this.spare || this.sparePending || !globalThis.RTCPeerConnection) return;
    this.sparePending = true;
    const idle = globalThis.requestIdleCallback ?? ((/** @type {() => void} */ fn) => setTimeout(fn, 50));
    idle(() => {
      this.sparePending = false;
      if (this.spare || this.self || !BEFORE_JOIN.has(this.status)) return;
      try {
        this.spare = new SpareConnection();
      } catch (err) {
        console.warn("Salon: no spare peer connection:", err);
      }
    });
  }

  /** The spare connection, now taken (null when there is none). */
  #takeSpare() {
    const spare = this.spare;
    this.spare = null;
    return spare;
  }

  #ensureSocket() {
    // WebSocket first; when it cannot open (blocked by a proxy or a firewall), the same
    // attempt goes on over HTTPS long-polling (signal-socket.js).
    const socket = (this.socket ??= this.#listen(new SignalSocket(this.serverUrl ?? "", {
      auth: { v: PROTOCOL_VERSION },
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      timeout: 10_000,
    })));
    socket.connect();
    return this.#whenConnected(socket);
  }

  /**
   * Resolves when the socket is connected; rejects on the first refusal or after a while.
   * @param {SignalSocket} socket
   */
  #whenConnected(socket) {
    if (socket.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        socket.off("connect", onConnect);
        socket.off("connect_error", onError);
      };
      const onConnect = () => {
        done();
        resolve(undefined);
      };
      /** @param {any} err */
      const onError = (err) => {
        // A refusal by the server (not a network error) will not go away by retrying.
        if (err?.data?.code || !socket.active) {
          done();
          reject({ code: err?.data?.code ?? "connect_failed", message: err?.message ?? "" });
        }
      };
      const timer = setTimeout(() => {
        done();
        reject({ code: "connect_failed", message: "the server cannot be reached" });
      }, 20_000);
      socket.on("connect", onConnect);
      socket.on("connect_error", onError);
    });
  }

  /**
   * @param {SignalSocket} socket
   * @returns {SignalSocket}
   */
  #listen(socket) {
    socket.on("connect", () => this.#onConnect());
    socket.on("disconnect", (/** @type {string} */ reason) => this.#onDisconnect(reason));
    // The server's word on an event sent without an acknowledgement, or an unknown one.
    socket.on("error", (/** @type {any} */ error) => console.warn("Salon: the server says:", error));
    /** @type {Record<string, (payload: any) => void>} */
    const handlers = {
      participant_joined: (p) => this.#onParticipantJoined(p),
      participant_left: (p) => this.#onParticipantLeft(p),
      participant_updated: (p) => this.#onParticipantUpdated(p),
      room_updated: (p) => this.#onRoomUpdated(p),
      knock_received: (p) => this.#onKnockReceived(p),
      knock_cancelled: (p) => this.#onKnockCancelled(p),
      knock_accepted: (p) => this.#onKnockAccepted(p),
      knock_held: (p) => this.#onKnockHeld(p),
      knock_rejected: (p) => this.#onKnockRejected(p),
      removed: () => this.#finish("kicked", "removed"),
      mute_requested: (p) => this.#onMuteRequested(p),
      meeting_ended: () => this.#finish("meeting_ended", "meeting_ended"),
      signal: (p) => this.#onSignal(p),
      chat: (p) => this.#onRelayedChat(p),
      chat_deleted: (p) => this.#onChatDeleted(p),
      sfu_offer: (p) => this.sfu?.handleOffer(p),
      sfu_reset: () => this.sfu?.reset(),
      active_speaker: (p) => this.emit("active_speaker", p),
      ice_servers: (p) => this.#onIceServers(p),
    };
    for (const [event, handler] of Object.entries(handlers)) {
      socket.on(event, (/** @type {any} */ payload) => {
        if (payload === null || typeof payload !== "object") payload = {};
        try {
          handler(payload);
        } catch (err) {
          console.error(`Salon: handling ${event} failed:`, err);
        }
      });
    }
    return socket;
  }

  /**
   * The ICE configuration the server gave (at join, or renewed before TURN credentials expire).
   * @param {{iceServers?: unknown, iceTransportPolicy?: unknown}} config
   */
  #setIce(config) {
    this.iceServers = Array.isArray(config.iceServers) ? config.iceServers : [];
    this.iceTransportPolicy = config.iceTransportPolicy === "relay" ? "relay" : "all";
  }

  /** @param {{iceServers?: unknown, iceTransportPolicy?: unknown}} payload */
  #onIceServers(payload) {
    this.#setIce(payload);
    // coturn checks a credential's expiry on every request, allocation refreshes included:
    // gather fresh relay candidates now, while the old ones still work, rather than lose the
    // relayed path when they expire. Media stays on the current pair until the new one is
    // chosen. A group room's connections (to the SFU) are the SFU link's to renew.
    if (this.sfu) {
      this.sfu.renewIce(this.iceServers);
      return;
    }
    for (const link of this.links.values()) {
      link.setIceServers(this.iceServers);
      if (link instanceof PeerLink) link.restartIce();
    }
  }

  /**
   * Sends a client event and waits for its acknowledgement.
   * @param {string} event
   * @param {object} payload
   * @returns {Promise<Answer>}
   */
  #request(event, payload) {
    const socket = this.socket;
    if (!socket?.connected) {
      return Promise.resolve(failure("not_connected", "not connected to the server"));
    }
    return answerOf(socket, event, socket.request(event, payload, ACK_TIMEOUT_MS));
  }

  #onConnect() {
    if (this.inRoom && this.resumeToken) {
      this.#rejoin();
    } else if (this.status === "knocking") {
      // A knock lives as long as its connection: knock again on the new one.
      this.#sendKnock();
    }
  }

  /** @param {string} reason */
  #onDisconnect(reason) {
    if (FINAL.has(this.status)) return;
    if (this.inRoom) this.setStatus("reconnecting");
    // The server closed this connection without saying why (no "removed", no
    // "meeting_ended"): try again, as for any network drop.
    if (reason === "io server disconnect") this.socket?.connect();
  }

  // --- joining -------------------------------------------------------------------------------

  /**
   * Joins the room (for a locked room the status becomes "room_locked": knock instead).
   * @param {{displayName: string, externalId?: string | null}} who
   */
  async join({ displayName, externalId = null }) {
    this.identity = { displayName, externalId };
    this.setStatus("connecting");
    try {
      await this.#ensureSocket();
    } catch (err) {
      this.#fail(/** @type {ClientError} */ (err));
      return this.status;
    }
    const answer = await this.#joinOnce(this.#joinPayload(null));
    // Left, or knocked, while the answer was on its way: the answer is stale.
    if (this.status !== "connecting") return this.status;
    await this.#joinedWhenReady(answer, false);
    return this.status;
  }

  /**
   * #joined, once what the answer's room needs has loaded (a group room: sfu-link.js). The
   * server's events meanwhile wait in the socket, so they come after the join, as they
   * would have.
   * @param {Answer} answer
   * @param {boolean} resuming
   */
  async #joinedWhenReady(answer, resuming) {
    const socket = this.socket;
    if (!answer.ok || answer.room?.mode !== "group" || SfuLinkClass || !socket) {
      this.#joined(answer, resuming);
      return;
    }
    socket.hold();
    let loaded = true;
    try {
      await loadSfuLink();
    } catch (err) {
      console.error("Salon: the group room's media client did not load:", err);
      loaded = false;
    }
    try {
      // Left (or knocked) while it loaded: the answer is stale.
      if (!(resuming ? this.inRoom : this.status === "connecting")) return;
      if (loaded) this.#joined(answer, resuming);
      else this.#fail({ code: "load_failed", message: "The group room's media client did not load: reload the page." });
    } finally {
      socket.release();
    }
  }

  /**
   * Joins on this connection: the room page may have sent this very join already, ahead of
   * the modules (templates/room-boot.js); then its answer is this one's. A join there that is
   * not this one (which the page's rules should never give) is left first.
   * @param {Record<string, any>} payload
   * @returns {Promise<Answer>}
   */
  async #joinOnce(payload) {
    const early = this.socket?.takeEarlyRequest("join");
    if (early && sameFields(early.payload, payload)) {
      this.joinedEarly = true;
      return answerOf(/** @type {SignalSocket} */ (this.socket), "join", early.answer);
    }
    if (early) {
      console.warn("Salon: the page's early join differs from the app's; joining again");
      const answer = await early.answer.catch(() => null);
      if (answer?.ok) await this.#request("leave", {});
    }
    return this.#request("join", payload);
  }

  /** @param {string | null} resumeToken */
  #joinPayload(resumeToken) {
    // Devices still opening (joining without a click opens them alongside) count as on;
    // startLocalMedia corrects the state if one of them then fails.
    this.announced = {
      audio: !this.isViewer && this.audioOn,
      video: !this.isViewer && this.videoOn,
    };
    /** @type {Record<string, any>} */
    const payload = {
      roomName: this.roomName,
      displayName: this.identity.displayName,
      ...this.announced,
    };
    if (this.roomKey) payload.roomKey = this.roomKey;
    if (this.identity.externalId) payload.externalId = this.identity.externalId;
    if (resumeToken) payload.resumeToken = resumeToken;
    return payload;
  }

  async #rejoin() {
    if (this.rejoining) return;
    this.rejoining = true;
    try {
      const answer = await this.#request("join", this.#joinPayload(this.resumeToken));
      if (!answer.ok && answer.error.code === "not_connected") return; // dropped again
      if (!this.inRoom) return; // left meanwhile
      await this.#joinedWhenReady(answer, true);
    } finally {
      this.rejoining = false;
    }
  }

  /**
   * @param {Answer} answer
   * @param {boolean} resuming
   */
  #joined(answer, resuming) {
    if (!answer.ok) {
      const status = JOIN_ERROR_STATUS[answer.error.code];
      if (status === "room_locked") {
        this.setStatus("room_locked", answer.error);
        return;
      }
      if (status) this.#finish(status, status, answer.error);
      else this.#fail(answer.error);
      return;
    }
    const previousSelf = this.self?.id;
    this.self = answer.self;
    this.role = answer.self.role ?? this.role;
    this.room = answer.room;
    this.#setIce(answer);
    this.resumeToken = answer.resumeToken ?? null;
    const resumed = resuming && answer.resumed && previousSelf === answer.self.id;
    if (!resumed) this.#closeLinks();

    const present = new Map(/** @type {Participant[]} */ (answer.participants ?? []).map((p) => [p.id, p]));
    for (const id of [...this.links.keys()]) {
      if (!present.has(id)) this.#dropParticipant(id);
    }
    this.participants = present;
    // Hosts learn of the knocks already waiting (the answer is the whole truth after a resume).
    this.knocks = new Map();
    for (const knock of Array.isArray(answer.knocks) ? answer.knocks : []) {
      if (typeof knock?.knockId === "string") {
        this.knocks.set(knock.knockId, { knockId: knock.knockId, displayName: String(knock.displayName ?? "") });
      }
    }
    this.setStatus("connected");
    if (this.room?.mode === "group") this.#startSfu(resumed);
    // Those already in the room wait for this side's first offer (see peer-link.js).
    for (const p of present.values()) this.#ensureLink(p.id, true);
    this.#takeSpare()?.close(); // the first offers are out: no use for it now
    const flushed = this.#flushSignals();
    if (resumed) this.#recoverNegotiations(flushed);
    // Media may have changed while the signaling was down, or the join announced devices
    // that were still opening and then did not open.
    if (resumed || this.#announcedWrong()) this.#publishMediaState();
    this.emit(resumed ? "resumed" : "joined", this.self);
  }

  /**
   * Knocks on a locked room; the status becomes "knocking" until a host answers.
   * @param {{displayName: string, externalId?: string | null}} who
   */
  async knock({ displayName, externalId = null }) {
    this.identity = { displayName, externalId };
    this.knockMessage = "";
    this.setStatus("knocking");
    try {
      await this.#ensureSocket();
    } catch (err) {
      this.#fail(/** @type {ClientError} */ (err));
      return this.status;
    }
    await this.#sendKnock();
    return this.status;
  }

  async #sendKnock() {
    /** @type {Record<string, any>} */
    const payload = { roomName: this.roomName, displayName: this.identity.displayName };
    if (this.roomKey) payload.roomKey = this.roomKey;
    if (this.identity.externalId) payload.externalId = this.identity.externalId;
    const answer = await this.#request("knock", payload);
    if (answer.ok || this.status !== "knocking") return;
    if (answer.error.code === "not_connected") return; // knocks again on reconnect
    const status = JOIN_ERROR_STATUS[answer.error.code];
    if (status && status !== "room_locked") this.#finish(status, status, answer.error);
    else this.#fail(answer.error);
  }

  async cancelKnock() {
    if (this.status !== "knocking") return;
    await this.#request("cancel_knock", {});
    this.#teardown();
    this.setStatus("idle");
  }

  /** Leaves the room: stops sending, closes every connection. */
  async leave() {
    if (this.inRoom && this.socket?.connected) {
      await Promise.race([this.#request("leave", {}), new Promise((r) => setTimeout(r, 1500))]);
    }
    this.#finish("left", "left");
  }

  // --- server events -------------------------------------------------------------------------

  /** @param {{participant: Participant}} payload */
  #onParticipantJoined({ participant }) {
    if (!this.inRoom || !participant?.id || participant.id === this.self?.id) return;
    this.participants.set(participant.id, participant);
    this.#ensureLink(participant.id);
    this.emit("participant_joined", participant);
  }

  /** @param {{participantId: string, reason: string}} payload */
  #onParticipantLeft({ participantId, reason }) {
    if (!this.participants.has(participantId) && !this.links.has(participantId)) return;
    const participant = this.participants.get(participantId);
    this.#dropParticipant(participantId);
    this.emit("participant_left", { participant, reason });
  }

  /** @param {{participant: Participant}} payload */
  #onParticipantUpdated({ participant }) {
    if (!participant?.id) return;
    if (participant.id === this.self?.id) {
      // Our own media state is ours to say; take the rest (role, connection) from the server.
      this.self = { ...participant, audio: this.audio, video: this.video,
        screenshare: Boolean(this.screenStream) };
    } else if (this.participants.has(participant.id)) {
      this.participants.set(participant.id, participant);
    } else return;
    this.emit("participant_updated", participant);
  }

  /** @param {{locked: boolean}} payload */
  #onRoomUpdated({ locked }) {
    // The host who locked hears it twice: in the acknowledgement and in the broadcast.
    if (!this.room || this.room.locked === Boolean(locked)) return;
    this.room = { ...this.room, locked: Boolean(locked) };
    this.emit("room_updated", this.room);
  }

  /** @param {Knock} payload */
  #onKnockReceived({ knockId, displayName }) {
    if (typeof knockId !== "string") return;
    this.knocks.set(knockId, { knockId, displayName: String(displayName ?? "") });
    this.emit("knock_received", this.knocks.get(knockId));
  }

  /** @param {{knockId: string}} payload */
  #onKnockCancelled({ knockId }) {
    if (this.knocks.delete(knockId)) this.emit("knock_cancelled", { knockId });
  }

  /** @param {{roomKey: string}} payload */
  #onKnockAccepted({ roomKey }) {
    if (this.status !== "knocking" || typeof roomKey !== "string") return;
    this.roomKey = roomKey;
    this.role = "granted_visitor";
    this.emit("knock_accepted", {});
    this.join(this.identity);
  }

  /** @param {{message: string}} payload */
  #onKnockHeld({ message }) {
    this.knockMessage = String(message ?? "");
    this.emit("knock_held", { message: this.knockMessage });
  }

  /** @param {{message: string}} payload */
  #onKnockRejected({ message }) {
    this.knockMessage = String(message ?? "");
    this.#finish("knock_rejected", "knock_rejected");
  }

  /** @param {{kind: "audio" | "video"}} payload */
  #onMuteRequested({ kind }) {
    if (kind === "audio") this.setMicrophone(false);
    else if (kind === "video") this.setCamera(false);
    else return;
    this.emit("mute_requested", { kind });
  }

  /** @param {{from: string, description?: any, candidate?: any}} payload */
  #onSignal({ from, description, candidate }) {
    if (!this.inRoom || typeof from !== "string" || from === this.self?.id) return;
    const link = this.#ensureLink(from);
    link?.handleSignal(description ? { description } : { candidate });
  }

  // --- peer connections ----------------------------------------------------------------------

  /**
   * The link to participant `id`, made if there is none yet.
   * @param {string} id
   * @param {boolean} [initiator]  whether this side makes the first offer
   */
  #ensureLink(id, initiator = false) {
    let link = this.links.get(id);
    if (link || !this.self) return link;
    if (this.sfu) {
      // Group room: media comes through the SFU; the link is that participant's face of it.
      link = /** @type {PeerLink} */ (/** @type {unknown} */ (this.sfu.remote(id)));
      this.links.set(id, link);
      this.emit("link_added", id);
      return link;
    }
    link = new PeerLink({
      selfId: this.self.id,
      remoteId: id,
      iceServers: this.iceServers,
      iceTransportPolicy: this.iceTransportPolicy,
      publish: !this.isViewer,
      remotePublishes: this.participants.get(id)?.role !== "viewer",
      initiator,
      tracks: this.#tracks(),
      spare: initiator ? this.#takeSpare() : null,
      sendSignal: (payload) => this.#sendSignal(id, payload),
      onChange: (changed) => this.emit("link_changed", changed.remoteId),
      onMessage: (from, message) => this.#onPeerMessage(from.remoteId, message),
    });
    this.links.set(id, link);
    this.emit("link_added", id);
    return link;
  }

  /** @param {string} id */
  #dropParticipant(id) {
    this.participants.delete(id);
    this.links.get(id)?.close();
    this.links.delete(id);
    this.pendingSignals = this.pendingSignals.filter((s) => s.to !== id);
  }

  /**
   * Group rooms: media through the SFU (sfu-link.js); a resume keeps the connections.
   * @param {boolean} resumed
   */
  #startSfu(resumed) {
    if (resumed && this.sfu) {
      this.sfu.resumed();
      return;
    }
    this.sfu?.close();
    // A camera opened before the join knew the room's mode: resize it for the SFU's layers.
    this.#fitCamera();
    if (!SfuLinkClass) throw new Error("Salon: sfu-link.js is not loaded (see #joinedWhenReady)");
    this.sfu = new SfuLinkClass({
      iceServers: this.iceServers,
      iceTransportPolicy: this.iceTransportPolicy,
      publish: !this.isViewer,
      tracks: this.#tracks(),
      request: (event, payload) => this.#request(event, payload),
      onChange: (id) => this.emit("link_changed", id),
    });
    this.sfu.start();
  }

  #closeLinks() {
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.sfu?.close();
    this.sfu = null;
    this.pendingSignals = [];
  }

  /**
   * Signals go out only while joined; while the signaling reconnects they wait here, and go
   * out after the resuming join (a signal sent before it would be refused as not_in_room).
   * @param {string} to
   * @param {{description?: any, candidate?: any}} payload
   */
  #sendSignal(to, payload) {
    if (this.status !== "connected" || !this.socket?.connected) {
      this.pendingSignals.push({ to, ...payload });
      return;
    }
    this.#request("signal", { to, ...payload });
  }

  /** Sends the signals held while not joined; returns who got a description among them. */
  #flushSignals() {
    const pending = this.pendingSignals;
    this.pendingSignals = [];
    /** @type {Set<string>} */
    const described = new Set();
    for (const { to, ...payload } of pending) {
      if (!this.links.has(to)) continue;
      this.#sendSignal(to, payload);
      if (payload.description) described.add(to);
    }
    return described;
  }

  /**
   * After a signaling blip, finish negotiations whose messages may have been lost.
   * @param {Set<string>} flushed  links whose description just went out (held meanwhile):
   *   sending it again would start a needless second round
   */
  #recoverNegotiations(flushed) {
    for (const link of this.links.values()) {
      const pc = link.pc;
      if (pc.signalingState === "have-local-offer" && pc.localDescription) {
        if (flushed.has(link.remoteId)) continue;
        const { type, sdp } = pc.localDescription;
        this.#sendSignal(link.remoteId, { description: { type, sdp } });
      } else if (pc.iceConnectionState === "failed" || pc.iceConnectionState === "disconnected") {
        link.restartIce();
      }
    }
  }

  // --- chat ----------------------------------------------------------------------------------

  /**
   * Sends a chat message to everyone: over each peer's data channel, and through the server's
   * relay only when some data channel is not open. Returns the message, or null.
   * @param {string} text
   */
  sendChat(text) {
    const body = text.trim();
    if (!this.inRoom || !this.self || !body || body.length > MAX_CHAT_TEXT) return null;
    const messageId = crypto.randomUUID();
    const sentAt = new Date().toISOString();
    let relay = false;
    for (const link of this.links.values()) {
      if (!link.send({ type: "chat", messageId, text: body, sentAt })) relay = true;
    }
    /** @type {ChatMessage} */
    const message = { messageId, from: this.self.id, displayName: this.self.displayName,
      text: body, sentAt, mine: true };
    this.#addChat(message);
    if (relay) {
      this.#request("chat", { messageId, text: body }).then((answer) => {
        if (!answer.ok) this.emit("chat_failed", { messageId, error: answer.error });
      });
    }
    return message;
  }

  /** @param {string} from @param {any} message */
  #onPeerMessage(from, message) {
    if (message?.type !== "chat") return;
    const { messageId, text, sentAt } = message;
    if (typeof messageId !== "string" || !ID.test(messageId)) return;
    if (typeof text !== "string" || !text.trim() || text.length > MAX_CHAT_TEXT) return;
    const when = typeof sentAt === "string" && !Number.isNaN(Date.parse(sentAt))
      ? sentAt : new Date().toISOString();
    const sender = this.participants.get(from);
    this.#addChat({ messageId, from, displayName: sender?.displayName ?? "", text, sentAt: when,
      mine: false });
  }

  /** @param {any} payload */
  #onRelayedChat({ messageId, from, displayName, text, sentAt }) {
    if (typeof messageId !== "string" || typeof text !== "string" || from === this.self?.id) return;
    this.#addChat({ messageId, from: String(from ?? ""), displayName: String(displayName ?? ""),
      text, sentAt: String(sentAt ?? new Date().toISOString()), mine: false });
  }

  /** @param {ChatMessage} message */
  #addChat(message) {
    // The same message may come twice: over a data channel and through the relay.
    if (this.chat.some((m) => m.messageId === message.messageId)) return;
    this.chat.push(message);
    if (this.chat.length > MAX_CHAT_MESSAGES) this.chat.splice(0, this.chat.length - MAX_CHAT_MESSAGES);
    this.emit("chat", message);
  }

  /** @param {{messageId: string}} payload */
  #onChatDeleted({ messageId }) {
    const before = this.chat.length;
    this.chat = this.chat.filter((m) => m.messageId !== messageId);
    if (this.chat.length !== before) this.emit("chat_deleted", { messageId });
  }

  /**
   * Deletes a message for everyone (hosts).
   * @param {string} messageId
   */
  async deleteChat(messageId) {
    const answer = await this.#request("chat_delete", { messageId });
    if (answer.ok) this.#onChatDeleted({ messageId });
    return this.#checked(answer);
  }

  // --- host controls -------------------------------------------------------------------------

  /** @param {Answer} answer */
  #checked(answer) {
    if (!answer.ok) this.emit("action_failed", answer.error);
    return answer;
  }

  /** @param {boolean} locked */
  async setLocked(locked) {
    const answer = await this.#request("set_lock", { locked });
    if (answer.ok) this.#onRoomUpdated({ locked });
    return this.#checked(answer);
  }

  /** @param {string} knockId */
  async admit(knockId) {
    const answer = await this.#request("admit", { knockId });
    if (answer.ok) this.#onKnockCancelled({ knockId });
    return this.#checked(answer);
  }

  /** @param {string} knockId @param {string} [message] */
  async hold(knockId, message = "") {
    return this.#checked(await this.#request("hold", { knockId, message: message.slice(0, 500) }));
  }

  /** @param {string} knockId @param {string} [message] */
  async reject(knockId, message = "") {
    const answer = await this.#request("reject", { knockId, message: message.slice(0, 500) });
    if (answer.ok) this.#onKnockCancelled({ knockId });
    return this.#checked(answer);
  }

  /** @param {string} participantId */
  async remove(participantId) {
    return this.#checked(await this.#request("remove", { participantId }));
  }

  /** @param {string} participantId @param {"audio" | "video"} kind */
  async requestMute(participantId, kind) {
    return this.#checked(await this.#request("request_mute", { participantId, kind }));
  }

  async endMeeting() {
    const answer = this.#checked(await this.#request("end_meeting", {}));
    if (answer.ok) this.#finish("meeting_ended", "meeting_ended");
    return answer;
  }

  // --- audio levels --------------------------------------------------------------------------

  /**
   * Audio level (0..1) of everyone heard now, from getStats: remote inbound audio, and this
   * side's microphone (as sent). People with their microphone off are left out.
   * @returns {Promise<Map<string, number>>}
   */
  async audioLevels() {
    /** @type {Map<string, number>} */
    const levels = new Map();
    let localLevel = -1;
    await Promise.all(
      [...this.links].map(async ([id, link]) => {
        let report;
        try {
          report = await link.pc.getStats();
        } catch {
          return;
        }
        report.forEach((/** @type {any} */ s) => {
          if (s.type === "inbound-rtp" && s.kind === "audio" && typeof s.audioLevel === "number") {
            levels.set(id, Math.max(levels.get(id) ?? 0, s.audioLevel));
          }
          if (s.type === "media-source" && s.kind === "audio" && typeof s.audioLevel === "number") {
            localLevel = Math.max(localLevel, s.audioLevel);
          }
        });
      }),
    );
    for (const [id, p] of this.participants) if (!p.audio) levels.delete(id);
    if (this.self && this.audio && localLevel >= 0) levels.set(this.self.id, localLevel);
    return levels;
  }

  // --- ending --------------------------------------------------------------------------------

  /** @param {ClientError} error */
  #fail(error) {
    this.#teardown();
    this.setStatus("error", error);
  }

  /**
   * @param {ConnectionStatus} status
   * @param {string} event
   * @param {ClientError | null} [error]
   */
  #finish(status, event, error = null) {
    this.#teardown();
    this.stopLocalMedia();
    this.setStatus(status, error);
    this.emit(event, {});
  }

  #teardown() {
    this.#takeSpare()?.close();
    this.#closeLinks();
    this.participants.clear();
    this.knocks.clear();
    this.resumeToken = null;
    this.self = null;
    if (this.socket) {
      this.socket.removeAllListeners();
      this.socket.disconnect();
      this.socket = null;
    }
  }
}
