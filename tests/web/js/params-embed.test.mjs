// The room's URL parameters as <salon-embed> passes them: every attribute the element turns
// into a parameter is one the room knows (no warning), and embedOrigin is checked.
import assert from "node:assert/strict";
import { test } from "node:test";

import { parseRoomParams } from "../../../src/salon/web/static/params.js";
import { ATTRIBUTES, roomSource } from "../../../src/salon/web/static/salon-embed.js";

function parse(search) {
  const warnings = [];
  return { params: parseRoomParams(search, (m) => warnings.push(m)), warnings };
}

test("every parameter the element passes is known to the room", () => {
  const values = { displayname: "Ann", externalid: "u1", metadata: "m", lang: "fr", roomintegrations: "on" };
  const attributes = [...ATTRIBUTES.keys()].map((name) => [name, values[name] ?? ""]);
  const { url } = roomSource("https://salon.example/abc", attributes, "https://app.example.com");
  const { params, warnings } = parse(url.search);
  assert.deepEqual(warnings, []);
  assert.equal(params.embedOrigin, "https://app.example.com");
  assert.equal(params.displayName, "Ann");
  assert.equal(params.minimal, true);
});

test("embedOrigin must be an origin", () => {
  assert.equal(parse("?embedOrigin=http%3A%2F%2Flocalhost%3A3000").params.embedOrigin, "http://localhost:3000");
  assert.equal(parse("?embedOrigin=https%3A%2F%2F%5B%3A%3A1%5D%3A8443").params.embedOrigin, "https://[::1]:8443");
  for (const bad of ["javascript:alert(1)", "https://a.example/path", "null", "", "https://a b"]) {
    const { params, warnings } = parse(`?embedOrigin=${encodeURIComponent(bad)}`);
    assert.equal(params.embedOrigin, null, bad);
    assert.equal(warnings.length, 1, bad);
  }
});
