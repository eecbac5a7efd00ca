// The browser's Socket.IO client (signal-socket.js): its protocol functions, and its state
// machine driven through fake WebSocket and fetch (the real server is in tests/e2e).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

globalThis.MediaStream ??= class MediaStream {
  getTracks() { return []; }
};
const { PROTOCOL_VERSION } = await import("../../../src/salon/web/static/salon-client.js");

const {
  SignalSocket, ProtocolError, backoff, decodeEnginePacket, decodeHandshake, decodePayload,
  decodeSocketPacket, encodeEvent, socketUrl,
} = await import("../../../src/salon/web/static/signal-socket.js");

const HANDSHAKE = JSON.stringify({
  sid: "eio1", upgrades: ["websocket"], pingInterval: 10000, pingTimeout: 10000, maxPayload: 100,
});
const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check, what) {
  for (let i = 0; i < 200; i += 1) {
    if (check()) return;
    await tick(2);
  }
  assert.fail(`timed out waiting for ${what}`);
}

// --- the pure protocol ---------------------------------------------------------------------

test("Engine.IO packets and long-polling payloads decode; anything else is refused", () => {
  assert.deepEqual(decodeEnginePacket("2"), { type: "2", data: "" });
  assert.deepEqual(decodeEnginePacket('42["a",{}]'), { type: "4", data: '2["a",{}]' });
  assert.deepEqual(decodePayload("2\x1e6\x1e40").map((p) => p.type), ["2", "6", "4"]);
  assert.throws(() => decodeEnginePacket("9x"), ProtocolError);
  assert.throws(() => decodeEnginePacket(""), ProtocolError);
  assert.throws(() => decodeEnginePacket("bAAA"), ProtocolError); // binary: Salon sends none
});

test("the handshake is checked", () => {
  const h = decodeHandshake(HANDSHAKE);
  assert.equal(h.sid, "eio1");
  assert.deepEqual(h.upgrades, ["websocket"]);
  assert.equal(decodeHandshake('{"sid":"a","pingInterval":1,"pingTimeout":1}').maxPayload, 1_000_000);
  for (const bad of ["nope", "null", '{"sid":"a"}', '{"sid":"","pingInterval":1,"pingTimeout":1}',
    '{"sid":"a","pingInterval":-1,"pingTimeout":1}', '{"sid":1,"pingInterval":1,"pingTimeout":1}']) {
    assert.throws(() => decodeHandshake(bad), ProtocolError, bad);
  }
});

test("Socket.IO packets: namespace, acknowledgement id and JSON", () => {
  assert.deepEqual(decodeSocketPacket('0{"sid":"s1"}'), { type: "0", id: null, data: { sid: "s1" } });
  assert.deepEqual(decodeSocketPacket('2["ev",{"a":1}]'), { type: "2", id: null, data: ["ev", { a: 1 }] });
  assert.deepEqual(decodeSocketPacket('312[{"ok":true}]'), { type: "3", id: 12, data: [{ ok: true }] });
  assert.deepEqual(decodeSocketPacket('2/,["ev",1]'), { type: "2", id: null, data: ["ev", 1] });
  assert.equal(decodeSocketPacket('2/admin,["ev",1]'), null); // another namespace
  assert.deepEqual(decodeSocketPacket("1"), { type: "1", id: null, data: null });
  for (const bad of ["9", "2{", '2{"a":1}', "2[1]", "3[", "", '5["ev"]']) {
    assert.throws(() => decodeSocketPacket(bad), ProtocolError, bad);
  }
});

test("events encode with an optional acknowledgement id", () => {
  assert.equal(encodeEvent("join", { a: 1 }), '42["join",{"a":1}]');
  assert.equal(encodeEvent("join", { a: 1 }, 7), '427["join",{"a":1}]');
});

test("reconnect waits double up to the maximum, spread by the jitter", () => {
  const how = { min: 500, max: 4000, jitter: 0.5 };
  assert.equal(backoff(0, { ...how, random: 0.5 }), 500);
  assert.equal(backoff(1, { ...how, random: 0.5 }), 1000);
  assert.equal(backoff(10, { ...how, random: 0.5 }), 4000);
  assert.equal(backoff(0, { ...how, random: 0 }), 250);
  assert.equal(backoff(0, { ...how, random: 1 }), 750);
  assert.equal(backoff(5000, { ...how, random: 1 }), 6000);
});

