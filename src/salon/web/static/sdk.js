// Salon's JS SDK: a room connection for your own UI, with no framework.
//
//   import { createRoomConnection, createLocalMedia } from "https://salon.example/sdk.js";
//
//   const localMedia = createLocalMedia({ audio: true, video: true });
//   await localMedia.start();                       // a preview: localMedia.state.stream
//   const room = createRoomConnection("https://salon.example/abc", {
//     displayName: "Ann", localMedia,
//   });
//   room.subscribe((state) => render(state));        // every state change, batched
//   room.on("chat_message", (message) => …);         // or single events
//   await room.joinRoom();
//   room.actions.toggleCamera(false);
//
// The concepts are those of Whereby's `useRoomConnection`: a `state` (connectionStatus,
// localParticipant, remoteParticipants with their MediaStreams, chatMessages, screenshares,
// knocks for hosts) and `actions` (joinRoom, leaveRoom, knock, sendChatMessage, toggleCamera,
// host actions…). It is built on salon-client.js, the same client the room app uses: the
// room app itself is built on this SDK.

import { SalonClient } from "./salon-client.js";
import { TileWatcher } from "./tiles.js";

/** @typedef {import("./salon-client.js").Participant} Participant */
/** @typedef {import("./salon-client.js").ChatMessage} ClientChatMessage */
/** @typedef {import("./salon-client.js").Role} Role */

/**
 * @typedef {"idle" | "connecting" | "connected" | "reconnecting" | "room_locked" | "knocking"
 *   | "knock_rejected" | "kicked" | "left" | "meeting_ended" | "room_full" | "error"} ConnectionStatus
 *   "idle": not joined (yet, or again after `reset`). The final ones (knock_rejected, kicked,
 *   left, meeting_ended, room_full, error) stay until you join again.
 *
 * @typedef {object} LocalParticipant
 * @property {string | null} id            null until joined
 * @property {string} displayName
 * @property {Role} role                   from the room key until the server says
 * @property {boolean} isAudioEnabled
 * @property {boolean} isVideoEnabled
 * @property {boolean} isScreenSharing
 * @property {MediaStream} stream          microphone and camera
 * @property {MediaStream | null} presentationStream  the screen being shared
 *
 * @typedef {object} RemoteParticipant
 * @property {string} id
 * @property {string} displayName
 * @property {Role} role
 * @property {boolean} isAudioEnabled
 * @property {boolean} isVideoEnabled
 * @property {boolean} isScreenSharing
 * @property {"stable" | "reconnecting"} connection
 * @property {MediaStream | null} stream   their microphone and camera (null for viewers)
 * @property {MediaStream | null} presentationStream  their screen, while they share it
 *
 * @typedef {object} Screenshare
 * @property {string} id
 * @property {string} participantId
 * @property {MediaStream} stream
 * @property {boolean} isLocal
 *
 * @typedef {object} ChatMessage
 * @property {string} messageId
 * @property {string} senderId
 * @property {string} displayName
 * @property {string} text
 * @property {string} timestamp  ISO 8601
 * @property {boolean} isLocal
 *
 * @typedef {object} RoomState
 * @property {ConnectionStatus} connectionStatus
 * @property {"stable" | "unstable" | "reconnecting"} connectionQuality
 * @property {{code: string, message: string} | null} error
 * @property {string} roomName
 * @property {{roomName: string, mode: "normal" | "group", locked: boolean} | null} room
 * @property {LocalParticipant} localParticipant
 * @property {RemoteParticipant[]} remoteParticipants
 * @property {Screenshare[]} screenshares
 * @property {ChatMessage[]} chatMessages
 * @property {{knockId: string, displayName: string}[]} knocks  people knocking (hosts see them)
 * @property {string} knockMessage  the host's last word to this knocker (hold or reject)
 * @property {{name: string, message: string} | null} mediaError  the last camera/mic failure
 * @property {{audioDeviceId: string | null, videoDeviceId: string | null}} selectedDevices
 *   the devices chosen with setCameraDevice / setMicrophoneDevice (null: the default)
 */

// --- room URLs -------------------------------------------------------------------------------

