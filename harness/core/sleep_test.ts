import assert from "node:assert/strict";
import { MAX_TIMER_MS, setLongTimeout, sleep, Sleeper } from "./sleep.ts";

// Deno's test sanitizer fails a test that leaves a timer pending: every test here that
// cancels a sleep also proves its timer is gone.

Deno.test("sleep() waits about as long as asked", async () => {
  const started = performance.now();
  await sleep(50);
  const took = performance.now() - started;
  assert.ok(took >= 49 && took < 1000, `took ${took} ms`);
});

Deno.test("sleep() rejects with the signal's reason when it aborts, and at once if it has", async () => {
  const stop = new AbortController();
  const started = performance.now();
  setTimeout(() => stop.abort(new Error("stopped")), 20);
  await assert.rejects(sleep(10_000, stop.signal), /^Error: stopped$/);
  assert.ok(performance.now() - started < 1000);
  await assert.rejects(sleep(10_000, stop.signal), /^Error: stopped$/);
});

Deno.test("sleep() past 2^31-1 ms does not fire at once, and its abort clears the timer", async () => {
  const stop = new AbortController();
  let settled = false;
  const waiting = sleep(MAX_TIMER_MS * 2, stop.signal).then(
    () => settled = true,
    () => "aborted",
  );
  // setTimeout alone would fire a delay this long at once.
  await sleep(30);
  assert.equal(settled, false);
  stop.abort(new Error("stopped"));
  assert.equal(await waiting, "aborted");
});

Deno.test("setLongTimeout() past 2^31-1 ms chains timers and is cancelled", async () => {
  let fired = false;
  const cancel = setLongTimeout(() => fired = true, MAX_TIMER_MS + 1000);
  await sleep(30);
  cancel();
  assert.equal(fired, false);
});

Deno.test("Sleeper.sleep() waits its time when nothing wakes it", async () => {
  const sleeper = new Sleeper();
  const started = performance.now();
  await sleeper.sleep(50);
  const took = performance.now() - started;
  assert.ok(took >= 49 && took < 1000, `took ${took} ms`);
});

Deno.test("Sleeper.wakeAll() ends every sleep at once, the long ones included", async () => {
  const sleeper = new Sleeper();
  const started = performance.now();
  const sleeps = [sleeper.sleep(10_000), sleeper.sleep(MAX_TIMER_MS * 3), sleeper.sleep(60_000)];
  setTimeout(() => sleeper.wakeAll(), 20);
  await Promise.all(sleeps);
  assert.ok(performance.now() - started < 1000);
  // A sleep begun after the wake waits its own time.
  const later = performance.now();
  await sleeper.sleep(30);
  assert.ok(performance.now() - later >= 29);
});

Deno.test("Sleeper.sleepUnlessWoken() wakes one sleep and leaves the others waiting", async () => {
  const sleeper = new Sleeper();
  const one = sleeper.sleepUnlessWoken(10_000);
  let otherDone = false;
  const other = sleeper.sleep(MAX_TIMER_MS + 1).then(() => otherDone = true);
  const started = performance.now();
  one.wake();
  await one.promise;
  assert.ok(performance.now() - started < 1000);
  await sleep(20);
  assert.equal(otherDone, false);
  // Waking a sleep that is over does nothing.
  one.wake();
  sleeper.wakeAll();
  await other;
  assert.equal(otherDone, true);
});

Deno.test("sleep() never ends before its time on the clock, though a timer may fire early", async () => {
  for (let i = 0; i < 40; i++) {
    const ms = 1 + (i % 5) * 0.7;
    const start = performance.now();
    await sleep(ms);
    const slept = performance.now() - start;
    assert.ok(slept >= ms, `slept ${slept.toFixed(3)} ms of ${ms} ms`);
  }
});
