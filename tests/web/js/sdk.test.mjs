// The JS SDK's pure parts: room URLs, the role a room key claims, and the state snapshot a
// room connection gives (built from the client's fields, no network).
import assert from "node:assert/strict";
import { test } from "node:test";

// Enough of the browser for a client that never connects.
globalThis.MediaStream ??= class MediaStream {
  getTracks() { return []; }
  getAudioTracks() { return []; }
  getVideoTracks() { return []; }
};

const { createRoomConnection, parseRoomUrl, roleFromRoomKey } = await import("../../../src/salon/web/static/sdk.js");

/** A JWT-shaped key whose payload is `claims` (unsigned: the SDK only reads it). */
function key(claims) {
  const b64 = Buffer.from(JSON.stringify(claims)).toString("base64url");
  return `eyJhbGciOiJIUzI1NiJ9.${b64}.c2lnbmF0dXJl`;
}

test("a room URL gives the server, the room name and the room key", () => {
  assert.deepEqual(parseRoomUrl("https://salon.example:8443/abc-1?roomKey=K&x=1"), {
    serverUrl: "https://salon.example:8443", roomName: "/abc-1", roomKey: "K",
  });
  assert.equal(parseRoomUrl("https://salon.example/abc").roomKey, null);
});

test("URLs that are not rooms are refused", () => {
  assert.throws(() => parseRoomUrl("nope"), /not a room URL/);
  assert.throws(() => parseRoomUrl("ftp://salon.example/abc"), /https/);
  assert.throws(() => parseRoomUrl("https://salon.example/"), /room name/);
  assert.throws(() => parseRoomUrl("https://salon.example/a/b"), /room name/);
});

test("the role a room key claims, visitor when it says nothing readable", () => {
  assert.equal(roleFromRoomKey(key({ role: "host" })), "host");
  assert.equal(roleFromRoomKey(key({ role: "viewer" })), "viewer");
  assert.equal(roleFromRoomKey(key({ role: "admin" })), "visitor");
  assert.equal(roleFromRoomKey(key({})), "visitor");
  assert.equal(roleFromRoomKey("garbage"), "visitor");
  assert.equal(roleFromRoomKey("a.!!!.b"), "visitor");
  assert.equal(roleFromRoomKey(null), "visitor");
});

test("the state snapshot: participants with streams, screenshares, chat, knocks", async () => {
  const room = createRoomConnection(`https://salon.example/abc?roomKey=${key({ role: "host" })}`,
    { displayName: "Ann", leaveOnPageHide: false });
  const before = room.state;
  assert.equal(before.connectionStatus, "idle");
  assert.equal(before.localParticipant.role, "host");
  assert.equal(before.localParticipant.displayName, "Ann");
  assert.equal(room.state, before, "the same snapshot until something changes");

  const client = room.client;
  const camera = new MediaStream();
  const screen = new MediaStream();
  client.self = { id: "me", displayName: "Ann", role: "host", audio: true, video: true, screenshare: false, connection: "stable" };
  client.participants.set("p1", { id: "p1", displayName: "Bo", role: "visitor", audio: false, video: true, screenshare: true, connection: "stable" });
  client.participants.set("p2", { id: "p2", displayName: "Cy", role: "viewer", audio: false, video: false, screenshare: false, connection: "reconnecting" });
  client.links.set("p1", { remoteCamera: camera, remoteScreen: screen, quality: "stable" });
  client.links.set("p2", { remoteCamera: new MediaStream(), remoteScreen: new MediaStream(), quality: "stable" });
  client.chat.push({ messageId: "m1", from: "p1", displayName: "Bo", text: "hi", sentAt: "2030-01-01T00:00:00Z", mine: false });
  client.knocks.set("k1", { knockId: "k1", displayName: "Di" });
  let notified = null;
  room.subscribe((state) => { notified = state; });
  client.setStatus("connected");
  await Promise.resolve();

  const s = room.state;
  assert.notEqual(s, before);
  assert.equal(notified, s);
  assert.equal(s.connectionStatus, "connected");
  assert.equal(s.localParticipant.id, "me");
  assert.deepEqual(s.remoteParticipants.map((p) => [p.id, p.isAudioEnabled, p.isScreenSharing, p.connection]),
    [["p1", false, true, "stable"], ["p2", false, false, "reconnecting"]]);
  assert.equal(s.remoteParticipants[0].stream, camera);
  assert.equal(s.remoteParticipants[0].presentationStream, screen);
  assert.equal(s.remoteParticipants[1].stream, null, "viewers send nothing");
  assert.deepEqual(s.screenshares.map((x) => [x.participantId, x.isLocal]), [["p1", false]]);
  assert.equal(s.screenshares[0].stream, screen);
  assert.deepEqual(s.chatMessages, [{ messageId: "m1", senderId: "p1", displayName: "Bo", text: "hi",
    timestamp: "2030-01-01T00:00:00Z", isLocal: false }]);
  assert.deepEqual(s.knocks, [{ knockId: "k1", displayName: "Di" }]);
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.remoteParticipants[0]));
});

test("joining needs a display name", async () => {
  const room = createRoomConnection("https://salon.example/abc", { leaveOnPageHide: false });
  await assert.rejects(room.joinRoom(), /display name/);
  await assert.rejects(room.knock({ displayName: "   " }), /display name/);
});

test("actions are the connection's methods, ready to destructure", () => {
  const room = createRoomConnection("https://salon.example/abc", { leaveOnPageHide: false });
  for (const name of ["joinRoom", "leaveRoom", "knock", "sendChatMessage", "deleteChatMessage",
    "toggleCamera", "toggleMicrophone", "startScreenshare", "stopScreenshare", "lockRoom",
    "admitKnock", "holdKnock", "rejectKnock", "removeParticipant", "askToMute", "endMeeting"]) {
    assert.equal(typeof room.actions[name], "function", name);
  }
  assert.equal(room.actions.sendChatMessage("hello"), null, "not in the room");
});