/**
 * The parts of a room URL (roomUrl, hostRoomUrl or viewerRoomUrl).
 * @param {string} roomUrl
 * @param {string} [base]  to resolve a relative URL against (the page's own)
 * @returns {{serverUrl: string, roomName: string, roomKey: string | null}}
 */
export function parseRoomUrl(roomUrl, base = globalThis.location?.href) {
  let url;
  try {
    url = new URL(roomUrl, base);
  } catch {
    throw new TypeError(`Salon: not a room URL: ${JSON.stringify(roomUrl)}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new TypeError(`Salon: a room URL is https://, not ${url.protocol}`);
  }
  if (!/^\/[A-Za-z0-9._-]{1,79}$/.test(url.pathname)) {
    throw new TypeError(`Salon: ${url.pathname} is not a room name`);
  }
  return { serverUrl: url.origin, roomName: url.pathname, roomKey: url.searchParams.get("roomKey") };
}

/**
 * The role a room key claims (read, not verified: the server decides), or "visitor".
 * Used to know before joining whether this side publishes (viewers do not).
 * @param {string | null | undefined} roomKey
 * @returns {Role}
 */
export function roleFromRoomKey(roomKey) {
  const body = roomKey?.split(".")[1];
  if (!body) return "visitor";
  try {
    const json = atob(body.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(body.length / 4) * 4, "="));
    const role = JSON.parse(json)?.role;
    if (["host", "visitor", "granted_visitor", "viewer"].includes(role)) return role;
  } catch {
    // not a JWT: the server will say
  }
  return "visitor";
}

// --- a small event hub -----------------------------------------------------------------------

class Listeners {
  constructor() {
    /** @type {Set<(state: any) => void>} */
    this.set = new Set();
    this.queued = false;
  }

  /** @param {(state: any) => void} listener */
  add(listener) {
    this.set.add(listener);
    return () => {
      this.set.delete(listener);
    };
  }

  /** Calls every listener once, after the current task's changes (batched). @param {() => any} read */
  notify(read) {
    if (this.queued) return;
    this.queued = true;
    queueMicrotask(() => {
      this.queued = false;
      const value = read();
      for (const listener of [...this.set]) {
        try {
          listener(value);
        } catch (err) {
          console.error("Salon: a state listener failed:", err);
        }
      }
    });
  }
}

// --- local media -----------------------------------------------------------------------------

/**
 * Camera and microphone before joining (a preview, device choice), handed to a room
 * connection with `createRoomConnection(url, {localMedia})`: the room then sends these tracks
 * and the same object keeps controlling them.
 */
export class LocalMedia {
  /**
   * @param {object} [options]
   * @param {boolean} [options.audio]  open the microphone (default true)
   * @param {boolean} [options.video]  open the camera (default true)
   * @param {{audio?: string | null, video?: string | null}} [options.deviceIds]
   */
  constructor({ audio = true, video = true, deviceIds = {} } = {}) {
    this.options = { audio, video };
    /** The client that owns the devices: a private one until a room connection takes over. */
    this.owner = new SalonClient({ roomName: "/", role: "visitor" });
    this.owner.devices = { audioDeviceId: deviceIds.audio ?? null, videoDeviceId: deviceIds.video ?? null };
    /** @type {Promise<void>} settles when the devices asked for are open (or failed) */
    this.ready = Promise.resolve();
    this.listeners = new Listeners();
    /** @type {any} */
    this.cached = null;
    this.unlisten = this.owner.on("change", () => this.#changed());
  }

  #changed() {
    this.cached = null;
    this.listeners.notify(() => this.state);
  }

