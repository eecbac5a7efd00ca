// The camera and microphone a room page's inline script began opening (templates/room-boot.js):
// the client takes that request instead of making its own, or closes it when a device was
// chosen since. Against stand-in devices, no browser.
import assert from "node:assert/strict";
import { test } from "node:test";

class FakeTrack {
  constructor(kind, label) {
    this.kind = kind;
    this.label = label;
    this.enabled = true;
    this.stopped = false;
  }
  stop() { this.stopped = true; }
}

globalThis.MediaStream = class MediaStream {
  constructor(tracks = []) { this.tracks = [...tracks]; }
  getTracks() { return [...this.tracks]; }
  getAudioTracks() { return this.tracks.filter((t) => t.kind === "audio"); }
  getVideoTracks() { return this.tracks.filter((t) => t.kind === "video"); }
  addTrack(t) { this.tracks.push(t); }
  removeTrack(t) { this.tracks = this.tracks.filter((x) => x !== t); }
};

/** What getUserMedia was asked for. */
const asked = [];
Object.defineProperty(globalThis, "navigator", {
  value: {
    mediaDevices: {
      getUserMedia: async (constraints) => {
        asked.push(constraints);
        return new MediaStream(["audio", "video"].filter((k) => constraints[k])
          .map((k) => new FakeTrack(k, "asked")));
      },
    },
  },
  configurable: true,
});

const { createRoomConnection } = await import("../../../src/salon/web/static/sdk.js");

const client = () => createRoomConnection("https://salon.example/abc", { leaveOnPageHide: false }).client;
const earlyStream = () => new MediaStream([new FakeTrack("audio", "early"), new FakeTrack("video", "early")]);

test("the client takes the devices the page's inline script began opening", async () => {
  asked.length = 0;
  const early = earlyStream();
  globalThis.__salonEarlyMedia = Promise.resolve(early);
  const c = client();
  await c.startLocalMedia({ audio: true, video: true });
  assert.deepEqual(asked, [], "no second request");
  assert.deepEqual(c.localStream.getTracks().map((t) => t.label), ["early", "early"]);
  assert.equal(c.audio && c.video, true);
  assert.equal("__salonEarlyMedia" in globalThis, false, "taken once");
});

test("with a device chosen since, the early request closes and the chosen one opens", async () => {
  asked.length = 0;
  const early = earlyStream();
  globalThis.__salonEarlyMedia = Promise.resolve(early);
  const c = client();
  c.devices.videoDeviceId = "camera-2";
  await c.startLocalMedia({ audio: true, video: true });
  assert.equal(asked.length, 1);
  assert.deepEqual(asked[0].video.deviceId, { exact: "camera-2" });
  assert.deepEqual(c.localStream.getTracks().map((t) => t.label), ["asked", "asked"]);
  assert.equal(early.getTracks().every((t) => t.stopped), true, "the early devices closed");
  assert.equal("__salonEarlyMedia" in globalThis, false);
});

test("a refused early request leaves each device to be asked for alone", async () => {
  asked.length = 0;
  const refused = Promise.reject(Object.assign(new Error("denied"), { name: "NotAllowedError" }));
  refused.catch(() => {});
  globalThis.__salonEarlyMedia = refused;
  const c = client();
  await c.startLocalMedia({ audio: true, video: true });
  assert.deepEqual(asked.map((a) => Object.keys(a)), [["audio"], ["video"]]);
  assert.equal(c.audio && c.video, true);
});
