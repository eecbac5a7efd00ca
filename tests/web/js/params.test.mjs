// URL parameters: Whereby's names and values, and bad values ignored with a warning.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  DEFAULTS,
  cleanDisplayName,
  deviceConstraints,
  joinsAtOnce,
  parseFlag,
  parseRoomParams,
  parseSwitch,
} from "../../../src/salon/web/static/params.js";

/** Parses `search`, returning the params and the warnings given. */
function parse(search) {
  const warnings = [];
  const params = parseRoomParams(search, (message) => warnings.push(message));
  return { params, warnings };
}

test("no parameters: the defaults, no warnings", () => {
  const { params, warnings } = parse("");
  assert.deepEqual(params, { ...DEFAULTS });
  assert.deepEqual(warnings, []);
});

test("every Whereby switch turns off with =off", () => {
  const { params, warnings } = parse(
    "?audio=off&video=off&chat=off&screenshare=off&leaveButton=off&people=off&precallReview=off",
  );
  for (const name of ["audio", "video", "chat", "screenshare", "leaveButton", "people", "precallReview"]) {
    assert.equal(params[name], false, name);
  }
  assert.deepEqual(warnings, []);
});

test("switches accept on/off, true/false, yes/no, 1/0 in any case", () => {
  assert.equal(parseSwitch("ON"), true);
  assert.equal(parseSwitch(" off "), false);
  assert.equal(parseSwitch("True"), true);
  assert.equal(parseSwitch("0"), false);
  assert.equal(parseSwitch("maybe"), null);
  assert.equal(parseSwitch(""), null);
});

test("flags are on when present without a value", () => {
  assert.equal(parseFlag(""), true);
  assert.equal(parseFlag("off"), false);
  const { params } = parse("?minimal&skipMediaPermissionPrompt");
  assert.equal(params.minimal, true);
  assert.equal(params.skipMediaPermissionPrompt, true);
  assert.equal(parse("?minimal=off").params.minimal, false);
});

test("an invalid switch value is ignored with a warning that names it", () => {
  const { params, warnings } = parse("?audio=maybe&video=off");
  assert.equal(params.audio, true);
  assert.equal(params.video, false);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /audio="maybe"/);
});

test("displayName: trimmed, up to 100 characters, no control characters", () => {
  assert.equal(parse("?displayName=%20Ann%20Lee%20").params.displayName, "Ann Lee");
  assert.equal(parse(`?displayName=${"é".repeat(100)}`).params.displayName, "é".repeat(100));
  for (const bad of ["a".repeat(101), "%20%20", "Ann%0ALee", "Ann%00"]) {
    const { params, warnings } = parse(`?displayName=${bad}`);
    assert.equal(params.displayName, null, bad);
    assert.equal(warnings.length, 1, bad);
  }
  assert.equal(cleanDisplayName("  Zoë  "), "Zoë");
  assert.equal(cleanDisplayName(""), null);
});

test("emoji count as one character each towards the 100", () => {
  assert.equal(cleanDisplayName("🙂".repeat(100)), "🙂".repeat(100));
  assert.equal(cleanDisplayName("🙂".repeat(101)), null);
});

test("externalId, metadata and roomKey are kept as given, within bounds", () => {
  const { params } = parse("?externalId=user-42&metadata=%7B%22a%22%3A1%7D&roomKey=abc.def.ghi");
  assert.equal(params.externalId, "user-42");
  assert.equal(params.metadata, '{"a":1}');
  assert.equal(params.roomKey, "abc.def.ghi");
  const tooLong = parse(`?externalId=${"x".repeat(256)}`);
  assert.equal(tooLong.params.externalId, null);
  assert.equal(tooLong.warnings.length, 1);
});

test("lang takes a language code; anything else is ignored", () => {
  assert.equal(parse("?lang=en").params.lang, "en");
  assert.equal(parse("?lang=pt-BR").params.lang, "pt-BR");
  const { params, warnings } = parse("?lang=%3Cscript%3E");
  assert.equal(params.lang, null);
  assert.equal(warnings.length, 1);
});

test("unknown parameters are reported; Whereby ones Salon does not act on are not", () => {
  const { warnings } = parse("?bogus=1&background=off&logo=off");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /bogus/);
});

test("a parameter given twice: the first counts", () => {
  const { params, warnings } = parse("?audio=off&audio=on");
  assert.equal(params.audio, false);
  assert.equal(warnings.length, 1);
});

test("joins at once only with a display name and precallReview=off", () => {
  assert.equal(joinsAtOnce(parse("?displayName=Ann&precallReview=off").params), true);
  assert.equal(joinsAtOnce(parse("?displayName=Ann").params), false);
  assert.equal(joinsAtOnce(parse("?precallReview=off").params), false);
  assert.equal(joinsAtOnce(parse(`?displayName=${"a".repeat(101)}&precallReview=off`).params), false);
});

test("accepts URLSearchParams as well as a string", () => {
  const { params } = parse(new URLSearchParams({ video: "off" }));
  assert.equal(params.video, false);
});

test("the default warning goes to console.warn and never throws", () => {
  const original = console.warn;
  const seen = [];
  console.warn = (message) => seen.push(message);
  try {
    parseRoomParams("?audio=%E0%A4%A");
  } finally {
    console.warn = original;
  }
  assert.equal(seen.length, 1);
});

test("devices open with one set of constraints: the camera's size by room mode", () => {
  assert.deepEqual(deviceConstraints("audio", "normal"), { echoCancellation: true, noiseSuppression: true });
  const camera = (mode) => deviceConstraints("video", mode);
  assert.deepEqual(camera("normal"), { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24 } });
  assert.deepEqual(camera(undefined), camera("normal"), "before the join says the mode");
  assert.deepEqual(camera("group"), { width: { ideal: 960 }, height: { ideal: 540 }, frameRate: { ideal: 24 } });
  assert.notEqual(camera("group"), camera("group"), "a fresh object each time (callers add a deviceId)");
});
