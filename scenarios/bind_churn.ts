/**
 * Bind churn: squall's own workload closes and rebinds a UDP port over and over. With a
 * receive() pending at close, every rebind in Deno 2.9 fails once with "address already
 * in use" (the port is freed only when the pending receive's rejection is delivered);
 * awaiting the pending receive first fixes it. Each failure is reported with the socket
 * that held the port at that moment, from `ss` in the host's namespace.
 *
 * Run: `deno task squall run scenarios/bind_churn.ts` (as root).
 */

import { bindChurn, scenario } from "../mod.ts";

export default scenario("UDP bind churn with a receive pending", {
  hosts: ["server"],
  workloads: {
    pending: { on: "server", run: bindChurn({ port: 7600, cycles: 50, pendingReceive: true }) },
    awaited: {
      on: "server",
      run: bindChurn({ port: 7601, cycles: 50, pendingReceive: true, awaitPending: true }),
    },
  },
  thresholds: {
    "pending.failures.addressInUse": "== 50",
    "awaited.failures": "== 0",
  },
});
