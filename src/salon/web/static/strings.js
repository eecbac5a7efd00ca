// Every string the room app shows a person, keyed, one table per language.
//
// To add a language, add a table with the same keys as `en` (tests/web/js/strings.test.mjs checks
// that no key is missing or extra) and a name in LANGUAGES. A key missing from a table falls back
// to English, so a half-translated table still shows every string.

/** @typedef {Record<string, string>} StringTable */

/** @type {StringTable} */
const en = {
  "precall.title": "Ready to join?",
  "precall.roomLabel": "Room {room}",
  "precall.nameLabel": "Your name",
  "precall.namePlaceholder": "Type your name",
  "precall.nameRequired": "Type your name to join.",
  "precall.cameraLabel": "Camera",
  "precall.micLabel": "Microphone",
  "precall.noDevice": "None",
  "precall.deviceN": "{kind} {n}",
  "precall.camera": "Camera",
  "precall.microphone": "Microphone",
  "precall.join": "Join",
  "precall.joinAsViewer": "Join as a viewer",
  "precall.knock": "Knock",
  "precall.viewerNote": "You join as a viewer: you can watch and chat, but not speak or show video.",
  "precall.hostNote": "You join as the host.",
  "precall.mediaBlocked":
    "Salon cannot use your camera or microphone: {reason} You can still join without them.",
  "precall.previewOff": "Camera is off",

  "joining.title": "Joining…",
  "joining.body": "Connecting to the room.",

  "locked.title": "This room is locked",
  "locked.body": "Knock, and someone in the room can let you in.",

  "knocking.title": "Waiting to be let in…",
  "knocking.body": "You knocked. Someone in the room will let you in soon.",
  "knocking.hostSays": "Message from the host:",
  "knocking.cancel": "Stop waiting",

  "knockRejected.title": "You were not let in",
  "knockRejected.body": "The host did not let you into this room.",

  "left.title": "You left the meeting",
  "left.rejoin": "Join again",

  "removed.title": "You were removed from the meeting",
  "removed.body": "The host removed you from this room.",

  "ended.title": "The meeting has ended",
  "ended.body": "The host ended the meeting for everyone.",

  "full.title": "This room is full",
  "full.body": "The room has as many people as it can hold. Try again later.",

  "error.title": "Something went wrong",
  "error.retry": "Try again",
  "error.unsupported": "This browser cannot make video calls (no WebRTC). Try a recent browser.",
  "error.connect": "Cannot reach the server. Check your connection and try again.",
  "error.timeout": "The server did not answer in time. Try again.",
  "error.invalidLink": "This link does not work. Ask for a new one.",
  "error.notFound": "There is no room at this address.",

  "room.you": "You",
  "room.youSuffix": "{name} (you)",
  "room.host": "Host",
  "room.viewer": "Viewer",
  "room.screenOf": "{name}'s screen",
  "room.yourScreen": "Your screen",
  "room.reconnecting": "Reconnecting…",
  "room.alone": "You are the only one here. Share the link to invite others.",
  "room.connection": "Connection:",
  "room.connection.stable": "stable",
  "room.connection.unstable": "unstable",
  "room.connection.reconnecting": "reconnecting",
  "room.locked": "Locked",
  "room.enableSound": "Turn on sound",
  "room.micMuted": "Microphone off",
  "room.cameraOff": "Camera off",

  "controls.label": "Call controls",
  "controls.mic": "Mic",
  "controls.camera": "Camera",
  "controls.screenshare": "Share screen",
  "controls.chat": "Chat",
  "controls.people": "People",
  "controls.leave": "Leave",
  "controls.endMeeting": "End for all",
  "controls.lock": "Lock",
  "controls.unlock": "Unlock",

  "chat.title": "Chat",
  "chat.inputLabel": "Message",
  "chat.placeholder": "Write a message",
  "chat.send": "Send",
  "chat.delete": "Delete",
  "chat.deleteLabel": "Delete this message for everyone",
  "chat.empty": "No messages yet. Messages go straight to the others and are never stored.",
  "chat.close": "Close chat",

  "people.title": "People ({n})",
  "people.close": "Close people",
  "people.remove": "Remove",
  "people.removeLabel": "Remove {name} from the meeting",
  "people.mute": "Mute",
  "people.muteLabel": "Turn off {name}'s microphone",
  "people.cameraOff": "Stop video",
  "people.cameraOffLabel": "Turn off {name}'s camera",
  "people.waiting": "Waiting to come in",

  "knock.title": "{name} wants to come in",
  "knock.messageLabel": "Message to {name} (optional)",
  "knock.admit": "Let in",
  "knock.hold": "Ask to wait",
  "knock.reject": "Don't let in",

  "notice.muted": "The host turned off your microphone.",
  "notice.cameraOff": "The host turned off your camera.",
  "notice.screenshareFailed": "Screen sharing did not start.",
  "notice.mediaFailed": "Your camera or microphone could not be started.",
  "notice.actionFailed": "That did not work: {message}",
  "notice.chatFailed": "The message could not be sent.",
  "notice.locked": "The room is now locked.",
  "notice.unlocked": "The room is now unlocked.",
};

/** @type {Record<string, StringTable>} */
const TABLES = { en };

/** Languages with a table, by code, with their own names (for a language menu). */
export const LANGUAGES = Object.freeze({ en: "English" });

/** The keys every table must have. */
export const KEYS = Object.freeze(Object.keys(en));

/**
 * The table code for a `lang` value: an exact match, else the primary subtag ("pt-BR" -> "pt"),
 * else English.
 * @param {string | null | undefined} lang
 * @returns {string}
 */
export function pickLanguage(lang) {
  if (!lang) return "en";
  const code = lang.toLowerCase();
  if (Object.hasOwn(TABLES, code)) return code;
  const primary = code.split("-")[0];
  return Object.hasOwn(TABLES, primary) ? primary : "en";
}

/**
 * Replaces `{name}` placeholders with values; a placeholder without a value stays as it is.
 * @param {string} template
 * @param {Record<string, string | number>} [vars]
 */
export function format(template, vars = {}) {
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.hasOwn(vars, name) ? String(vars[name]) : whole,
  );
}

/**
 * A translate function for `lang`: `t("precall.join")`, `t("room.youSuffix", {name})`.
 * A key no table has is returned as it is, so a typo shows on screen instead of nothing.
 * @param {string | null | undefined} lang
 * @returns {(key: string, vars?: Record<string, string | number>) => string}
 */
export function translator(lang) {
  const table = TABLES[pickLanguage(lang)];
  return (key, vars) => format(table[key] ?? en[key] ?? key, vars);
}

/**
 * The table for a language code (for tests and tooling).
 * @param {string} code
 * @returns {StringTable | undefined}
 */
export function table(code) {
  return TABLES[code];
}
