// <salon-embed>: a Salon room in any page, as one tag.
//
//   <script type="module" src="https://salon.example/embed/salon-embed.js"></script>
//   <salon-embed room="https://salon.example/abc" displayName="Ann" minimal></salon-embed>
//
// The element draws an iframe of the room. Its attributes become the room's URL parameters
// (never replacing one the room URL already has); the room's events come back as DOM
// CustomEvents on the element (`ready`, `join`, `participant_join`, …, with the payload in
// `event.detail`); its methods (`toggleCamera(false)`, `leaveRoom()`, …) send commands to the
// room. Messages travel only between this element's own iframe and the room's origin: the
// element tells the room which origin embeds it (`embedOrigin`), and the room checks that
// against the organization's allowed embed domains.
//
// This file stands alone (no imports), so a page can load it from Salon's origin. Its pure
// parts (`roomSource`, `readEvent`, `command`) work without a DOM, for tests.

/** Events the room posts to the embedding page; each becomes a CustomEvent of that name. */
export const EVENTS = Object.freeze([
  "ready",
  "knock",
  "join",
  "leave",
  "meeting_end",
  "participantupdate",
  "participant_join",
  "participant_leave",
  "microphone_toggle",
  "camera_toggle",
  "screenshare_toggle",
  "chat_toggle",
  "people_toggle",
  "connection_status_change",
]);

/** Commands the element sends to the room, by the method that sends them. */
export const COMMANDS = Object.freeze({
  knock: "knock",
  leaveRoom: "leave_room",
  endMeeting: "end_meeting",
  toggleCamera: "toggle_camera",
  toggleMicrophone: "toggle_microphone",
  toggleScreenshare: "toggle_screenshare",
  toggleChat: "toggle_chat",
  togglePeople: "toggle_people",
});

// Attributes that are URL parameters with an on/off value. Present with no value means "on"
// (`<salon-embed minimal chat=off>`), as with Whereby's element.
const SWITCHES = [
  "audio",
  "video",
  "chat",
  "screenshare",
  "leaveButton",
  "people",
  "precallReview",
  "minimal",
  "skipMediaPermissionPrompt",
  // Whereby's, passed on for the room to use or ignore.
  "aec",
  "agc",
  "audioDenoiser",
  "autoHideSelfView",
  "autoSpotlight",
  "background",
  "bottomToolbar",
  "breakout",
  "callQualityMonitoring",
  "cameraAccess",
  "emptyRoomInvitation",
  "floatSelf",
  "locking",
  "logo",
  "lowData",
  "moreButton",
  "participantCount",
  "pipButton",
  "recording",
  "settingsButton",
  "subgridLabels",
  "timer",
  "topToolbar",
];
// Attributes that are URL parameters with a free value, passed as written.
const VALUES = ["displayName", "externalId", "metadata", "lang", "roomIntegrations"];

/**
 * Attribute name as HTML gives it (lower case: HTML attribute names are case-insensitive)
 * → the room's URL parameter (camelCase, as Whereby spells it).
 * @type {Map<string, {param: string, kind: "switch" | "value"}>}
 */
export const ATTRIBUTES = new Map();
for (const param of SWITCHES) ATTRIBUTES.set(param.toLowerCase(), { param, kind: "switch" });
for (const param of VALUES) ATTRIBUTES.set(param.toLowerCase(), { param, kind: "value" });

// A room URL longer than this is refused: it would not fit the server's limits anyway.
const MAX_URL = 8192;

/**
 * The iframe's address: the room URL with the element's attributes added as URL parameters,
 * never replacing one the room URL already carries, plus `embed` and `embedOrigin`.
 *
 * @param {string} room  the room URL (roomUrl, hostRoomUrl or viewerRoomUrl)
 * @param {Iterable<[string, string]>} attributes  [name, value] pairs, as the element has them
 * @param {string} embedOrigin  the embedding page's origin (location.origin)
 * @returns {{url: URL, origin: string}}  throws a TypeError naming the problem
 */
export function roomSource(room, attributes, embedOrigin) {
  let url;
  try {
    url = new URL(String(room ?? ""));
  } catch {
    throw new TypeError(`salon-embed: the room attribute must be a room URL, not ${JSON.stringify(room)}`);
  }
  const local = url.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !local) {
    throw new TypeError("salon-embed: the room URL must start with https://");
  }
  if (url.username || url.password) {
    throw new TypeError("salon-embed: the room URL must not carry a user name or password");
  }
  const query = url.searchParams;
  for (const [rawName, rawValue] of attributes) {
    const spec = ATTRIBUTES.get(rawName.toLowerCase());
    if (!spec || query.has(spec.param)) continue;
    const value = spec.kind === "switch" && rawValue.trim() === "" ? "on" : rawValue;
    query.set(spec.param, value);
  }
  if (!query.has("embed")) query.set("embed", "");
  if (!query.has("embedOrigin") && embedOrigin && embedOrigin !== "null") {
    query.set("embedOrigin", embedOrigin);
  }
  url.hash = "";
  if (url.href.length > MAX_URL) {
    throw new TypeError(`salon-embed: the room URL with its parameters is over ${MAX_URL} characters`);
  }
  return { url, origin: url.origin };
}

