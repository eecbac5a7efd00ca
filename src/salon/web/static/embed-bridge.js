// The room page's side of the embed API: events to the embedding page, commands from it.
//
// When the room runs in an iframe (a <salon-embed> element, or a plain iframe), it tells the
// page around it what happens — `{type, payload}` messages such as `join` or `camera_toggle` —
// and takes commands — `{command, args}` such as `toggle_camera` with `[false]`. Both go only
// between the room and the embedding page's origin, which must be:
//   - the one the page claims (`embedOrigin`, set by <salon-embed>), or, without a claim, the
//     parent's origin as the browser reports it (`location.ancestorOrigins`, Chromium/Safari);
//   - the parent's real origin, when the browser reports it (a page cannot claim another's);
//   - allowed for the room's organization (its allowed embed domains, or "any").
// Events are posted with that origin as targetOrigin (never "*"); a command is taken only when
// it comes from `window.parent` and that origin, is well formed, and the participant's role
// and the room's state allow it (end_meeting: hosts only). Anything else is ignored with a
// console warning.
//
// The pure parts (origin patterns, command checks) are exported for tests.

/** Commands the embedding page may send: name → what it needs. */
export const COMMANDS = Object.freeze({
  knock: { when: ["room_locked"] },
  leave_room: { when: ["connected", "reconnecting", "knocking"] },
  end_meeting: { when: ["connected", "reconnecting"], hostOnly: true },
  toggle_camera: { publisher: true, takesSwitch: true },
  toggle_microphone: { publisher: true, takesSwitch: true },
  toggle_screenshare: { when: ["connected", "reconnecting"], publisher: true, takesSwitch: true,
    feature: "screenshare" },
  toggle_chat: { when: ["connected", "reconnecting"], takesSwitch: true, feature: "chat" },
  toggle_people: { when: ["connected", "reconnecting"], takesSwitch: true, feature: "people" },
});

