// <salon-embed>'s pure parts: attributes → room URL parameters, which messages become events,
// and the command messages its methods send.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ATTRIBUTES,
  COMMANDS,
  EVENTS,
  command,
  readEvent,
  roomSource,
} from "../../../src/salon/web/static/salon-embed.js";
import { COMMANDS as ROOM_COMMANDS } from "../../../src/salon/web/static/embed-bridge.js";

const ROOM = "https://salon.example/abc";
const PAGE = "https://app.example.com";

/** The iframe URL's query for these attributes, as a plain object. */
function query(room, attributes, origin = PAGE) {
  return Object.fromEntries(roomSource(room, attributes, origin).url.searchParams);
}

test("attributes become URL parameters in Whereby's spelling", () => {
  // HTML gives attribute names in lower case.
  const q = query(ROOM, [
    ["room", ROOM],
    ["displayname", "Ann Lee"],
    ["externalid", "u-1"],
    ["audio", "off"],
    ["video", "off"],
    ["leavebutton", "off"],
    ["precallreview", "off"],
    ["lang", "fr"],
  ]);
  assert.deepEqual(q, {
    displayName: "Ann Lee",
    externalId: "u-1",
    audio: "off",
    video: "off",
    leaveButton: "off",
    precallReview: "off",
    lang: "fr",
    embed: "",
    embedOrigin: PAGE,
  });
});

test("an on/off attribute present with no value means on", () => {
  const q = query(ROOM, [["minimal", ""], ["chat", ""], ["skipmediapermissionprompt", ""]]);
  assert.equal(q.minimal, "on");
  assert.equal(q.chat, "on");
  assert.equal(q.skipMediaPermissionPrompt, "on");
});

test("a parameter already in the room URL is never overridden", () => {
  const room = `${ROOM}?roomKey=KEY&displayName=Bob&video=on&embedOrigin=https%3A%2F%2Fother.example`;
  const q = query(room, [["displayname", "Ann"], ["video", "off"], ["audio", "off"]]);
  assert.equal(q.roomKey, "KEY");
  assert.equal(q.displayName, "Bob");
  assert.equal(q.video, "on");
  assert.equal(q.audio, "off");
  assert.equal(q.embedOrigin, "https://other.example");
});

test("unknown attributes (class, style, id, room) are not parameters", () => {
  const q = query(ROOM, [["class", "x"], ["style", "height: 10px"], ["id", "e"], ["room", ROOM], ["onload", "x"]]);
  assert.deepEqual(Object.keys(q).sort(), ["embed", "embedOrigin"]);
});

test("the room's origin is the iframe's, and the fragment is dropped", () => {
  const { url, origin } = roomSource("https://salon.example:8443/abc#x", [], PAGE);
  assert.equal(origin, "https://salon.example:8443");
  assert.equal(url.hash, "");
});

test("room URLs that are not https (or local http) are refused with a reason", () => {
  assert.throws(() => roomSource("javascript:alert(1)", [], PAGE), /https/);
  assert.throws(() => roomSource("http://salon.example/abc", [], PAGE), /https/);
  assert.throws(() => roomSource("not a url", [], PAGE), /room URL/);
  assert.throws(() => roomSource("https://u:p@salon.example/abc", [], PAGE), /user name/);
  assert.throws(() => roomSource(ROOM, [["displayname", "x".repeat(9000)]], PAGE), /8192/);
  assert.equal(roomSource("http://localhost:8443/abc", [], PAGE).origin, "http://localhost:8443");
});

test("an opaque embedding origin is not passed on", () => {
  assert.equal(query(ROOM, [], "null").embedOrigin, undefined);
});

test("every attribute maps to a distinct parameter", () => {
  const params = [...ATTRIBUTES.values()].map((spec) => spec.param);
  assert.equal(new Set(params).size, params.length);
  for (const [name, spec] of ATTRIBUTES) assert.equal(name, spec.param.toLowerCase());
});

test("only messages from the element's own frame and the room's origin become events", () => {
  const frame = {};
  const origin = "https://salon.example";
  const ok = { source: frame, origin, data: { type: "join", payload: { a: 1 } } };
  assert.deepEqual(readEvent(ok, frame, origin), { type: "join", payload: { a: 1 } });
  assert.equal(readEvent({ ...ok, source: {} }, frame, origin), null, "another frame");
  assert.equal(readEvent({ ...ok, origin: "https://evil.example" }, frame, origin), null);
  assert.equal(readEvent(ok, null, origin), null, "no iframe");
  assert.equal(readEvent({ ...ok, data: { type: "click" } }, frame, origin), null, "unknown type");
  assert.equal(readEvent({ ...ok, data: "join" }, frame, origin), null, "not an object");
  assert.deepEqual(readEvent({ ...ok, data: { type: "ready", payload: [1] } }, frame, origin),
    { type: "ready", payload: {} });
});

test("the events are Whereby's", () => {
  for (const name of ["ready", "knock", "join", "leave", "meeting_end", "participantupdate",
    "participant_join", "participant_leave", "microphone_toggle", "camera_toggle",
    "screenshare_toggle", "chat_toggle", "people_toggle", "connection_status_change"]) {
    assert.ok(EVENTS.includes(name), name);
  }
});

test("methods send {command, args}; every command is one the room takes", () => {
  assert.deepEqual(command("toggle_camera", false), { command: "toggle_camera", args: [false] });
  assert.deepEqual(command("toggle_camera"), { command: "toggle_camera", args: [] });
  assert.deepEqual(command("leave_room", "yes"), { command: "leave_room", args: [] });
  for (const name of Object.values(COMMANDS)) assert.ok(Object.hasOwn(ROOM_COMMANDS, name), name);
});
