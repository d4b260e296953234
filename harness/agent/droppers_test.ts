import assert from "node:assert/strict";
import { Droppers, fromWire, toWire } from "./droppers.ts";
import { SQ_MODE_BLACKHOLE, SQ_TIME_FOREVER } from "../kernel/xdp_layout.ts";

const RULE = {
  mode: SQ_MODE_BLACKHOLE,
  protocol: 0,
  srcAddr: "0.0.0.0",
  srcMask: "0.0.0.0",
  dportMin: 0,
  dportMax: 65535,
  lossGood: 0,
  lossBad: 0,
  pEnterBad: 0,
  pLeaveBad: 0,
};

Deno.test("a rule's window goes over JSON as decimal strings and comes back exact", () => {
  const rule = { ...RULE, activeFromNs: 2n ** 63n + 7n, activeUntilNs: SQ_TIME_FOREVER };
  const wire = JSON.parse(JSON.stringify(toWire(rule)));
  assert.equal(wire.activeFromNs, "9223372036854775815");
  assert.deepEqual(fromWire(wire), rule);
  assert.deepEqual(fromWire(toWire(RULE)), RULE, "no window: none added");
  assert.throws(() => fromWire({ ...RULE, activeFromNs: "-1" }), TypeError);
  assert.throws(() => fromWire({ ...RULE, activeUntilNs: 5 as unknown as string }), TypeError);
});

Deno.test("Droppers refuse interfaces that are not squall's, and agents without --allow-ffi", async () => {
  using droppers = new Droppers(undefined);
  await assert.rejects(
    droppers.call("dropper.attach", { ifname: "eth0" }),
    Deno.errors.PermissionDenied,
  );
  await assert.rejects(
    droppers.call("dropper.attach", { ifname: "sq-1a2b3c-0a" }),
    Deno.errors.NotCapable,
  );
  await assert.rejects(droppers.call("dropper.nope", { ifname: "sq-1a2b3c-0a" }), TypeError);
});
