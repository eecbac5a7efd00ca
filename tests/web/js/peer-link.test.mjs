// A peer link's offer or answer on its way (`outgoing`) and the client's wait for them
// (`descriptionsSent`), which the room app's renders wait on; a link taking the connection made
// ahead for its first offer (SpareConnection): against a stand-in RTCPeerConnection whose
// setLocalDescription the test lets finish.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.MediaStream ??= class MediaStream {
  getTracks() { return []; }
};

/** The setLocalDescription calls waiting to finish (resolve: it succeeds, reject: it fails). */
const pending = [];

globalThis.RTCPeerConnection = class {
  constructor(config = {}) {
    this.config = { ...config };
    this.signalingState = "stable";
    this.localDescription = null;
    this.remoteDescription = null;
    this.transceivers = [];
    this.closed = false;
    this.refuse = null; // set by a test: what setConfiguration throws
  }
  getConfiguration() { return { ...this.config }; }
  setConfiguration(config) {
    if (this.refuse) throw this.refuse;
    this.config = { ...config };
  }
  createDataChannel() { return { readyState: "connecting", close() {} }; }
  addTransceiver(trackOrKind, init) {
    const sender = {
      track: typeof trackOrKind === "string" ? null : trackOrKind,
      async replaceTrack(track) { sender.track = track; },
    };
    const t = { mid: null, direction: init.direction, currentDirection: null, sender, receiver: {} };
    this.transceivers.push(t);
    return t;
  }
  getTransceivers() { return this.transceivers; }
  async setRemoteDescription(description) {
    if (description.type === "offer" && this.transceivers.length === 0) {
      // The remote's first offer brings its microphone, camera and screen m-lines.
      for (const [mid, kind] of ["audio", "video", "video"].entries()) {
        this.transceivers.push({ mid: String(mid), direction: "recvonly", currentDirection: null,
          sender: { replaceTrack: async () => {} }, receiver: { track: { kind } } });
      }
    }
    this.remoteDescription = description;
    this.signalingState = description.type === "offer" ? "have-remote-offer" : "stable";
  }
  setLocalDescription() {
    return new Promise((resolve, reject) => pending.push({
      resolve: () => {
        const answering = this.signalingState === "have-remote-offer";
        this.signalingState = answering ? "stable" : "have-local-offer";
        this.localDescription = { type: answering ? "answer" : "offer", sdp: "v=0 fake" };
        resolve();
      },
      reject,
    }));
  }
  close() { this.closed = true; }
};

const { PeerLink, SpareConnection } = await import("../../../src/salon/web/static/peer-link.js");
const { createRoomConnection } = await import("../../../src/salon/web/static/sdk.js");

/**
 * @param {object[]} sent  where the link's signals go
 * @param {boolean} [initiator]
 * @param {object} [options]  more of PeerLink's options
 */
function link(sent, initiator = true, options = {}) {
  return new PeerLink({
    selfId: "a", remoteId: "b", iceServers: [], publish: true, initiator,
    tracks: { audio: null, video: null, screen: null },
    sendSignal: (payload) => sent.push(payload), onChange() {}, onMessage() {},
    ...options,
  });
}

const settled = (promise) =>
  Promise.race([promise.then(() => true), new Promise((r) => setTimeout(() => r(false), 10))]);

test("a newcomer's link offers at once; `outgoing` settles once the offer is sent", async () => {
  pending.length = 0;
  const sent = [];
  const l = link(sent);
  assert.ok(l.outgoing instanceof Promise, "the first offer is on its way");
  assert.equal(l.makingOffer, true);
  assert.equal(await settled(l.outgoing), false, "not before setLocalDescription finishes");
  const outgoing = l.outgoing;
  pending[0].resolve();
  await outgoing;
  assert.deepEqual(sent, [{ description: { type: "offer", sdp: "v=0 fake" } }]);
  assert.equal(l.outgoing, null);
  assert.equal(l.makingOffer, false);
  l.close();
});

test("the answer to an offer is on its way as `outgoing` until it is sent", async () => {
  pending.length = 0;
  const sent = [];
  const l = link(sent, false);
  assert.equal(l.outgoing, null, "waiting for the other's offer: nothing on its way");
  const applied = l.handleSignal({ description: { type: "offer", sdp: "v=0 remote" } });
  while (pending.length === 0) await new Promise((r) => setTimeout(r, 0));
  assert.ok(l.outgoing instanceof Promise, "the answer is being made");
  const outgoing = l.outgoing;
  assert.deepEqual(sent, []);
  pending[0].resolve();
  await outgoing;
  await applied;
  assert.deepEqual(sent, [{ description: { type: "answer", sdp: "v=0 fake" } }]);
  assert.equal(l.outgoing, null);
  l.close();
});

test("an offer that fails settles `outgoing` too, sending nothing", async () => {
  pending.length = 0;
  const sent = [];
  const l = link(sent);
  const outgoing = l.outgoing;
  const warn = console.warn;
  console.warn = () => {};
  try {
    pending[0].reject(new Error("no"));
    await outgoing;
  } finally {
    console.warn = warn;
  }
  assert.deepEqual(sent, []);
  assert.equal(l.outgoing, null);
  l.close();
});

test("a link waiting for the other's offer has none on its way", () => {
  pending.length = 0;
  const l = link([], false);
  assert.equal(l.outgoing, null);
  l.close();
});