test("the WebSocket URL of a server, or of the page's own", () => {
  assert.equal(socketUrl("https://salon.example:8443"),
    "wss://salon.example:8443/socket.io/?EIO=4&transport=websocket");
  assert.equal(socketUrl("https://salon.example", { sid: "x" }),
    "wss://salon.example/socket.io/?EIO=4&sid=x&transport=websocket");
});

// --- the socket, over fakes ------------------------------------------------------------------

/** A fake browser WebSocket the test plays the server of. */
class FakeWebSocket {
  static made = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.onopen = this.onmessage = this.onerror = this.onclose = null;
    FakeWebSocket.made.push(this);
  }
  open() { this.readyState = 1; this.onopen?.({}); }
  receive(data) { this.onmessage?.({ data }); }
  fail() { this.readyState = 3; this.onerror?.({}); this.onclose?.({}); }
  send(text) { this.sent.push(text); }
  close() { this.readyState = 3; }
}

/** A fake long-polling server: GETs wait for queued packets, POSTs are recorded. */
class FakePolling {
  constructor() {
    this.posts = [];
    this.queue = [];
    this.waiting = null;
    this.gets = 0;
    this.fetch = (url, init = {}) => this.#handle(url, init);
  }
  async #handle(url, init) {
    if (init.method === "POST") {
      this.posts.push(init.body);
      return new Response("ok");
    }
    this.gets += 1;
    if (!this.queue.length) {
      await new Promise((resolve, reject) => {
        this.waiting = resolve;
        init.signal?.addEventListener("abort", () => reject(new Error("aborted")));
      });
    }
    return new Response(this.queue.splice(0).join("\x1e"));
  }
  push(...packets) {
    this.queue.push(...packets);
    const w = this.waiting;
    this.waiting = null;
    w?.();
  }
  sent() { return this.posts.flatMap((b) => b.split("\x1e")); }
}

function makeSocket(extra = {}) {
  FakeWebSocket.made = [];
  const polling = new FakePolling();
  const socket = new SignalSocket("https://salon.example", {
    auth: { v: 1 }, WebSocket: FakeWebSocket, fetch: polling.fetch, early: false,
    reconnectionDelay: 1, reconnectionDelayMax: 2, webSocketTimeout: 200, ...extra,
  });
  const seen = [];
  for (const e of ["connect", "disconnect", "connect_error", "participant_joined", "connect_x"]) {
    socket.on(e, (d) => seen.push([e, d]));
  }
  return { socket, polling, seen };
}

/** Connects `socket` over a fake WebSocket; returns that WebSocket. */
async function connectOverWebSocket(socket) {
  socket.connect();
  const ws = FakeWebSocket.made.at(-1);
  ws.open();
  ws.receive("0" + HANDSHAKE);
  assert.deepEqual(ws.sent, ['40{"v":1}']);
  ws.receive('40{"sid":"s1"}');
  assert.equal(socket.connected, true);
  return ws;
}

test("over WebSocket: connect, events, requests answered, pings", async () => {
  const { socket, seen } = makeSocket();
  const ws = await connectOverWebSocket(socket);
  assert.equal(socket.id, "s1");
  assert.equal(socket.transport, "websocket");
  ws.receive('42["participant_joined",{"id":"p"}]');
  ws.receive('42["connect_x",1]');
  ws.receive('42["connect",1]'); // a server event may not pose as the socket's own
  ws.receive('421["participant_joined",{"id":"q"}]'); // the server asks for an ack
  assert.deepEqual(seen, [["connect", undefined], ["participant_joined", { id: "p" }],
    ["connect_x", 1], ["participant_joined", { id: "q" }]]);
  assert.equal(ws.sent.at(-1), "431[]");
  const answer = socket.request("join", { displayName: "Ann" }, 1000);
  assert.equal(ws.sent.at(-1), '420["join",{"displayName":"Ann"}]');
  ws.receive('430[{"ok":true,"x":1}]');
  assert.deepEqual(await answer, { ok: true, x: 1 });
  ws.receive("2");
  assert.equal(ws.sent.at(-1), "3");
  await assert.rejects(socket.request("slow", {}, 5), /no answer to slow/);
  assert.equal(socket.emit("chat", { t: 1 }), true);
  assert.equal(ws.sent.at(-1), '42["chat",{"t":1}]');
  socket.disconnect();
  assert.deepEqual(ws.sent.slice(-2), ["41", "1"]);
  assert.equal(ws.readyState, 3);
  assert.deepEqual(seen.at(-1), ["disconnect", "io client disconnect"]);
  assert.equal(socket.emit("chat", {}), false);
  await assert.rejects(socket.request("join", {}, 10), /not connected/);
});

