// The room page's side of the embed API: which embedding origins it talks to, which commands
// it takes from them, and that events go only to that origin.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  commandRefusal,
  createEmbedBridge,
  embeddingOrigin,
  followConnection,
  originAllowed,
  originMatches,
  parseAllowed,
  readCommand,
} from "../../../src/salon/web/static/embed-bridge.js";

test("exact origins match exactly, default ports included", () => {
  assert.ok(originMatches("https://app.example.com", "https://app.example.com"));
  assert.ok(originMatches("https://app.example.com", "https://APP.example.com"));
  assert.ok(originMatches("https://app.example.com", "https://app.example.com:443"));
  assert.ok(!originMatches("https://app.example.com:8443", "https://app.example.com"));
  assert.ok(!originMatches("http://app.example.com", "https://app.example.com"));
  assert.ok(!originMatches("https://app.example.com.evil.net", "https://app.example.com"));
  assert.ok(!originMatches("https://xapp.example.com", "https://app.example.com"));
});

test("wildcards match subdomains at any depth, not the domain itself", () => {
  const pattern = "https://*.example.com";
  assert.ok(originMatches("https://a.example.com", pattern));
  assert.ok(originMatches("https://a.b.example.com", pattern));
  assert.ok(!originMatches("https://example.com", pattern));
  assert.ok(!originMatches("https://aexample.com", pattern));
  assert.ok(!originMatches("https://a.example.com.evil.net", pattern));
  assert.ok(!originMatches("http://a.example.com", pattern));
});

test("localhost for development matches its port only", () => {
  assert.ok(originMatches("http://localhost:8000", "http://localhost:8000"));
  assert.ok(!originMatches("http://localhost:8001", "http://localhost:8000"));
  assert.ok(!originMatches("http://127.0.0.1:8000", "http://localhost:8000"));
});

test("a wildcard origin or junk never matches", () => {
  assert.ok(!originMatches("https://*.example.com", "https://*.example.com"));
  assert.ok(!originMatches("null", "https://a.example.com"));
  assert.ok(!originMatches("https://a.example.com/path", "https://a.example.com"));
  assert.ok(!originAllowed("null", "any"));
});

test("the allowed list comes as 'any' or JSON; anything else allows nothing", () => {
  assert.equal(parseAllowed("any"), "any");
  assert.deepEqual(parseAllowed('["https://a.example"]'), ["https://a.example"]);
  assert.deepEqual(parseAllowed(undefined), []);
  assert.deepEqual(parseAllowed("{}"), []);
  assert.deepEqual(parseAllowed("[1]"), []);
  assert.deepEqual(parseAllowed("*"), []);
  assert.ok(!originAllowed("https://a.example", []));
  assert.ok(originAllowed("https://a.example", "any"));
});

