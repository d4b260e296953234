// Runs reconnect storms in a process of their own, so that a test can trace exactly
// their system calls (tests/storm_truth_test.ts runs this under strace).
//
// Usage: deno run --no-prompt --allow-net=127.0.0.1 tests/_storm_child.ts '<StormSettings[]>'
// Runs the storms one after another (so that one does not delay the other's timers)
// and prints their results as one JSON array on stdout.

import type { StormSettings } from "../harness/agent/protocol.ts";
import { startReconnectStorm } from "../harness/agent/reconnect_storm.ts";
import type { ReconnectStormResult } from "../harness/measure/tcp_results.ts";

/**
 * A fresh Deno process does start-up work once its main module first waits (it writes
 * its code cache: 5-30 ms with the event loop blocked). An agent has done it long before
 * it runs a workload; so does this driver, before the storms start.
 */
const SETTLE_MS = 200;

const storms = JSON.parse(Deno.args[0] ?? "[]") as StormSettings[];
await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
const results: ReconnectStormResult[] = [];
for (const settings of storms) results.push(await startReconnectStorm(settings).done);
console.log(JSON.stringify(results));