  /** Opens the devices asked for; failures do not throw (they are in `state.error`). */
  start() {
    this.ready = this.owner.startLocalMedia(this.options).then(() => this.#changed());
    return this.ready;
  }

  /** Closes the devices (camera and microphone lights go off). */
  stop() {
    this.owner.stopLocalMedia();
  }

  /**
   * @returns {{stream: MediaStream, isAudioEnabled: boolean, isVideoEnabled: boolean,
   *   error: {name: string, message: string} | null,
   *   devices: {audioDeviceId: string | null, videoDeviceId: string | null}}}
   */
  get state() {
    this.cached ??= Object.freeze({
      stream: this.owner.localStream,
      isAudioEnabled: this.owner.audioOn,
      isVideoEnabled: this.owner.videoOn,
      error: this.owner.mediaError,
      devices: { ...this.owner.devices },
    });
    return this.cached;
  }

  /** @param {(state: LocalMedia["state"]) => void} listener  @returns {() => void} */
  subscribe(listener) {
    return this.listeners.add(listener);
  }

  /** @param {boolean} [on]  omitted: the opposite of now */
  toggleCamera(on) {
    return this.owner.setCamera(on ?? !this.owner.videoOn);
  }

  /** @param {boolean} [on] */
  toggleMicrophone(on) {
    return this.owner.setMicrophone(on ?? !this.owner.audioOn);
  }

  /** @param {string | null} deviceId */
  setCameraDevice(deviceId) {
    return this.owner.useDevices({ videoDeviceId: deviceId });
  }

  /** @param {string | null} deviceId */
  setMicrophoneDevice(deviceId) {
    return this.owner.useDevices({ audioDeviceId: deviceId });
  }

  /** Cameras and microphones (with labels once the person has allowed access). */
  listDevices() {
    return this.owner.listDevices();
  }

  /**
   * A room connection's client takes over the devices (same stream, same tracks).
   * @param {SalonClient} client
   */
  handTo(client) {
    if (client === this.owner) return;
    const from = this.owner;
    client.localStream = from.localStream;
    client.devices = { ...from.devices };
    client.audio = from.audio;
    client.video = from.video;
    client.mediaError = from.mediaError;
    this.unlisten();
    this.owner = client;
    this.unlisten = client.on("change", () => this.#changed());
    this.#changed();
  }
}

/**
 * Camera and microphone for a preview and for a room (see LocalMedia).
 * @param {ConstructorParameters<typeof LocalMedia>[0]} [options]
 */
export function createLocalMedia(options) {
  return new LocalMedia(options);
}

// --- room connection -------------------------------------------------------------------------

/** Client event names → the SDK's, where they differ. */
const RENAMED = /** @type {Record<string, string>} */ ({
  connection_status: "status",
  kicked: "removed",
  chat_message: "chat",
  chat_message_deleted: "chat_deleted",
});

/** @param {ClientChatMessage} m @returns {ChatMessage} */
function chatMessage(m) {
  return Object.freeze({ messageId: m.messageId, senderId: m.from, displayName: m.displayName,
    text: m.text, timestamp: m.sentAt, isLocal: m.mine });
}

export class RoomConnection {
  /**
   * @param {string} roomUrl  roomUrl, hostRoomUrl or viewerRoomUrl
   * @param {object} [options]
   * @param {string} [options.displayName]
   * @param {string | null} [options.roomKey]  overrides the roomKey in the URL
   * @param {string | null} [options.externalId]  the customer's id for this person (≤ 255)
   * @param {LocalMedia} [options.localMedia]  devices opened beforehand (createLocalMedia)
   * @param {{audio: boolean, video: boolean} | false} [options.localMediaOptions]  without
   *   localMedia: what joinRoom opens (default both; false joins without camera/microphone)
   * @param {Role} [options.role]  the role the key gives, when known (else read from the key)
   * @param {boolean} [options.leaveOnPageHide]  leave at once when the page goes away (default)
   */
  constructor(roomUrl, options = {}) {
    const parsed = parseRoomUrl(roomUrl);
    const roomKey = options.roomKey ?? parsed.roomKey;
    const sameOrigin = parsed.serverUrl === globalThis.location?.origin;
    this.client = new SalonClient({
      roomName: parsed.roomName,
      roomKey,
      role: options.role ?? roleFromRoomKey(roomKey),
      serverUrl: sameOrigin ? undefined : parsed.serverUrl,
    });
    this.identity = { displayName: options.displayName ?? "", externalId: options.externalId ?? null };
    this.localMedia = options.localMedia ?? null;
    this.localMediaOptions = options.localMediaOptions ?? { audio: true, video: true };
    this.mediaRequested = false;
    this.listeners = new Listeners();
    /** @type {RoomState | null} */
    this.cached = null;
    this.client.on("change", () => {
      this.cached = null;
      this.listeners.notify(() => this.state);
    });
    /** The elements showing remote videos (watchVideoTile), read by a group room's link. */
    this.tiles = new TileWatcher();
    // A group room's link is made at each join; it shows up with the first participant.
    this.client.on("link_added", () => this.client.sfu?.useTiles(this.tiles));
    /** The same methods, to destructure: `const { joinRoom } = room.actions`. */
    this.actions = Object.freeze({
      joinRoom: this.joinRoom.bind(this),
      leaveRoom: this.leaveRoom.bind(this),
      knock: this.knock.bind(this),
      cancelKnock: this.cancelKnock.bind(this),
      sendChatMessage: this.sendChatMessage.bind(this),
      deleteChatMessage: this.deleteChatMessage.bind(this),
      toggleCamera: this.toggleCamera.bind(this),
      toggleMicrophone: this.toggleMicrophone.bind(this),
      startScreenshare: this.startScreenshare.bind(this),
      stopScreenshare: this.stopScreenshare.bind(this),
      setCameraDevice: this.setCameraDevice.bind(this),
      setMicrophoneDevice: this.setMicrophoneDevice.bind(this),
      lockRoom: this.lockRoom.bind(this),
      admitKnock: this.admitKnock.bind(this),
      holdKnock: this.holdKnock.bind(this),
      rejectKnock: this.rejectKnock.bind(this),
      acceptWaitingParticipant: this.admitKnock.bind(this),
      rejectWaitingParticipant: this.rejectKnock.bind(this),
      removeParticipant: this.removeParticipant.bind(this),
      kickParticipant: this.removeParticipant.bind(this),
      askToMute: this.askToMute.bind(this),
      askToTurnOffCamera: this.askToTurnOffCamera.bind(this),
      endMeeting: this.endMeeting.bind(this),
    });
    /** For tests and diagnostics: participant id → RTCPeerConnection. */
    this.debug = Object.freeze({ peerConnections: () => this.client.peerConnections() });
    if (options.leaveOnPageHide !== false && globalThis.addEventListener) {
      globalThis.addEventListener("pagehide", () => {
        if (this.client.inRoom) this.client.leave();
      });
    }
  }

  // --- state and events ----------------------------------------------------------------------

  /** @returns {RoomState} a frozen snapshot; a new object after every change */
  get state() {
    this.cached ??= this.#snapshot();
    return this.cached;
  }

  /**
   * Calls `listener(state)` after changes (several changes in one task give one call).
   * @param {(state: RoomState) => void} listener
   * @returns {() => void}  stops listening
   */
  subscribe(listener) {
    return this.listeners.add(listener);
  }

  /**
   * Listens to one kind of event; returns the function that stops listening. Events:
   * connection_status (status), joined, resumed, left, kicked, meeting_ended, knock_rejected,
   * room_full, knock_accepted, knock_held ({message}), participant_joined (Participant),
   * participant_left ({participant, reason}), participant_updated (Participant),
   * room_updated ({locked}), knock_received / knock_cancelled (hosts), mute_requested
   * ({kind}), chat_message (ChatMessage), chat_message_deleted ({messageId}), chat_failed,
   * action_failed ({code, message}), media_error, local_media.
   * @param {string} event
   * @param {(detail: any) => void} listener
   */
  on(event, listener) {
    const name = RENAMED[event] ?? event;
    if (name === "chat") return this.client.on(name, (m) => listener(chatMessage(m)));
    return this.client.on(name, listener);
  }

  /** @returns {RoomState} */
  #snapshot() {
    const c = this.client;
    const self = c.self;
    /** @type {Screenshare[]} */
    const screenshares = [];
    const localParticipant = Object.freeze({
      id: self?.id ?? null,
      displayName: self?.displayName ?? this.identity.displayName,
      role: c.role,
      isAudioEnabled: c.audioOn,
      isVideoEnabled: c.videoOn,
      isScreenSharing: Boolean(c.screenStream),
      stream: c.localStream,
      presentationStream: c.screenStream,
    });
    if (self && c.screenStream) {
      screenshares.push(Object.freeze({ id: `screen:${self.id}`, participantId: self.id,
        stream: c.screenStream, isLocal: true }));
    }
    const remoteParticipants = [...c.participants.values()].map((p) => {
      const link = c.links.get(p.id);
      const publishes = p.role !== "viewer" && link;
      if (publishes && p.screenshare) {
        screenshares.push(Object.freeze({ id: `screen:${p.id}`, participantId: p.id,
          stream: link.remoteScreen, isLocal: false }));
      }
      return Object.freeze({
        id: p.id,
        displayName: p.displayName,
        role: p.role,
        isAudioEnabled: p.audio,
        isVideoEnabled: p.video,
        isScreenSharing: p.screenshare,
        connection: p.connection,
        stream: publishes ? link.remoteCamera : null,
        presentationStream: publishes && p.screenshare ? link.remoteScreen : null,
      });
    });
    return Object.freeze({
      connectionStatus: c.status,
      connectionQuality: c.connectionQuality,
      error: c.error,
      roomName: c.roomName,
      room: c.room,
      localParticipant,
      remoteParticipants: Object.freeze(remoteParticipants),
      screenshares: Object.freeze(screenshares),
      chatMessages: Object.freeze(c.chat.map(chatMessage)),
      knocks: Object.freeze([...c.knocks.values()].map((k) => Object.freeze({ ...k }))),
      knockMessage: c.knockMessage,
      mediaError: c.mediaError,
      selectedDevices: Object.freeze({ ...c.devices }),
    });
  }

  get isViewer() {
    return this.client.isViewer;
  }

  /**
   * Says which element shows a remote participant's camera or screen share. In a group room
   * the server then forwards their video in the simulcast layer the element's size needs
   * (less bandwidth for small tiles) and pauses it while the element cannot be seen; the
   * element is watched (size, device pixel ratio, on screen, page visible) until the
   * returned function is called or it leaves the page. Peer-to-peer rooms ignore it.
   * @param {Element} element
   * @param {string} participantId
   * @param {"camera" | "screenshare"} [kind]
   * @returns {() => void}  stops watching the element
   */
  watchVideoTile(element, participantId, kind = "camera") {
    return this.tiles.watch(element, participantId, kind === "screenshare" ? "screen" : "video");
  }

  // --- joining and leaving -------------------------------------------------------------------

  /**
   * Opens camera and microphone (a preview before joining), unless a LocalMedia was given.
   * @param {{audio: boolean, video: boolean}} [wanted]
   */
  async startLocalMedia(wanted) {
    if (this.localMedia) {
      await this.#adoptLocalMedia();
      return;
    }
    this.mediaRequested = true;
    const what = wanted ?? (this.localMediaOptions || { audio: false, video: false });
    await this.client.startLocalMedia(what);
  }

  /** Closes camera and microphone. */
  stopLocalMedia() {
    this.client.stopLocalMedia();
  }

  async #adoptLocalMedia() {
    const media = this.localMedia;
    if (!media || media.owner === this.client) return;
    await media.ready;
    media.handTo(this.client);
  }