test("the embedding origin: the claim must be the parent's real origin and allowed", () => {
  const allowed = ["https://app.example.com"];
  assert.deepEqual(
    embeddingOrigin({ claimed: "https://app.example.com", ancestorOrigins: ["https://app.example.com"], allowed }),
    { origin: "https://app.example.com" });
  // Without ancestorOrigins (Firefox) the claim counts; without a claim, the parent's origin.
  assert.deepEqual(embeddingOrigin({ claimed: "https://app.example.com", ancestorOrigins: undefined, allowed }),
    { origin: "https://app.example.com" });
  assert.deepEqual(embeddingOrigin({ claimed: null, ancestorOrigins: ["https://app.example.com"], allowed }),
    { origin: "https://app.example.com" });
  const lie = embeddingOrigin({ claimed: "https://app.example.com", ancestorOrigins: ["https://evil.example"], allowed });
  assert.match(lie.refused, /not the embedding page's origin/);
  const foreign = embeddingOrigin({ claimed: null, ancestorOrigins: ["https://evil.example"], allowed });
  assert.match(foreign.refused, /not one of this organization's allowed embed domains/);
  assert.match(embeddingOrigin({ claimed: null, ancestorOrigins: [], allowed }).refused, /unknown/);
  assert.match(embeddingOrigin({ claimed: "javascript:x", ancestorOrigins: [], allowed }).refused, /not an origin/);
});

test("commands: known names, args [] or one boolean for the toggles", () => {
  assert.deepEqual(readCommand({ command: "toggle_camera", args: [false] }), { command: "toggle_camera", on: false });
  assert.deepEqual(readCommand({ command: "toggle_camera", args: [] }), { command: "toggle_camera", on: undefined });
  assert.deepEqual(readCommand({ command: "toggle_chat" }), { command: "toggle_chat", on: undefined });
  assert.deepEqual(readCommand({ command: "toggle_camera", args: [undefined] }), { command: "toggle_camera", on: undefined });
  assert.deepEqual(readCommand({ command: "leave_room", args: [] }), { command: "leave_room", on: undefined });
  for (const bad of [
    null, "toggle_camera", {}, { command: 1 }, { command: "format_disk" }, { command: "__proto__" },
    { command: "toggle_camera", args: ["off"] }, { command: "toggle_camera", args: [true, 1] },
    { command: "toggle_camera", args: "x" }, { command: "leave_room", args: [true] },
  ]) {
    assert.ok("refused" in readCommand(bad), JSON.stringify(bad));
  }
});

test("commands are checked against the role and the room's state", () => {
  const ctx = (role, status = "connected", features = {}) => ({ role, status, features });
  assert.equal(commandRefusal("end_meeting", ctx("host")), null);
  assert.match(commandRefusal("end_meeting", ctx("visitor")), /hosts only/);
  assert.match(commandRefusal("end_meeting", ctx("granted_visitor")), /hosts only/);
  assert.match(commandRefusal("toggle_camera", ctx("viewer")), /viewers/);
  assert.match(commandRefusal("toggle_microphone", ctx("viewer")), /viewers/);
  assert.equal(commandRefusal("toggle_camera", ctx("visitor", "idle")), null, "a preview may toggle");
  assert.equal(commandRefusal("knock", ctx("visitor", "room_locked")), null);
  assert.match(commandRefusal("knock", ctx("visitor", "connected")), /not possible now/);
  assert.match(commandRefusal("toggle_chat", ctx("visitor", "connected", { chat: false })), /chat is off/);
  assert.equal(commandRefusal("toggle_chat", ctx("viewer")), null);
  assert.match(commandRefusal("leave_room", ctx("visitor", "left")), /not possible now/);
});

/** A window in a frame, its parent, and what got posted. */
function framedWindow({ ancestor = "https://app.example.com" } = {}) {
  const posted = [];
  const listeners = new Set();
  const parent = { postMessage: (data, targetOrigin) => posted.push({ data, targetOrigin }) };
  const win = {
    parent,
    location: { ancestorOrigins: ancestor ? [ancestor] : undefined },
    addEventListener: (type, fn) => type === "message" && listeners.add(fn),
    removeEventListener: (type, fn) => listeners.delete(fn),
  };
  const deliver = (event) => [...listeners].forEach((fn) => fn(event));
  return { win, parent, posted, deliver, listeners };
}

function bridgeFor(frame, { role = "visitor", status = "connected", allowed = ["https://app.example.com"],
  claimed = "https://app.example.com" } = {}) {
  const calls = [];
  const warnings = [];
  const record = (name) => (on) => calls.push([name, on]);
  const bridge = createEmbedBridge({
    win: frame.win, allowed, claimed,
    actions: {
      knock: record("knock"), leaveRoom: record("leaveRoom"), endMeeting: record("endMeeting"),
      toggleCamera: record("toggleCamera"), toggleMicrophone: record("toggleMicrophone"),
      toggleScreenshare: record("toggleScreenshare"), toggleChat: record("toggleChat"),
      togglePeople: record("togglePeople"),
    },
    context: () => ({ role, status, features: { chat: true, people: true, screenshare: true } }),
    warn: (m) => warnings.push(m),
  });
  return { bridge, calls, warnings };
}

test("events go to the embedding origin only, never '*'", () => {
  const frame = framedWindow();
  const { bridge } = bridgeFor(frame);
  assert.ok(bridge.active);
  bridge.post("join");
  bridge.post("camera_toggle", { enabled: false });
  assert.deepEqual(frame.posted, [
    { data: { type: "join", payload: {} }, targetOrigin: "https://app.example.com" },
    { data: { type: "camera_toggle", payload: { enabled: false } }, targetOrigin: "https://app.example.com" },
  ]);
});

test("commands run only from the parent window and the embedding origin", () => {
  const frame = framedWindow();
  const { calls, warnings } = bridgeFor(frame);
  const good = { source: frame.parent, origin: "https://app.example.com", data: { command: "toggle_camera", args: [false] } };
  frame.deliver(good);
  frame.deliver({ ...good, source: {} }); // a sibling or nested frame
  frame.deliver({ ...good, origin: "https://evil.example" });
  frame.deliver({ ...good, data: { command: "end_meeting" } }); // a visitor
  frame.deliver({ ...good, source: {}, data: "not a command" }); // other traffic: not worth a word
  assert.deepEqual(calls, [["toggleCamera", false]]);
  assert.equal(warnings.length, 3, warnings.join("\n"));
  assert.equal(warnings.filter((w) => w.includes("not the embedding page")).length, 2);
});

test("a host may end the meeting through the bridge", () => {
  const frame = framedWindow();
  const { calls } = bridgeFor(frame, { role: "host" });
  frame.deliver({ source: frame.parent, origin: "https://app.example.com", data: { command: "end_meeting", args: [] } });
  assert.deepEqual(calls, [["endMeeting", undefined]]);
});

test("no bridge when not framed, or framed by a page that is not allowed", () => {
  const top = framedWindow();
  top.win.parent = top.win;
  assert.equal(bridgeFor(top).bridge.active, false);

  const foreign = framedWindow({ ancestor: "https://evil.example" });
  const { bridge, warnings } = bridgeFor(foreign, { claimed: "https://app.example.com" });
  assert.equal(bridge.active, false);
  assert.equal(foreign.listeners.size, 0, "no message listener");
  bridge.post("join");
  assert.deepEqual(foreign.posted, []);
  assert.match(warnings[0], /embed API is off/);

  const notAllowed = framedWindow({ ancestor: "https://other.example" });
  assert.equal(bridgeFor(notAllowed, { claimed: null }).bridge.active, false);
});

test("the connection's state changes become Whereby's events", async () => {
  const frame = framedWindow();
  const { bridge } = bridgeFor(frame);
  const handlers = {};
  let subscriber = null;
  const connection = {
    on: (name, fn) => { handlers[name] = fn; return () => {}; },
    subscribe: (fn) => { subscriber = fn; return () => {}; },
  };
  followConnection(bridge, connection);
  const me = (audio, video, screen = false) => ({ isAudioEnabled: audio, isVideoEnabled: video, isScreenSharing: screen });
  const state = (status, others, local, quality = "stable") => ({
    connectionStatus: status, connectionQuality: quality, localParticipant: local,
    remoteParticipants: Array.from({ length: others }, (_, i) => ({ id: `p${i}` })),
  });
  subscriber(state("connecting", 0, me(false, false))); // devices still opening: no toggles
  subscriber(state("connected", 1, me(true, true)));
  handlers.participant_joined({ id: "p2", displayName: "Bo", role: "visitor", audio: true });
  subscriber(state("connected", 2, me(true, false)));
  subscriber(state("reconnecting", 2, me(true, false), "reconnecting"));
  subscriber(state("connected", 2, me(false, false)));
  handlers.participant_left({ participant: { id: "p2", displayName: "Bo", role: "visitor" }, reason: "left" });
  subscriber(state("left", 0, me(false, false)));
  const types = frame.posted.map((p) => [p.data.type, p.data.payload]);
  assert.deepEqual(types, [
    ["join", {}],
    ["participantupdate", { count: 2 }],
    ["participant_join", { participant: { id: "p2", displayName: "Bo", role: "visitor" } }],
    ["participantupdate", { count: 3 }],
    ["camera_toggle", { enabled: false }],
    ["connection_status_change", { status: "reconnecting" }],
    ["microphone_toggle", { enabled: false }],
    ["connection_status_change", { status: "stable" }],
    ["participant_leave", { participant: { id: "p2", displayName: "Bo", role: "visitor" } }],
    ["leave", { removed: false }],
  ]);
});

test("knocking, being removed and the meeting's end are events too", () => {
  for (const [statuses, expected] of [
    [["idle", "room_locked", "knocking"], [["knock", {}]]],
    [["connecting", "connected", "kicked"], [["join", {}], ["participantupdate", { count: 1 }], ["leave", { removed: true }]]],
    [["connected", "meeting_ended"], [["join", {}], ["participantupdate", { count: 1 }], ["meeting_end", {}]]],
  ]) {
    const frame = framedWindow();
    const { bridge } = bridgeFor(frame);
    let subscriber = null;
    followConnection(bridge, { on: () => () => {}, subscribe: (fn) => { subscriber = fn; return () => {}; } });
    const local = { isAudioEnabled: true, isVideoEnabled: true, isScreenSharing: false };
    for (const status of statuses) {
      subscriber({ connectionStatus: status, connectionQuality: "stable", localParticipant: local, remoteParticipants: [] });
    }
    assert.deepEqual(frame.posted.map((p) => [p.data.type, p.data.payload]), expected, statuses.join(" → "));
  }
});