test("held events wait, in order, while answers still come", async () => {
  const { socket, seen } = makeSocket();
  const ws = await connectOverWebSocket(socket);
  const answer = socket.request("join", {}, 1000);
  socket.hold();
  ws.receive('42["participant_joined",{"id":"p"}]');
  ws.receive('430[{"ok":true}]');
  ws.receive('421["connect_x",{"n":1}]');
  assert.deepEqual(await answer, { ok: true }, "the answer is not held");
  assert.equal(ws.sent.at(-1), "431[]", "an event the server wants acknowledged is, at once");
  assert.deepEqual(seen, [["connect", undefined]], "nothing passed on yet");
  socket.release();
  assert.deepEqual(seen.slice(1), [["participant_joined", { id: "p" }], ["connect_x", { n: 1 }]]);
  ws.receive('42["participant_joined",{"id":"q"}]');
  assert.deepEqual(seen.at(-1), ["participant_joined", { id: "q" }], "released: passed on at once");
  socket.disconnect();
});

test("something unreadable from the server is not passed on", async () => {
  const { socket, seen } = makeSocket();
  const ws = await connectOverWebSocket(socket);
  const warn = console.warn;
  console.warn = () => {};
  try {
    ws.receive("42{broken");
    ws.receive('42[1,"no name"]');
  } finally {
    console.warn = warn;
  }
  assert.deepEqual(seen, [["connect", undefined]]);
  assert.equal(socket.connected, true);
  socket.disconnect();
});

test("a refusal by the server ends the attempts, with the server's reason", async () => {
  const { socket, seen } = makeSocket();
  socket.connect();
  const ws = FakeWebSocket.made.at(-1);
  ws.open();
  ws.receive("0" + HANDSHAKE);
  ws.receive('44{"message":"unsupported_version","data":{"code":"unsupported_version"}}');
  assert.equal(socket.active, false);
  assert.equal(socket.connected, false);
  const [[name, error]] = seen;
  assert.equal(name, "connect_error");
  assert.equal(error.message, "unsupported_version");
  assert.deepEqual(error.data, { code: "unsupported_version" });
  await tick(10);
  assert.equal(FakeWebSocket.made.length, 1, "no retry after a refusal");
});

test("a dropped connection reconnects, and pending requests fail at once", async () => {
  const { socket, seen } = makeSocket();
  const ws = await connectOverWebSocket(socket);
  const pending = socket.request("join", {}, 10_000);
  socket.dropTransport();
  await assert.rejects(pending, /disconnected/);
  assert.deepEqual(seen.at(-1), ["disconnect", "transport close"]);
  assert.equal(socket.active, true);
  await until(() => FakeWebSocket.made.length === 2, "a new WebSocket");
  const again = FakeWebSocket.made[1];
  again.open();
  again.receive("0" + HANDSHAKE);
  again.receive('40{"sid":"s2"}');
  assert.equal(socket.id, "s2");
  assert.equal(seen.filter(([e]) => e === "connect").length, 2);
  assert.notEqual(ws, again);
  socket.disconnect();
});

test("the server's disconnect is final until connect() is called again", async () => {
  const { socket, seen } = makeSocket();
  const ws = await connectOverWebSocket(socket);
  ws.receive("41");
  assert.deepEqual(seen.at(-1), ["disconnect", "io server disconnect"]);
  assert.equal(socket.active, false);
  await tick(10);
  assert.equal(FakeWebSocket.made.length, 1);
  socket.connect();
  assert.equal(FakeWebSocket.made.length, 2);
  socket.disconnect();
});

test("a silent server (no ping in time) is a lost connection", async () => {
  const { socket, seen } = makeSocket();
  socket.connect();
  const ws = FakeWebSocket.made.at(-1);
  ws.open();
  ws.receive("0" + JSON.stringify({ sid: "e", pingInterval: 5, pingTimeout: 5 }));
  ws.receive('40{"sid":"s1"}');
  await until(() => seen.some(([e]) => e === "disconnect"), "the ping timeout");
  assert.deepEqual(seen.at(-1), ["disconnect", "ping timeout"]);
  socket.disconnect();
});

