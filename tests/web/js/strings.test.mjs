// The string tables: one place for every visible string, English as the fallback.
import assert from "node:assert/strict";
import { test } from "node:test";

import { KEYS, LANGUAGES, format, pickLanguage, table, translator } from "../../../src/salon/web/static/strings.js";

test("every language table has exactly the English keys", () => {
  for (const code of Object.keys(LANGUAGES)) {
    const strings = table(code);
    assert.ok(strings, code);
    assert.deepEqual(Object.keys(strings).sort(), [...KEYS].sort(), code);
    for (const [key, value] of Object.entries(strings)) {
      assert.equal(typeof value, "string", `${code} ${key}`);
      assert.notEqual(value.trim(), "", `${code} ${key}`);
    }
  }
});

test("placeholders are the same in every table", () => {
  const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  const english = table("en");
  for (const code of Object.keys(LANGUAGES)) {
    for (const key of KEYS) {
      assert.deepEqual(placeholders(table(code)[key]), placeholders(english[key]), `${code} ${key}`);
    }
  }
});

test("lang picks a table; unknown languages fall back to English", () => {
  assert.equal(pickLanguage("en"), "en");
  assert.equal(pickLanguage("EN-gb"), "en");
  assert.equal(pickLanguage("xx"), "en");
  assert.equal(pickLanguage(null), "en");
  assert.equal(pickLanguage(""), "en");
});

test("translate fills placeholders and falls back to the key", () => {
  const t = translator("xx");
  assert.equal(t("precall.join"), "Join");
  assert.equal(t("room.youSuffix", { name: "Ann" }), "Ann (you)");
  assert.equal(t("no.such.key"), "no.such.key");
});

test("format leaves unknown placeholders and never evaluates values", () => {
  assert.equal(format("{a} and {b}", { a: "$1 {b}" }), "$1 {b} and {b}");
  assert.equal(format("{n} people", { n: 3 }), "3 people");
  assert.equal(format("{constructor}", {}), "{constructor}");
});

test("the connection status words are the ones tests read", () => {
  const t = translator("en");
  assert.equal(t("room.connection.stable"), "stable");
  assert.equal(t("room.connection.unstable"), "unstable");
  assert.equal(t("room.connection.reconnecting"), "reconnecting");
});

test("every key the room app asks for exists", async () => {
  const { readFile } = await import("node:fs/promises");
  const source = await readFile(new URL("../../../src/salon/web/static/room.js", import.meta.url), "utf8");
  const used = [...source.matchAll(/\bt\("([\w.]+)"/g)].map((m) => m[1]);
  assert.ok(used.length > 50, `only ${used.length} keys found`);
  const missing = used.filter((key) => !KEYS.includes(key));
  assert.deepEqual(missing, []);
});