// An origin as browsers serialise it: scheme, host (a DNS name, IPv4 or [IPv6]), optional port.
const ORIGIN = /^(https?):\/\/(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/;
const DEFAULT_PORT = /** @type {Record<string, string>} */ ({ http: "80", https: "443" });

/**
 * Parts of an origin or allowed-domain pattern, or null when it is not one.
 * @param {string} text
 */
function parts(text) {
  const match = ORIGIN.exec(text.toLowerCase()) ?? /^(https?):\/\/(\*\.[a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(text.toLowerCase());
  if (!match) return null;
  const [, scheme, host, port] = match;
  return { scheme, host, port: port ?? DEFAULT_PORT[scheme] };
}

/**
 * Whether `origin` (e.g. "https://app.example.com") matches an allowed embed domain:
 * "https://app.example.com" exactly, "https://*.example.com" any subdomain of example.com
 * at any depth (not example.com itself), "http://localhost:8000" exactly. As in CSP, a pattern
 * without a port matches the scheme's default port only.
 * @param {string} origin
 * @param {string} pattern
 */
export function originMatches(origin, pattern) {
  const o = parts(origin);
  const p = parts(pattern);
  if (!o || !p || o.host.startsWith("*")) return false;
  if (o.scheme !== p.scheme || o.port !== p.port) return false;
  if (p.host.startsWith("*.")) {
    const suffix = p.host.slice(1); // ".example.com"
    return o.host.endsWith(suffix) && o.host.length > suffix.length;
  }
  return o.host === p.host;
}

/**
 * The organization's allowed embed domains, as the room page carries them: "any", or a JSON
 * list of patterns. Anything else allows nothing.
 * @param {string | null | undefined} raw
 * @returns {"any" | string[]}
 */
export function parseAllowed(raw) {
  if (raw === "any") return "any";
  try {
    const list = JSON.parse(raw ?? "");
    if (Array.isArray(list) && list.every((x) => typeof x === "string")) return list;
  } catch {
    // falls through: nothing allowed
  }
  return [];
}

/**
 * @param {string} origin
 * @param {"any" | string[]} allowed
 */
export function originAllowed(origin, allowed) {
  if (!parts(origin)) return false;
  if (allowed === "any") return true;
  return allowed.some((pattern) => originMatches(origin, pattern));
}

/**
 * The embedding page's origin, or why there is none to talk to.
 * @param {object} page
 * @param {string | null} page.claimed  the `embedOrigin` URL parameter
 * @param {ArrayLike<string> | null | undefined} page.ancestorOrigins  location.ancestorOrigins
 * @param {"any" | string[]} page.allowed
 * @returns {{origin: string} | {refused: string}}
 */
export function embeddingOrigin({ claimed, ancestorOrigins, allowed }) {
  const reported = ancestorOrigins && ancestorOrigins.length > 0 ? ancestorOrigins[0] : null;
  const parent = reported && reported !== "null" ? reported : null;
  if (claimed !== null && !parts(claimed)) {
    return { refused: `embedOrigin ${JSON.stringify(claimed.slice(0, 100))} is not an origin` };
  }
  if (claimed !== null && parent !== null && claimed.toLowerCase() !== parent.toLowerCase()) {
    return { refused: `embedOrigin ${claimed} is not the embedding page's origin (${parent})` };
  }
  const origin = parent ?? claimed;
  if (origin === null) return { refused: "the embedding page's origin is unknown (no embedOrigin)" };
  if (!originAllowed(origin, allowed)) {
    return { refused: `${origin} is not one of this organization's allowed embed domains` };
  }
  return { origin };
}

/**
 * A command message read and checked: `{command, args}` with a known command and, for the
 * toggles, `args` empty or one boolean.
 * @param {unknown} data
 * @returns {{command: keyof typeof COMMANDS, on: boolean | undefined} | {refused: string}}
 */
export function readCommand(data) {
  const message = /** @type {any} */ (data);
  if (!message || typeof message !== "object" || typeof message.command !== "string") {
    return { refused: "not a {command, args} message" };
  }
  const name = message.command;
  if (!Object.hasOwn(COMMANDS, name)) return { refused: `unknown command ${JSON.stringify(name.slice(0, 40))}` };
  /** @type {{takesSwitch?: boolean}} */
  const spec = COMMANDS[/** @type {keyof typeof COMMANDS} */ (name)];
  const args = message.args === undefined ? [] : message.args;
  const bad = { refused: `${name}: args must be ${spec.takesSwitch ? "[], [true] or [false]" : "[]"}` };
  if (!Array.isArray(args) || args.length > 1) return bad;
  /** @type {boolean | undefined} */
  let on;
  // Whereby's element sends [undefined] for "toggle": no value.
  if (args.length === 1 && args[0] !== undefined && args[0] !== null) {
    if (typeof args[0] !== "boolean" || !spec.takesSwitch) return bad;
    on = args[0];
  }
  return { command: /** @type {keyof typeof COMMANDS} */ (name), on };
}

/**
 * Why the participant may not run `command` now, or null when they may.
 * @param {keyof typeof COMMANDS} command
 * @param {{role: string, status: string, features: Record<string, boolean>}} context
 */
export function commandRefusal(command, { role, status, features }) {
  /** @type {{when?: string[], hostOnly?: boolean, publisher?: boolean, feature?: string}} */
  const spec = COMMANDS[command];
  if (spec.hostOnly && role !== "host") return `${command} is for hosts only (this participant is ${role})`;
  if (spec.publisher && role === "viewer") return `${command}: viewers have no camera or microphone`;
  if (spec.feature && features[spec.feature] === false) return `${command}: ${spec.feature} is off in this room`;
  if (spec.when && !spec.when.includes(status)) return `${command} is not possible now (${status})`;
  return null;
}

/**
 * @typedef {object} BridgeActions  what the room does for each command
 * @property {() => unknown} knock
 * @property {() => unknown} leaveRoom
 * @property {() => unknown} endMeeting
 * @property {(on?: boolean) => unknown} toggleCamera
 * @property {(on?: boolean) => unknown} toggleMicrophone
 * @property {(on?: boolean) => unknown} toggleScreenshare
 * @property {(on?: boolean) => unknown} toggleChat
 * @property {(on?: boolean) => unknown} togglePeople
 */

const ACTION_OF = /** @type {Record<keyof typeof COMMANDS, keyof BridgeActions>} */ ({
  knock: "knock",
  leave_room: "leaveRoom",
  end_meeting: "endMeeting",
  toggle_camera: "toggleCamera",
  toggle_microphone: "toggleMicrophone",
  toggle_screenshare: "toggleScreenshare",
  toggle_chat: "toggleChat",
  toggle_people: "togglePeople",
});

/**
 * Starts the bridge when the page runs in a frame whose embedder checks out; otherwise
 * returns an inactive bridge (its `post` does nothing).
 *
 * @param {object} options
 * @param {Window} options.win  the room page's window
 * @param {"any" | string[]} options.allowed  the organization's allowed embed domains
 * @param {string | null} options.claimed  the `embedOrigin` URL parameter
 * @param {BridgeActions} options.actions
 * @param {() => {role: string, status: string, features: Record<string, boolean>}} options.context
 * @param {(message: string) => void} [options.warn]
 */
export function createEmbedBridge({ win, allowed, claimed, actions, context, warn = (m) => console.warn(m) }) {
  const inactive = { active: false, origin: null, post() {}, close() {} };
  if (win.parent === win) return inactive; // not embedded
  const found = embeddingOrigin({ claimed, ancestorOrigins: win.location.ancestorOrigins, allowed });
  if ("refused" in found) {
    warn(`Salon: the embed API is off: ${found.refused}`);
    return inactive;
  }
  const origin = found.origin;

  /** @param {MessageEvent} event */
  const onMessage = (event) => {
    if (event.source !== win.parent || event.origin !== origin) {
      // Another frame (a sibling widget, a nested ad) or another site: said only for what
      // looks like a command, since pages post other messages around too.
      const data = /** @type {any} */ (event.data);
      if (data && typeof data === "object" && "command" in data) {
        warn(`Salon: ignoring a command from ${event.origin}: not the embedding page (${origin})`);
      }
      return;
    }
    const read = readCommand(event.data);
    if ("refused" in read) {
      warn(`Salon: ignoring a message from the embedding page: ${read.refused}`);
      return;
    }
    const refusal = commandRefusal(read.command, context());
    if (refusal) {
      warn(`Salon: ignoring ${read.command}: ${refusal}`);
      return;
    }
    try {
      Promise.resolve(actions[ACTION_OF[read.command]](read.on)).catch((err) =>
        warn(`Salon: ${read.command} failed: ${err}`));
    } catch (err) {
      warn(`Salon: ${read.command} failed: ${err}`);
    }
  };
  win.addEventListener("message", onMessage);

  return {
    active: true,
    origin,
    /**
     * Tells the embedding page about an event.
     * @param {string} type
     * @param {Record<string, unknown>} [payload]
     */
    post(type, payload = {}) {
      win.parent.postMessage({ type, payload }, origin);
    },
    close() {
      win.removeEventListener("message", onMessage);
    },
  };
}

/**
 * Posts the embed events that follow from an SDK room connection's state: join, leave,
 * knock, meeting_end, participant_join / participant_leave, participantupdate (the count),
 * microphone/camera/screenshare toggles and connection_status_change. The room app posts
 * ready, chat_toggle and people_toggle itself (they are its UI's).
 *
 * @param {{post: (type: string, payload?: Record<string, unknown>) => void, active: boolean}} bridge
 * @param {import("./sdk.js").RoomConnection} connection
 * @returns {() => void}  stops following
 */
export function followConnection(bridge, connection) {
  if (!bridge.active) return () => {};
  /** @type {import("./sdk.js").RoomState | null} */
  let before = null;
  const stops = [
    connection.on("participant_joined", (/** @type {any} */ p) =>
      bridge.post("participant_join", { participant: describe(p) })),
    connection.on("participant_left", (/** @type {any} */ { participant }) =>
      bridge.post("participant_leave", { participant: participant ? describe(participant) : null })),
    connection.subscribe((state) => {
      const prev = before;
      before = state;
      const status = state.connectionStatus;
      if (prev?.connectionStatus !== status) {
        if (status === "knocking") bridge.post("knock");
        if (status === "connected" && prev?.connectionStatus !== "reconnecting") bridge.post("join");
        if (status === "left") bridge.post("leave", { removed: false });
        if (status === "kicked") bridge.post("leave", { removed: true });
        if (status === "meeting_ended") bridge.post("meeting_end");
      }
      const inRoom = status === "connected" || status === "reconnecting";
      const count = inRoom ? state.remoteParticipants.length + 1 : 0;
      const prevCount = prev && (prev.connectionStatus === "connected" || prev.connectionStatus === "reconnecting")
        ? prev.remoteParticipants.length + 1 : 0;
      if (count !== prevCount && inRoom) bridge.post("participantupdate", { count });
      // The person's own toggles, in the room (not the devices opening on the way in).
      const me = state.localParticipant;
      const was = inRoom && prevCount > 0 ? prev?.localParticipant : undefined;
      if (was && me.isAudioEnabled !== was.isAudioEnabled) {
        bridge.post("microphone_toggle", { enabled: me.isAudioEnabled });
      }
      if (was && me.isVideoEnabled !== was.isVideoEnabled) {
        bridge.post("camera_toggle", { enabled: me.isVideoEnabled });
      }
      if (was && me.isScreenSharing !== was.isScreenSharing) {
        bridge.post("screenshare_toggle", { enabled: me.isScreenSharing });
      }
      if (inRoom && prev && state.connectionQuality !== prev.connectionQuality) {
        bridge.post("connection_status_change", { status: state.connectionQuality });
      }
    }),
  ];
  return () => stops.forEach((stop) => stop());
}

/** @param {{id: string, displayName: string, role: string}} p */
function describe(p) {
  return { id: p.id, displayName: p.displayName, role: p.role };
}