test("WebSocket blocked: the same attempt goes on over long-polling, then upgrades", async () => {
  const { socket, polling, seen } = makeSocket();
  socket.connect();
  FakeWebSocket.made[0].fail();
  await until(() => polling.gets === 1, "the first poll");
  polling.push("0" + HANDSHAKE);
  await until(() => polling.sent().includes('40{"v":1}'), "the CONNECT by POST");
  // The server advertised the upgrade: a probe WebSocket with the session id.
  const probe = FakeWebSocket.made[1];
  assert.match(probe.url, /sid=eio1&transport=websocket$/);
  polling.push('40{"sid":"s1"}');
  await until(() => socket.connected, "connected over long-polling");
  assert.equal(socket.transport, "polling");
  const answer = socket.request("join", {}, 1000);
  await until(() => polling.sent().includes('420["join",{}]'), "the request by POST");
  polling.push('430[{"ok":true}]');
  assert.deepEqual(await answer, { ok: true });
  polling.push("2");
  await until(() => polling.sent().includes("3"), "the pong by POST");

  probe.open();
  assert.deepEqual(probe.sent, ["2probe"]);
  probe.receive("3probe");
  polling.push("6"); // the server ends the poll in flight
  await until(() => socket.transport === "websocket", "the upgrade");
  assert.deepEqual(probe.sent, ["2probe", "5"]);
  probe.receive('42["participant_joined",{"id":"p"}]');
  assert.deepEqual(seen.at(-1), ["participant_joined", { id: "p" }]);
  socket.emit("chat", {});
  assert.equal(probe.sent.at(-1), '42["chat",{}]');
  const gets = polling.gets;
  await tick(10);
  assert.equal(polling.gets, gets, "no more polls after the upgrade");
  socket.disconnect();
});

test("a WebSocket that hangs counts as failed after webSocketTimeout", async () => {
  const { socket, polling } = makeSocket({ webSocketTimeout: 10 });
  socket.connect();
  await until(() => polling.gets === 1, "long-polling after the hang");
  polling.push("0" + HANDSHAKE.replace('["websocket"]', "[]"));
  await until(() => polling.sent().length === 1, "the CONNECT");
  polling.push('40{"sid":"s1"}');
  await until(() => socket.connected, "connected");
  socket.disconnect();
  // The next attempt starts with long-polling: this page's WebSockets fail.
  socket.connect();
  await tick(5);
  assert.equal(FakeWebSocket.made.length, 1);
  socket.disconnect();
});

/**
 * Runs the room page's inline script as the server makes it (pages.py, _room_boot: the rules of
 * params.js without their `export` keywords, then templates/room-boot.js, in one function), on
 * a page at `search` whose <html> says `dataset`.
 */
function runRoomBoot(search = "", dataset = { roomName: "/abc", role: "visitor" }) {
  const read = (path) => readFileSync(new URL(`../../../src/salon/web/${path}`, import.meta.url), "utf8");
  const text = read("static/params.js").replace(/^export /gm, "") + read("templates/room-boot.js");
  Object.assign(globalThis, {
    window: globalThis, WebSocket: FakeWebSocket, RTCPeerConnection: class {},
    location: { protocol: "https:", host: "salon.example", origin: "https://salon.example", search, pathname: dataset.roomName },
    document: { documentElement: { dataset } },
  });
  if (!globalThis.navigator?.mediaDevices) Object.defineProperty(globalThis, "navigator", { value: { mediaDevices: {} }, configurable: true });
  FakeWebSocket.made = [];
  new Function(text)();
  return FakeWebSocket.made[0];
}

/**
 * Runs the room page's script with a getUserMedia that records what it is asked for; returns
 * those requests and what the page left for the app (`__salonEarlyMedia`).
 */
function roomBootMedia(search, dataset) {
  const asked = [];
  const stream = { id: "early" };
  Object.defineProperty(globalThis, "navigator", {
    value: { mediaDevices: { getUserMedia: (c) => (asked.push(c), Promise.resolve(stream)) } },
    configurable: true,
  });
  delete globalThis.__salonEarlyMedia;
  try {
    runRoomBoot(search, dataset);
    return { asked, media: globalThis.__salonEarlyMedia, stream };
  } finally {
    Object.defineProperty(globalThis, "navigator", { value: { mediaDevices: {} }, configurable: true });
    delete globalThis.__salonEarlyMedia;
    delete globalThis.__salonEarlySignal;
  }
}

test("a page that joins at once asks for camera and microphone in its inline script", async () => {
  const { asked, media, stream } = roomBootMedia("?displayName=Ann&precallReview=off",
    { roomName: "/abc", role: "visitor", roomMode: "group" });
  assert.deepEqual(asked, [{
    audio: { echoCancellation: true, noiseSuppression: true },
    video: { width: { ideal: 960 }, height: { ideal: 540 }, frameRate: { ideal: 24 } },
  }], "once, both, with the app's constraints for the room's mode");
  assert.equal(await media, stream, "left for the app to take");
});

