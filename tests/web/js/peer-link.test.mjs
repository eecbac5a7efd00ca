// A peer link's offer or answer on its way (`outgoing`) and the client's wait for them
// (`descriptionsSent`), which the room app's renders wait on: against a stand-in
// RTCPeerConnection whose setLocalDescription the test lets finish.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.MediaStream ??= class MediaStream {
  getTracks() { return []; }
};

/** The setLocalDescription calls waiting to finish (resolve: it succeeds, reject: it fails). */
const pending = [];

globalThis.RTCPeerConnection = class {
  constructor() {
    this.signalingState = "stable";
    this.localDescription = null;
    this.remoteDescription = null;
    this.transceivers = [];
  }
  createDataChannel() { return { readyState: "connecting", close() {} }; }
  addTransceiver(trackOrKind, init) {
    const t = { mid: null, direction: init.direction, currentDirection: null, sender: {}, receiver: {} };
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
  close() {}
};

const { PeerLink } = await import("../../../src/salon/web/static/peer-link.js");
const { createRoomConnection } = await import("../../../src/salon/web/static/sdk.js");

/** @param {object[]} sent  where the link's signals go */
function link(sent, initiator = true) {
  return new PeerLink({
    selfId: "a", remoteId: "b", iceServers: [], publish: true, initiator,
    tracks: { audio: null, video: null, screen: null },
    sendSignal: (payload) => sent.push(payload), onChange() {}, onMessage() {},
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
