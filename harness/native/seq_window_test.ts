import assert from "node:assert/strict";
import { SeqWindow } from "./seq_window.ts";

Deno.test("SeqWindow tells first arrivals from duplicates, in and out of order", () => {
  const w = new SeqWindow(1024);
  assert.equal(w.mark(0), "new");
  assert.equal(w.mark(2), "new");
  assert.equal(w.mark(1), "new");
  assert.equal(w.mark(2), "duplicate");
  assert.equal(w.mark(0), "duplicate");
  assert.equal(w.high, 2);
});

Deno.test("SeqWindow forgets what slid out of it and says so", () => {
  const w = new SeqWindow(1024);
  w.mark(5);
  w.mark(5 + 1024);
  assert.equal(w.mark(5), "old");
  assert.equal(w.mark(6 + 1024 - 1024 + 1), "new");
});

Deno.test("SeqWindow clears slots it wraps over, so reused slots are not duplicates", () => {
  const w = new SeqWindow(1024);
  for (let s = 0; s < 1024; s++) w.mark(s);
  assert.equal(w.mark(1024 + 500), "new");
  assert.equal(w.mark(1024 + 10), "new");
  assert.equal(w.mark(1024 + 10), "duplicate");
  assert.equal(w.mark(5000), "new");
  assert.equal(w.mark(4000), "new");
});