  /**
   * Connects to the server ahead of joinRoom or knock (e.g. while a pre-call screen shows),
   * so that joining costs one round trip, and makes the peer connection for the first offer
   * once the page is idle.
   */
  preconnect() {
    this.client.preconnect();
  }

  /**
   * Joins the room. Without a LocalMedia, opens the camera and microphone alongside (see
   * localMediaOptions), unless startLocalMedia ran already. Resolves to the connection
   * status: "connected", or e.g. "room_locked" (then knock), "room_full", "error".
   * @param {{displayName?: string, externalId?: string | null}} [who]
   * @returns {Promise<ConnectionStatus>}
   */
  async joinRoom(who = {}) {
    this.#setIdentity(who);
    // The signaling connection first: the join waits for it, while the devices may come later.
    this.client.preconnect();
    let media = null;
    if (this.localMedia) await this.#adoptLocalMedia();
    else if (!this.mediaRequested && !this.client.isViewer && this.localMediaOptions) {
      this.mediaRequested = true;
      // Devices and signaling open side by side; the join announces the devices being opened.
      media = this.client.startLocalMedia(this.localMediaOptions);
    }
    const status = await this.client.join(this.identity);
    await media;
    return status;
  }

  /**
   * Knocks on a locked room; the status is "knocking" until a host answers: then
   * "connected" (admitted: this side joins at once), or "knock_rejected".
   * @param {{displayName?: string, externalId?: string | null}} [who]
   */
  async knock(who = {}) {
    this.#setIdentity(who);
    if (this.localMedia) await this.#adoptLocalMedia();
    return this.client.knock(this.identity);
  }