test("the inline script opens no device for a page that does not join at once with both on", () => {
  for (const [search, dataset] of [
    ["", undefined],
    ["?displayName=Ann", undefined],
    ["?displayName=Ann&precallReview=off&audio=off", undefined],
    ["?displayName=Ann&precallReview=off&video=off", undefined],
    ["?displayName=Ann&precallReview=off&skipMediaPermissionPrompt", undefined],
    ["?displayName=Ann&precallReview=off", { roomName: "/abc", role: "viewer" }],
  ]) {
    const { asked, media } = roomBootMedia(search, dataset);
    assert.deepEqual(asked, [], search);
    assert.equal(media, undefined, search);
  }
});

/** The room page's script, its WebSocket open and the server's handshake and CONNECT answer in. */
function acceptedRoomBoot(search, dataset) {
  const ws = runRoomBoot(search, dataset);
  ws.open();
  ws.receive("0" + HANDSHAKE);
  ws.receive('40{"sid":"s9"}');
  return ws;
}

test("the room page's early WebSocket asks for the socket, and the client adopts it", async () => {
  const ws = runRoomBoot();
  assert.equal(ws.url, socketUrl(""));
  ws.open();
  // The CONNECT goes out as the WebSocket opens, with the auth the client itself would send.
  assert.deepEqual(ws.sent, [`40${JSON.stringify({ v: PROTOCOL_VERSION })}`]);
  ws.receive("0" + HANDSHAKE);
  ws.receive('40{"sid":"s9"}');
  const socket = new SignalSocket("", { auth: { v: PROTOCOL_VERSION } });
  const seen = [];
  socket.on("connect", () => seen.push("connect"));
  socket.connect();
  assert.equal(FakeWebSocket.made.length, 1, "no second WebSocket");
  assert.equal(ws.sent.length, 1, "no second CONNECT");
  await until(() => socket.connected, "the queued messages passed on");
  assert.equal(socket.id, "s9");
  assert.deepEqual(seen, ["connect"]);
  assert.equal(globalThis.__salonEarlySignal, undefined, "taken once");
  const answer = socket.request("join", {}, 1000);
  ws.receive('430[{"ok":true}]');
  assert.deepEqual(await answer, { ok: true });
  socket.disconnect();
});

test("an early WebSocket still opening is adopted, and the CONNECT sent once, by the client", () => {
  const ws = runRoomBoot("?displayName=Ann&precallReview=off");
  const socket = new SignalSocket("", { auth: { v: PROTOCOL_VERSION } });
  socket.connect();
  ws.open();
  assert.deepEqual(ws.sent, [], "the page's script sends nothing once the client took over");
  ws.receive("0" + HANDSHAKE);
  assert.deepEqual(ws.sent, [`40${JSON.stringify({ v: PROTOCOL_VERSION })}`]);
  ws.receive('40{"sid":"s1"}');
  assert.equal(socket.connected, true);
  assert.equal(socket.takeEarlyRequest("join"), null, "no join was sent early: the app sends its own");
  socket.disconnect();
});

test("an early WebSocket that asks with other credentials is not adopted", () => {
  const ws = runRoomBoot();
  const socket = new SignalSocket("", { auth: { v: 99 } });
  socket.connect();
  assert.equal(ws.readyState, 3, "closed");
  assert.equal(FakeWebSocket.made.length, 2);
  socket.disconnect();
});

test("an early WebSocket to another server, or one that failed, is not adopted", async () => {
  FakeWebSocket.made = [];
  const other = new FakeWebSocket(socketUrl("https://elsewhere.example"));
  globalThis.__salonEarlySignal = { url: other.url, ws: other, queue: [], failed: false };
  const socket = new SignalSocket("https://salon.example", { WebSocket: FakeWebSocket, fetch: new FakePolling().fetch });
  socket.connect();
  assert.equal(FakeWebSocket.made.length, 2);
  assert.ok(globalThis.__salonEarlySignal, "left for its own server");
  socket.disconnect();

  const url = socketUrl("https://salon.example");
  const failed = new FakeWebSocket(url);
  globalThis.__salonEarlySignal = { url, ws: failed, queue: [], failed: true, auth: "{}" };
  const polling = new FakePolling();
  const again = new SignalSocket("https://salon.example", { WebSocket: FakeWebSocket, fetch: polling.fetch });
  again.connect();
  await until(() => polling.gets === 1, "long-polling at once");
  again.disconnect();
});

