// Active speaker: the loudest voice above a threshold, without flickering.
import assert from "node:assert/strict";
import { test } from "node:test";

import { HOLD_MS, NO_SPEAKER, SPEAKING_LEVEL, nextSpeaker } from "../../../src/salon/web/static/speaker.js";

const levels = (entries) => new Map(Object.entries(entries));

test("silence: nobody speaks", () => {
  assert.equal(nextSpeaker(NO_SPEAKER, levels({ a: 0.001, b: 0 }), 0).speaker, null);
});

test("the loudest voice above the threshold speaks", () => {
  const state = nextSpeaker(NO_SPEAKER, levels({ a: 0.2, b: 0.5 }), 0);
  assert.equal(state.speaker, "b");
});

test("the speaker keeps the highlight unless another is clearly louder", () => {
  let state = nextSpeaker(NO_SPEAKER, levels({ a: 0.3 }), 0);
  state = nextSpeaker(state, levels({ a: 0.3, b: 0.35 }), 100);
  assert.equal(state.speaker, "a");
  state = nextSpeaker(state, levels({ a: 0.3, b: 0.6 }), 200);
  assert.equal(state.speaker, "b");
});

test("a short pause keeps the highlight; a long one drops it", () => {
  let state = nextSpeaker(NO_SPEAKER, levels({ a: 0.3 }), 0);
  state = nextSpeaker(state, levels({ a: 0 }), HOLD_MS - 1);
  assert.equal(state.speaker, "a");
  state = nextSpeaker(state, levels({ a: 0 }), HOLD_MS + 1);
  assert.equal(state.speaker, null);
});

test("someone who muted or left loses the highlight at once", () => {
  const state = nextSpeaker(NO_SPEAKER, levels({ a: 0.3 }), 0);
  assert.equal(nextSpeaker(state, levels({}), 10).speaker, null);
});

test("the threshold is a level, not a count", () => {
  assert.equal(nextSpeaker(NO_SPEAKER, levels({ a: SPEAKING_LEVEL }), 0).speaker, "a");
  assert.equal(nextSpeaker(NO_SPEAKER, levels({ a: SPEAKING_LEVEL / 2 }), 0).speaker, null);
});
