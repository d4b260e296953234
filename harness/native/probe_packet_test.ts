import assert from "node:assert/strict";
import {
  isProbe,
  readStamps,
  requestStamps,
  STAMPED_BYTES,
  wantsStamps,
  writeHeader,
  writeStamps,
} from "./probe_packet.ts";

Deno.test("an echo's stamps are read back as written", () => {
  const view = new DataView(new ArrayBuffer(64));
  writeHeader(view, 7, 3, 1.5);
  requestStamps(view);
  assert.ok(isProbe(view, 64));
  assert.ok(wantsStamps(view, 64));
  assert.equal(readStamps(view, 64), null);
  writeStamps(view, 1_796_000_000, 999_999_999, 1_796_000_001, 5);
  assert.ok(!wantsStamps(view, 64));
  assert.deepEqual(readStamps(view, 64), {
    receivedSec: 1_796_000_000,
    receivedNsec: 999_999_999,
    sentSec: 1_796_000_001,
    sentNsec: 5,
  });
  assert.equal(view.getUint32(8), 3, "the header is left as it was");
});

Deno.test("a reply sent back unchanged has no stamps (one-way delay not measured)", () => {
  const view = new DataView(new ArrayBuffer(64));
  writeHeader(view, 7, 3, 1.5);
  requestStamps(view);
  assert.equal(readStamps(view, 64), null);
});

Deno.test("a datagram too short for stamps neither asks for them nor carries them", () => {
  const view = new DataView(new ArrayBuffer(64));
  writeHeader(view, 7, 3, 1.5);
  requestStamps(view);
  writeStamps(view, 1, 2, 3, 4);
  assert.ok(!wantsStamps(view, STAMPED_BYTES - 1));
  assert.equal(readStamps(view, STAMPED_BYTES - 1), null);
});