test("descriptionsSent: at once with none on its way, after them, or after the bound", async () => {
  pending.length = 0;
  const client = createRoomConnection("https://salon.example/abc", { leaveOnPageHide: false }).client;
  assert.equal(await settled(client.descriptionsSent(10_000)), true, "no links: at once");

  client.links.set("face", { remoteCamera: new MediaStream() }); // a group room's SFU face
  client.links.set("waiting", link([], false));
  assert.equal(await settled(client.descriptionsSent(10_000)), true, "nothing offering: at once");

  client.links.set("offering", link([]));
  const wait = client.descriptionsSent(10_000);
  assert.equal(await settled(wait), false, "waits for the offer on its way");
  pending[0].resolve();
  assert.equal(await settled(wait), true, "settles once it is sent");

  const stuck = link([]); // its setLocalDescription never finishes
  client.links.set("stuck", stuck);
  const started = Date.now();
  await client.descriptionsSent(30);
  assert.ok(Date.now() - started >= 25, "the bound, not sooner");
  for (const l of client.links.values()) l.close?.();
});

const TURN = [{ urls: "turn:turn.example:3478?transport=udp", username: "u", credential: "c" }];

test("a newcomer's link offers on the spare connection, with the join's ICE servers and tracks", async () => {
  pending.length = 0;
  const spare = new SpareConnection();
  assert.equal(spare.pc.transceivers.length, 3, "microphone, camera and screen slots, made ahead");
  assert.deepEqual(spare.pc.transceivers.map((t) => t.sender.track), [null, null, null]);
  const mic = { kind: "audio" };
  const camera = { kind: "video" };
  const sent = [];
  const l = link(sent, true, {
    spare, iceServers: TURN, iceTransportPolicy: "relay",
    tracks: { audio: mic, video: camera, screen: null },
  });
  assert.equal(l.pc, spare.pc);
  assert.equal(l.channel, spare.channel);
  assert.deepEqual(l.pc.getConfiguration(), { bundlePolicy: "max-bundle", iceServers: TURN, iceTransportPolicy: "relay" });
  assert.equal(l.pc.transceivers.length, 3, "no second set of transceivers");
  assert.deepEqual([l.slots.audio, l.slots.video, l.slots.screen], spare.pc.transceivers);
  assert.deepEqual(l.pc.transceivers.map((t) => t.direction), ["sendrecv", "sendrecv", "sendrecv"]);
  await Promise.resolve();
  assert.deepEqual(l.pc.transceivers.map((t) => t.sender.track), [mic, camera, null]);
  assert.ok(l.outgoing instanceof Promise, "the first offer is on its way");
  pending[0].resolve();
  await l.outgoing;
  assert.deepEqual(sent, [{ description: { type: "offer", sdp: "v=0 fake" } }]);
  assert.equal(spare.pc.closed, false);
  l.close();
  assert.equal(spare.pc.closed, true);
});

test("a viewer's link takes the spare connection receive-only, sending nothing", () => {
  pending.length = 0;
  const spare = new SpareConnection();
  const l = link([], true, { spare, publish: false, tracks: { audio: { kind: "audio" }, video: null, screen: null } });
  assert.equal(l.pc, spare.pc);
  assert.deepEqual(l.pc.transceivers.map((t) => t.direction), ["recvonly", "recvonly", "recvonly"]);
  assert.deepEqual(l.pc.transceivers.map((t) => t.sender.track), [null, null, null]);
  l.close();
});

test("a link with no use for the spare connection closes it and makes its own", () => {
  pending.length = 0;
  const cases = {
    "answering the other's offer": { initiator: false },
    "between two viewers": { initiator: true, publish: false, remotePublishes: false },
  };
  for (const [what, { initiator, ...options }] of Object.entries(cases)) {
    const spare = new SpareConnection();
    const l = link([], initiator, { spare, ...options });
    assert.equal(spare.pc.closed, true, what);
    assert.notEqual(l.pc, spare.pc, what);
    assert.equal(l.pc.transceivers.length, 0, what);
    l.close();
  }
});

test("a spare connection that refuses the join's ICE servers is closed; a new one is made", () => {
  pending.length = 0;
  const spare = new SpareConnection();
  spare.pc.refuse = new Error("bad ICE server");
  const l = link([], true, { spare, iceServers: TURN });
  assert.equal(spare.pc.closed, true);
  assert.notEqual(l.pc, spare.pc);
  assert.deepEqual(l.pc.getConfiguration().iceServers, TURN);
  assert.equal(l.pc.transceivers.length, 3);
  l.close();
});

test("preconnect makes one spare connection once the page is idle, unless joined or done", async () => {
  const idle = () => new Promise((r) => setTimeout(r, 80)); // no requestIdleCallback in Node
  const connection = () => {
    const client = createRoomConnection("https://salon.example/abc", { leaveOnPageHide: false }).client;
    client.socket = { connected: true }; // connected already: preconnect opens nothing
    return client;
  };
  const client = connection();
  client.preconnect();
  assert.equal(client.spare, null, "not at once: when the page is idle");
  await idle();
  const spare = client.spare;
  assert.ok(spare instanceof SpareConnection);
  client.preconnect();
  await idle();
  assert.equal(client.spare, spare, "one only");
  spare.close();

  for (const status of ["connected", "left", "error"]) {
    const done = connection();
    done.preconnect();
    done.status = status;
    await idle();
    assert.equal(done.spare, null, status);
  }
});
