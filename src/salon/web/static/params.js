// The room URL's parameters, as Whereby Embedded defines them, parsed into one typed value.
//
// Pure functions: no DOM, no globals. A value that is not valid is ignored (the default stays)
// and reported through `warn`, so a bad link never breaks the page.

/**
 * @typedef {object} RoomParams
 * @property {string | null} displayName  1-100 characters, no control characters
 * @property {string | null} externalId   the customer's id for this person, <= 255 characters
 * @property {boolean} audio              false with audio=off: join with the microphone off
 * @property {boolean} video              false with video=off: join with the camera off
 * @property {boolean} chat               false with chat=off: no chat
 * @property {boolean} screenshare        false with screenshare=off: no screen sharing
 * @property {boolean} leaveButton        false with leaveButton=off: no leave button
 * @property {boolean} people             false with people=off: no people panel
 * @property {boolean} precallReview      false with precallReview=off: skip the pre-call screen
 * @property {boolean} minimal            a minimal interface: the call and its basic controls
 * @property {string | null} lang         language code such as "en" or "pt-BR"
 * @property {string | null} metadata     the customer's opaque value for webhooks, <= 4096 chars
 * @property {boolean} skipMediaPermissionPrompt  join without asking for camera and microphone
 * @property {string | null} roomKey      the role-carrying key of host and viewer links
 * @property {string | null} embedOrigin  the origin of the page embedding the room (set by
 *   <salon-embed>); the embed API checks it (embed-bridge.js)
 */

export const MAX_DISPLAY_NAME = 100;
export const MAX_EXTERNAL_ID = 255;
export const MAX_METADATA = 4096;
export const MAX_ROOM_KEY = 2048;
export const MAX_ORIGIN = 300;

/** @type {Readonly<RoomParams>} */
export const DEFAULTS = Object.freeze({
  displayName: null,
  externalId: null,
  audio: true,
  video: true,
  chat: true,
  screenshare: true,
  leaveButton: true,
  people: true,
  precallReview: true,
  minimal: false,
  lang: null,
  metadata: null,
  skipMediaPermissionPrompt: false,
  roomKey: null,
  embedOrigin: null,
});

// "on"/"off" switches: the parameter name and the RoomParams field it sets.
const SWITCHES = /** @type {const} */ ([
  "audio",
  "video",
  "chat",
  "screenshare",
  "leaveButton",
  "people",
  "precallReview",
]);
// Flags that are on when present ("minimal", "minimal=on", "minimal=true").
const FLAGS = /** @type {const} */ (["minimal", "skipMediaPermissionPrompt"]);
// Whereby parameters Salon knows but does not act on yet: accepted silently.
const KNOWN_UNUSED = new Set([
  "aec",
  "agc",
  "audioDenoiser",
  "autoHideSelfView",
  "autoSpotlight",
  "callQualityMonitoring",
  "cameraAccess",
  "background",
  "emptyRoomInvitation",
  "floatSelf",
  "locking",
  "logo",
  "participantCount",
  "pipButton",
  "recording",
  "roomIntegrations",
  "settingsButton",
  "timer",
  "topToolbar",
  "bottomToolbar",
  "breakout",
  "moreButton",
  "personality",
  "subgridLabels",
  "lowData",
  "embed",
  "iframeSource",
]);

const CONTROL = /[\u0000-\u001f\u007f]/;
const LANG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;
// scheme://host[:port], as browsers serialise an origin.
const ORIGIN = /^https?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

/**
 * "on"/"off" (also "true"/"false", "yes"/"no", "1"/"0") as a boolean; null when it is neither.
 * @param {string} raw
 * @returns {boolean | null}
 */
export function parseSwitch(raw) {
  const value = raw.trim().toLowerCase();
  if (["on", "true", "yes", "1"].includes(value)) return true;
  if (["off", "false", "no", "0"].includes(value)) return false;
  return null;
}

/**
 * A present flag: on when empty or a true value; null when it is something else.
 * @param {string} raw
 * @returns {boolean | null}
 */
export function parseFlag(raw) {
  return raw.trim() === "" ? true : parseSwitch(raw);
}

/**
 * A display name as the server accepts it: trimmed, 1-100 characters, no control characters.
 * @param {string} raw
 * @returns {string | null}
 */
export function cleanDisplayName(raw) {
  const value = raw.trim();
  if (!value || [...value].length > MAX_DISPLAY_NAME || CONTROL.test(value)) return null;
  return value;
}

/**
 * @param {string} raw
 * @param {number} max
 * @returns {string | null}
 */
function boundedText(raw, max) {
  if (!raw || raw.length > max || CONTROL.test(raw)) return null;
  return raw;
}

/**
 * Parses a query string (or URLSearchParams) into RoomParams.
 * @param {string | URLSearchParams} search  e.g. location.search
 * @param {(message: string) => void} [warn]  where to report ignored values
 * @returns {RoomParams}
 */
