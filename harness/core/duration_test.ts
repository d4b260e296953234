import assert from "node:assert/strict";
import {
  type Duration,
  formatDuration,
  MAX_DURATION_MS,
  parseDuration,
  tryParseDuration,
} from "./duration.ts";

Deno.test("tryParseDuration() reads every unit into milliseconds", () => {
  assert.equal(tryParseDuration("250ms"), 250);
  assert.equal(tryParseDuration("2s"), 2000);
  assert.equal(tryParseDuration("1.5m"), 90_000);
  assert.equal(tryParseDuration("500us"), 0.5);
  assert.equal(tryParseDuration("1h"), 3_600_000);
  assert.equal(tryParseDuration(".5s"), 500);
});

Deno.test("tryParseDuration() allows spaces around the number and the unit", () => {
  assert.equal(tryParseDuration(" 2 s "), 2000);
});

Deno.test("tryParseDuration() takes a number as milliseconds, zero included", () => {
  assert.equal(tryParseDuration(1500), 1500);
  assert.equal(tryParseDuration(0.25), 0.25);
  assert.equal(tryParseDuration(0), 0);
});

Deno.test("tryParseDuration() rejects a word and quotes it in the error", () => {
  assert.deepEqual(tryParseDuration("soon"), {
    error: 'expected a duration such as "250ms" or "2s", got "soon"',
  });
});

Deno.test("tryParseDuration() rejects a string without a unit, a negative or an unknown unit", () => {
  for (const value of ["5", "-5ms", "5d", "ms", "", "1e3ms"]) {
    assert.equal(typeof tryParseDuration(value), "object", JSON.stringify(value));
  }
});

Deno.test("tryParseDuration() rejects negative numbers, NaN and infinity", () => {
  assert.deepEqual(tryParseDuration(-1), {
    error: "expected a duration of 0 or more milliseconds, got -1",
  });
  assert.deepEqual(tryParseDuration(NaN), {
    error: "expected a duration of 0 or more milliseconds, got NaN",
  });
  assert.deepEqual(tryParseDuration(Infinity), {
    error: "expected a duration of 0 or more milliseconds, got Infinity",
  });
});

Deno.test("tryParseDuration() rejects values that are neither numbers nor strings, by type", () => {
  const expected = (what: string) => ({
    error: `expected a duration such as "250ms" or "2s", got ${what}`,
  });
  assert.deepEqual(tryParseDuration({ ms: 5 }), expected("an object"));
  assert.deepEqual(tryParseDuration([5]), expected("an array"));
  assert.deepEqual(tryParseDuration(null), expected("null"));
  assert.deepEqual(tryParseDuration(undefined), expected("undefined"));
  assert.deepEqual(tryParseDuration(true), expected("true"));
});

Deno.test("parseDuration() returns milliseconds for a valid duration", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration(1500), 1500);
});

Deno.test("parseDuration() throws a TypeError that names what was being parsed", () => {
  assert.throws(() => parseDuration("soon" as Duration, "timeout"), {
    name: "TypeError",
    message: 'Invalid timeout: expected a duration such as "250ms" or "2s", got "soon"',
  });
  assert.throws(() => parseDuration(-5), {
    name: "TypeError",
    message: "Invalid duration: expected a duration of 0 or more milliseconds, got -5",
  });
});

Deno.test("formatDuration() uses microseconds below a millisecond", () => {
  assert.equal(formatDuration(0.048), "48us");
  assert.equal(formatDuration(0.5), "500us");
  assert.equal(formatDuration(0), "0us");
});

Deno.test("formatDuration() uses milliseconds below a second, with up to two decimals", () => {
  assert.equal(formatDuration(1.234), "1.23ms");
  assert.equal(formatDuration(12.5), "12.5ms");
  assert.equal(formatDuration(850), "850ms");
});

Deno.test("formatDuration() uses seconds below a minute", () => {
  assert.equal(formatDuration(2100), "2.1s");
  assert.equal(formatDuration(2500), "2.5s");
  assert.equal(formatDuration(1000), "1s");
});

Deno.test("formatDuration() uses minutes and two-digit seconds from a minute on", () => {
  assert.equal(formatDuration(60_000), "1m00s");
  assert.equal(formatDuration(185_000), "3m05s");
});

Deno.test("formatDuration() prints non-finite values as they are", () => {
  assert.equal(formatDuration(Infinity), "Infinity");
  assert.equal(formatDuration(NaN), "NaN");
});

Deno.test({
  name: "formatDuration() carries seconds that round up to 60 into the minutes",
  fn() {
    assert.equal(formatDuration(119_600), "2m00s");
  },
});

Deno.test({
  name: "formatDuration() switches to the next unit when rounding reaches it",
  fn() {
    assert.equal(formatDuration(0.99996), "1ms");
    assert.equal(formatDuration(999.96), "1s");
    assert.equal(formatDuration(59_999), "1m00s");
  },
});

Deno.test("tryParseDuration() rejects durations longer than a timer can hold, as given", () => {
  assert.deepEqual(tryParseDuration("1000h"), {
    error: 'expected a duration of at most 24 days (576h), got "1000h"',
  });
  assert.deepEqual(tryParseDuration(3e9), {
    error: "expected a duration of at most 24 days (576h), got 3000000000",
  });
  assert.equal(tryParseDuration("576h"), MAX_DURATION_MS);
  assert.ok(MAX_DURATION_MS < 2 ** 31 - 1);
});
