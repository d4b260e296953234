import assert from "node:assert/strict";
import { Droppers, fromWire, toWire } from "./droppers.ts";
import { SQ_TIME_FOREVER } from "../kernel/xdp_layout.ts";
import { BLACKHOLE_EVERYTHING } from "../../tests/fixtures/rules.ts";

const RULE = BLACKHOLE_EVERYTHING;

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