export function parseRoomParams(search, warn = (message) => console.warn(message)) {
  const query = typeof search === "string" ? new URLSearchParams(search) : search;
  /** @type {RoomParams} */
  const params = { ...DEFAULTS };
  /** @param {string} name @param {string} value @param {string} why */
  const ignore = (name, value, why) =>
    warn(`Salon: ignoring URL parameter ${name}=${JSON.stringify(value.slice(0, 120))}: ${why}`);
  const seen = new Set();

  for (const [name, value] of query) {
    if (seen.has(name)) {
      ignore(name, value, "given more than once; the first one counts");
      continue;
    }
    seen.add(name);
    if (/** @type {readonly string[]} */ (SWITCHES).includes(name)) {
      const on = parseSwitch(value);
      if (on === null) ignore(name, value, 'must be "on" or "off"');
      else params[/** @type {(typeof SWITCHES)[number]} */ (name)] = on;
    } else if (/** @type {readonly string[]} */ (FLAGS).includes(name)) {
      const on = parseFlag(value);
      if (on === null) ignore(name, value, 'must be empty, "on" or "off"');
      else params[/** @type {(typeof FLAGS)[number]} */ (name)] = on;
    } else if (name === "displayName") {
      const clean = cleanDisplayName(value);
      if (clean === null) {
        ignore(name, value, `must be 1-${MAX_DISPLAY_NAME} characters with no control characters`);
      } else params.displayName = clean;
    } else if (name === "externalId") {
      const clean = boundedText(value, MAX_EXTERNAL_ID);
      if (clean === null) ignore(name, value, `must be 1-${MAX_EXTERNAL_ID} characters`);
      else params.externalId = clean;
    } else if (name === "metadata") {
      const clean = boundedText(value, MAX_METADATA);
      if (clean === null) ignore(name, value, `must be 1-${MAX_METADATA} characters`);
      else params.metadata = clean;
    } else if (name === "lang") {
      if (!LANG.test(value)) ignore(name, value, 'must be a language code such as "en"');
      else params.lang = value;
    } else if (name === "roomKey") {
      const clean = boundedText(value, MAX_ROOM_KEY);
      if (clean === null) ignore(name, value, `must be 1-${MAX_ROOM_KEY} characters`);
      else params.roomKey = clean;
    } else if (name === "embedOrigin") {
      if (value.length > MAX_ORIGIN || !ORIGIN.test(value)) {
        ignore(name, value, "must be an origin such as https://app.example.com");
      } else params.embedOrigin = value;
    } else if (!KNOWN_UNUSED.has(name)) {
      ignore(name, value, "not a parameter Salon knows");
    }
  }
  return params;
}

/**
 * Whether the room should join at once, with no click: Whereby joins directly when the link
 * carries a display name and turns the pre-call review off.
 * @param {RoomParams} params
 */
export function joinsAtOnce(params) {
  return params.displayName !== null && !params.precallReview;
}

/**
 * The devices joining at once opens: none for a viewer (viewers never publish) or with
 * skipMediaPermissionPrompt, else the camera and microphone the link leaves on.
 * @param {RoomParams} params
 * @param {string} role
 * @returns {false | {audio: boolean, video: boolean}}
 */
export function devicesAtJoin(params, role) {
  if (role === "viewer" || params.skipMediaPermissionPrompt) return false;
  return { audio: params.audio, video: params.video };
}

/**
 * What Salon opens a device with. The camera's size: four people in a mesh send three streams
 * each, so a modest resolution keeps it smooth; through the SFU (a group room) the camera is
 * sent once, in three simulcast layers, and the browser makes three only from a picture of
 * about 960x540 or more (two from 640x360).
 * @param {"audio" | "video"} kind
 * @param {string | null | undefined} roomMode
 * @returns {MediaTrackConstraints}
 */
export function deviceConstraints(kind, roomMode) {
  if (kind === "audio") return { echoCancellation: true, noiseSuppression: true };
  const [width, height] = roomMode === "group" ? [960, 540] : [640, 360];
  return { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: 24 } };
}

/**
 * The join a page that joins at once sends (the room app's, salon-client.js: the devices
 * being opened count as on), or null when the page does not join at once. The room page's
 * inline script (templates/room-boot.js) sends it on the signaling connection it opens ahead
 * of the modules; the app takes that join's answer when its own join is the same.
 * @param {RoomParams} params
 * @param {{roomName: string, role: string}} page  the path of the room, the link's role
 * @returns {Record<string, string | boolean> | null}
 */
export function joinAtOnce(params, { roomName, role }) {
  if (!joinsAtOnce(params) || params.displayName === null) return null;
  const devices = devicesAtJoin(params, role);
  /** @type {Record<string, string | boolean>} */
  const join = {
    roomName,
    displayName: params.displayName,
    audio: devices !== false && devices.audio,
    video: devices !== false && devices.video,
  };
  if (params.roomKey) join.roomKey = params.roomKey;
  if (params.externalId) join.externalId = params.externalId;
  return join;
}