/**
 * The event in a message from the room, or null when the message is not one to re-emit: it
 * must come from `frame` (the element's own iframe window) and `roomOrigin`, and be
 * `{type, payload}` with a known type.
 *
 * @param {{source: unknown, origin: string, data: unknown}} message  a MessageEvent
 * @param {unknown} frame  the iframe's contentWindow
 * @param {string} roomOrigin
 * @returns {{type: string, payload: Record<string, unknown>} | null}
 */
export function readEvent(message, frame, roomOrigin) {
  if (!frame || message.source !== frame || message.origin !== roomOrigin) return null;
  const data = /** @type {any} */ (message.data);
  if (!data || typeof data !== "object" || typeof data.type !== "string") return null;
  if (!EVENTS.includes(data.type)) return null;
  const payload = data.payload && typeof data.payload === "object" && !Array.isArray(data.payload)
    ? data.payload : {};
  return { type: data.type, payload };
}

/**
 * The message a method sends: `{command, args}`; args is `[on]` when `on` is a boolean.
 * @param {string} name  the command (e.g. "toggle_camera")
 * @param {unknown} [on]
 */
export function command(name, on) {
  return { command: name, args: typeof on === "boolean" ? [on] : [] };
}

// --- the element (browsers only) ------------------------------------------------------------

const Base = /** @type {typeof HTMLElement} */ (
  globalThis.HTMLElement ?? class {}
);

export class SalonEmbed extends Base {
  static get observedAttributes() {
    return ["room", ...ATTRIBUTES.keys()];
  }

  constructor() {
    super();
    /** @type {HTMLIFrameElement | null} */
    this.iframe = null;
    /** @type {string | null} the origin of the room shown, once there is one */
    this.roomOrigin = null;
    this.onMessage = this.onMessage.bind(this);
    this.root = this.attachShadow({ mode: "open" });
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.renderQueued = null;
  }

  connectedCallback() {
    window.addEventListener("message", this.onMessage);
    this.render();
  }

  disconnectedCallback() {
    window.removeEventListener("message", this.onMessage);
    this.iframe?.remove();
    this.iframe = null;
    this.roomOrigin = null;
  }

  attributeChangedCallback() {
    // Several attributes often change together: draw the room once for all of them.
    if (!this.isConnected || this.renderQueued) return;
    this.renderQueued = setTimeout(() => {
      this.renderQueued = null;
      this.render();
    }, 0);
  }

  render() {
    if (!this.isConnected) return;
    const room = this.getAttribute("room");
    if (!room) {
      this.show(null);
      return;
    }
    let source;
    try {
      const attributes = [...this.attributes].map((a) => /** @type {[string, string]} */ ([a.name, a.value]));
      source = roomSource(room, attributes, window.location.origin);
    } catch (err) {
      console.error(/** @type {Error} */ (err).message);
      this.show(null);
      return;
    }
    if (this.iframe && this.iframe.src === source.url.href) return;
    const iframe = document.createElement("iframe");
    iframe.allow = "camera; microphone; fullscreen; speaker; display-capture; autoplay";
    iframe.title = this.getAttribute("title") || "Video meeting";
    iframe.src = source.url.href;
    // Styled through CSSOM, which a page's CSP allows (a style attribute it may not).
    Object.assign(iframe.style, { border: "0", width: "100%", height: "100%", display: "block" });
    this.roomOrigin = source.origin;
    this.show(iframe);
  }

  /** @param {HTMLIFrameElement | null} iframe */
  show(iframe) {
    this.iframe?.remove();
    this.iframe = iframe;
    if (!iframe) this.roomOrigin = null;
    if (!this.style.display) this.style.display = "block";
    if (iframe) this.root.append(iframe);
  }

  /** @param {MessageEvent} message */
  onMessage(message) {
    if (!this.roomOrigin) return;
    const event = readEvent(message, this.iframe?.contentWindow, this.roomOrigin);
    if (event) this.dispatchEvent(new CustomEvent(event.type, { detail: event.payload }));
  }

  /** @param {string} name @param {unknown} [on] */
  send(name, on) {
    const frame = this.iframe?.contentWindow;
    if (!frame || !this.roomOrigin) {
      console.warn(`salon-embed: ${name} not sent: no room is shown`);
      return;
    }
    frame.postMessage(command(name, on), this.roomOrigin);
  }

  knock() { this.send(COMMANDS.knock); }
  leaveRoom() { this.send(COMMANDS.leaveRoom); }
  endMeeting() { this.send(COMMANDS.endMeeting); }
  /** @param {boolean} [on] */
  toggleCamera(on) { this.send(COMMANDS.toggleCamera, on); }
  /** @param {boolean} [on] */
  toggleMicrophone(on) { this.send(COMMANDS.toggleMicrophone, on); }
  /** @param {boolean} [on] */
  toggleScreenshare(on) { this.send(COMMANDS.toggleScreenshare, on); }
  /** @param {boolean} [on] */
  toggleChat(on) { this.send(COMMANDS.toggleChat, on); }
  /** @param {boolean} [on] */
  togglePeople(on) { this.send(COMMANDS.togglePeople, on); }
}

if (globalThis.customElements && !globalThis.customElements.get("salon-embed")) {
  globalThis.customElements.define("salon-embed", SalonEmbed);
}