  cancelKnock() {
    return this.client.cancelKnock();
  }

  /** @param {{displayName?: string, externalId?: string | null}} who */
  #setIdentity({ displayName, externalId }) {
    if (displayName !== undefined) this.identity.displayName = displayName;
    if (externalId !== undefined) this.identity.externalId = externalId;
    const name = this.identity.displayName.trim();
    if (!name || [...name].length > 100) {
      throw new TypeError("Salon: a display name of 1-100 characters is needed to join or knock");
    }
    this.identity.displayName = name;
  }

  /** Leaves the room: stops sending, closes every connection and the devices. */
  leaveRoom() {
    this.mediaRequested = false;
    return this.client.leave();
  }

  /** After a final status (left, kicked, …): back to "idle", ready to join again. */
  reset() {
    this.mediaRequested = false;
    this.client.setStatus("idle");
  }

  // --- media ---------------------------------------------------------------------------------

  /** @param {boolean} [on]  omitted: the opposite of now. Resolves to the new state. */
  toggleCamera(on) {
    this.mediaRequested = true;
    return this.client.setCamera(on ?? !this.client.videoOn);
  }

  /** @param {boolean} [on] */
  toggleMicrophone(on) {
    this.mediaRequested = true;
    return this.client.setMicrophone(on ?? !this.client.audioOn);
  }

  /** Shares a screen or window the person picks; resolves false when they cancel. */
  startScreenshare() {
    return this.client.startScreenshare();
  }

  stopScreenshare() {
    this.client.stopScreenshare();
  }

  /** @param {string | null} deviceId */
  setCameraDevice(deviceId) {
    return this.client.useDevices({ videoDeviceId: deviceId });
  }

  /** @param {string | null} deviceId */
  setMicrophoneDevice(deviceId) {
    return this.client.useDevices({ audioDeviceId: deviceId });
  }

  listDevices() {
    return this.client.listDevices();
  }

  /** Audio level (0..1) by participant id, for an active-speaker display. */
  audioLevels() {
    return this.client.audioLevels();
  }

  // --- chat ----------------------------------------------------------------------------------

  /**
   * Sends a message to everyone (peer to peer over data channels). Returns it, or null when
   * it cannot be sent (not in the room, empty, over 4000 characters).
   * @param {string} text
   */
  sendChatMessage(text) {
    const sent = this.client.sendChat(text);
    return sent ? chatMessage(sent) : null;
  }

  /** Deletes a message for everyone (hosts). @param {string} messageId */
  deleteChatMessage(messageId) {
    return this.client.deleteChat(messageId);
  }

  // --- host actions (the server refuses them to other roles) ---------------------------------

  /** @param {boolean} [locked] */
  lockRoom(locked = true) {
    return this.client.setLocked(locked);
  }

  /** @param {string} knockId */
  admitKnock(knockId) {
    return this.client.admit(knockId);
  }

  /** @param {string} knockId @param {string} [message] */
  holdKnock(knockId, message) {
    return this.client.hold(knockId, message);
  }

  /** @param {string} knockId @param {string} [message] */
  rejectKnock(knockId, message) {
    return this.client.reject(knockId, message);
  }

  /** @param {string} participantId */
  removeParticipant(participantId) {
    return this.client.remove(participantId);
  }

  /** Asks someone to turn their microphone off. @param {string} participantId */
  askToMute(participantId) {
    return this.client.requestMute(participantId, "audio");
  }

  /** Asks someone to turn their camera off. @param {string} participantId */
  askToTurnOffCamera(participantId) {
    return this.client.requestMute(participantId, "video");
  }

  /** Ends the meeting for everyone. */
  endMeeting() {
    return this.client.endMeeting();
  }
}

/**
 * A connection to the room at `roomUrl`; nothing happens until joinRoom or knock.
 * @param {string} roomUrl
 * @param {ConstructorParameters<typeof RoomConnection>[1]} [options]
 */
export function createRoomConnection(roomUrl, options) {
  return new RoomConnection(roomUrl, options);
}