test("a page that joins at once sends its join behind the CONNECT; the client takes its answer first", async () => {
  const ws = runRoomBoot("?displayName=%20Ann%20&precallReview=off&roomKey=K&video=off");
  ws.open();
  const join = { roomName: "/abc", displayName: "Ann", audio: true, video: false, roomKey: "K" };
  assert.deepEqual(ws.sent, [`40${JSON.stringify({ v: PROTOCOL_VERSION })}`,
    `420${JSON.stringify(["join", join])}`], "the app's join, id 0, not waiting for a reply");
  ws.receive("0" + HANDSHAKE);
  ws.receive('40{"sid":"s9"}');
  ws.receive('430[{"ok":true,"self":{"id":"me"}}]');
  ws.receive('42["participant_joined",{"id":"p2"}]');

  const socket = new SignalSocket("", { auth: { v: PROTOCOL_VERSION } });
  const seen = [];
  socket.on("connect", () => {
    const early = socket.takeEarlyRequest("join");
    assert.deepEqual(early.payload, join);
    early.answer.then((answer) => seen.push(`answer ${answer.self.id}`));
    assert.equal(socket.takeEarlyRequest("join"), null, "taken once");
  });
  socket.on("participant_joined", ({ id }) => seen.push(`joined ${id}`));
  socket.connect();
  await until(() => seen.length === 2, "the answer and the event");
  assert.deepEqual(seen, ["answer me", "joined p2"], "in the order they came");
  // The client's own requests take the ids after the page's.
  const answer = socket.request("chat", {}, 1000);
  assert.ok(ws.sent.at(-1).startsWith('421["chat"'));
  ws.receive('431[{"ok":true}]');
  assert.deepEqual(await answer, { ok: true });
  socket.disconnect();
});

test("a page that does not join at once, or cannot, sends no join", () => {
  for (const search of ["?displayName=Ann", "?precallReview=off", `?displayName=${"x".repeat(101)}&precallReview=off`]) {
    const ws = acceptedRoomBoot(search);
    assert.equal(ws.sent.length, 1, `only the CONNECT for ${search}`);
    delete globalThis.__salonEarlySignal;
  }
  const viewer = acceptedRoomBoot("?displayName=Vi&precallReview=off", { roomName: "/abc", role: "viewer" });
  assert.equal(viewer.sent[1], `420${JSON.stringify(["join",
    { roomName: "/abc", displayName: "Vi", audio: false, video: false }])}`, "a viewer opens no device");
  delete globalThis.__salonEarlySignal;
});

test("an early join's answer is lost with its connection", async () => {
  const ws = acceptedRoomBoot("?displayName=Ann&precallReview=off");
  const socket = new SignalSocket("", { auth: { v: PROTOCOL_VERSION }, reconnectionDelay: 60_000 });
  const seen = [];
  socket.on("connect", () => {
    socket.takeEarlyRequest("join").answer.catch((err) => seen.push(err.message));
  });
  socket.on("disconnect", (reason) => seen.push(`disconnect ${reason}`));
  socket.connect();
  ws.fail();
  await until(() => seen.length === 2, "the loss");
  assert.deepEqual(seen, ["disconnect websocket error", "disconnected (websocket error)"]);
  socket.disconnect();
});

test("queued answers are taken at once, queued events one per task, and a close waits behind them", async () => {
  const ws = acceptedRoomBoot("?displayName=Ann&precallReview=off");
  ws.receive('430[{"ok":true}]');
  ws.receive('42["participant_joined",{"id":"p2"}]');
  const socket = new SignalSocket("", { auth: { v: PROTOCOL_VERSION }, reconnectionDelay: 60_000 });
  const seen = [];
  socket.on("connect", () => {
    socket.takeEarlyRequest("join").answer.then((answer) => seen.push(`answer ${answer.ok}`));
  });
  socket.on("participant_joined", ({ id }) => seen.push(`joined ${id}`));
  socket.on("disconnect", (reason) => seen.push(`disconnect ${reason}`));
  socket.connect();
  assert.equal(socket.connected, true, "the handshake and the CONNECT's answer at once");
  ws.fail();
  await until(() => seen.length === 3, "the answer, the event, then the loss");
  assert.deepEqual(seen, ["answer true", "joined p2", "disconnect websocket error"]);
  socket.disconnect();
});
