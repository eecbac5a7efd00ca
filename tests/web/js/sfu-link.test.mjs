// A group room's SfuLink given fresh ICE servers (renewIce): both connections restart ICE and
// stay the same connections. The browser's RTCPeerConnection is a stand-in that keeps the
// descriptions it is given; tests/e2e/test_ice_renewal.py does the same with real Chromium,
// Janus and coturn.
import assert from "node:assert/strict";
import { test } from "node:test";

class FakePeerConnection {
  /** @type {FakePeerConnection[]} */
  static made = [];

  constructor(config) {
    this.config = config;
    this.signalingState = "stable";
    this.iceConnectionState = "new";
    this.connectionState = "new";
    this.localDescription = null;
    this.remoteDescription = null;
    this.transceivers = [];
    /** @type {RTCOfferOptions[]} */
    this.offers = [];
    FakePeerConnection.made.push(this);
  }

  getConfiguration() { return this.config; }
  setConfiguration(config) { this.config = config; }
  getTransceivers() { return this.transceivers; }
  async getStats() { return new Map(); }
  close() { this.signalingState = "closed"; }

  addTransceiver() {
    const transceiver = { mid: String(this.transceivers.length), currentDirection: "sendonly",
      sender: { replaceTrack: async () => {} }, receiver: { track: null } };
    this.transceivers.push(transceiver);
    return transceiver;
  }

  async createOffer(options = {}) {
    this.offers.push(options);
    return { type: "offer", sdp: `v=0\r\na=ice-ufrag:browser${this.offers.length}\r\n` };
  }

  async setLocalDescription(description) {
    this.localDescription = description ?? { type: "answer", sdp: "v=0\r\na=ice-ufrag:browser\r\n" };
    this.signalingState = this.localDescription.type === "offer" ? "have-local-offer" : "stable";
  }

  async setRemoteDescription(description) {
    this.remoteDescription = description;
    this.signalingState = description.type === "offer" ? "have-remote-offer" : "stable";
  }
}

globalThis.RTCPeerConnection = FakePeerConnection;
globalThis.MediaStream ??= class MediaStream {
  getTracks() { return []; }
};

const { SfuLink } = await import("../../../src/salon/web/static/sfu-link.js");

const OLD = [{ urls: ["turn:127.0.0.1:3478?transport=udp"], username: "1:old", credential: "a" }];
const NEW = [{ urls: ["turn:127.0.0.1:3478?transport=udp"], username: "2:new", credential: "b" }];
const sfuOffer = (ufrag) => ({
  description: { type: "offer", sdp: `v=0\r\na=ice-ufrag:${ufrag}\r\n` },
  streams: [{ mid: "0", participantId: "ann", kind: "audio" }],
});

/** A link in a group room whose server answers `answers[event]` (ok when absent). */
function groupLink(answers = {}) {
  FakePeerConnection.made = [];
  /** @type {string[]} */
  const asked = [];
  const defaults = {
    sfu_publish: () => ({ ok: true, description: { type: "answer", sdp: "v=0\r\na=ice-ufrag:sfu\r\n" } }),
    sfu_subscribe: () => ({ ok: true, ...sfuOffer("sfu1") }),
  };
  const link = new SfuLink({
    iceServers: OLD,
    iceTransportPolicy: "relay",
    publish: true,
    tracks: { audio: null, video: null, screen: null },
    request: async (event) => {
      asked.push(event);
      const answer = answers[event] ?? defaults[event];
      return answer ? answer() : { ok: true };
    },
    onChange: () => {},
  });
  return { link, asked };
}

/** Lets every step queued on either connection run. */
async function settle(link) {
  for (let i = 0; i < 5; i++) {
    await link.publisherQueue;
    await link.subscriberQueue;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

test("fresh ICE servers restart ICE on both connections, which stay", async () => {
  const { link, asked } = groupLink();
  link.start();
  await settle(link);
  const { publisher, subscriber } = link.peerConnections();
  asked.length = 0;

  link.renewIce(NEW);
  await settle(link);
  for (const pc of [publisher, subscriber]) assert.deepEqual(pc.getConfiguration().iceServers, NEW);
  // The publisher offers again with iceRestart; the subscriber asks the SFU for an offer.
  assert.deepEqual(publisher.offers.map((o) => Boolean(o.iceRestart)), [false, true]);
  assert.deepEqual(asked.toSorted(), ["sfu_publish", "sfu_restart_ice"]);
  assert.deepEqual(link.renewals, { publisher: 1, subscriber: 0 });

  // The SFU's offer with new ICE credentials is answered on the same connection.
  link.handleOffer(sfuOffer("sfu2"));
  await settle(link);
  assert.deepEqual(asked.slice(2), ["sfu_answer"]);
  assert.deepEqual(link.renewals, { publisher: 1, subscriber: 1 });
  // A renegotiation that keeps the credentials is no restart.
  link.handleOffer(sfuOffer("sfu2"));
  await settle(link);
  assert.equal(link.renewals.subscriber, 1);

  assert.equal(FakePeerConnection.made.length, 2, "no connection was made anew");
  assert.deepEqual(link.peerConnections(), { publisher, subscriber });
  assert.deepEqual(link.restarts, { publisher: 0, subscriber: 0 });
  link.close();
});

test("a subscriber with nothing to receive yet only takes the new servers", async () => {
  const { link, asked } = groupLink({
    sfu_subscribe: () => ({ ok: true, description: null, streams: [] }),
  });
  link.publish = false; // a viewer: no publisher either
  link.start();
  await settle(link);
  asked.length = 0;
  link.renewIce(NEW);
  await settle(link);
  assert.deepEqual(asked, []);
  assert.deepEqual(link.peerConnections().subscriber.getConfiguration().iceServers, NEW);
  link.close();
});

test("a restart lost with the signaling is asked for again at the resume", async () => {
  let lost = true;
  const { link, asked } = groupLink({
    sfu_restart_ice: () => (lost
      ? { ok: false, error: { code: "not_connected", message: "not connected" } }
      : { ok: true }),
  });
  link.publish = false;
  link.start();
  await settle(link);
  link.renewIce(NEW);
  await settle(link);
  assert.equal(asked.filter((e) => e === "sfu_restart_ice").length, 1);
  lost = false;
  link.resumed();
  await settle(link);
  assert.equal(asked.filter((e) => e === "sfu_restart_ice").length, 2);
  // The connection stayed: no second subscription.
  assert.equal(asked.filter((e) => e === "sfu_subscribe").length, 1);
  link.close();
});
