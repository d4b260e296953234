// Runs one bind churn in its own process, for tests that watch it from outside (strace,
// ss): `deno run -A tests/_churn_child.ts '<ChurnSettings as JSON>'`. Prints one line,
// `{"pid": ..., "result": ...}`, once the churn is done.

import type { ChurnSettings } from "../harness/agent/protocol.ts";
import { startBindChurn } from "../harness/agent/bind_churn.ts";

const settings = JSON.parse(Deno.args[0] ?? "null") as ChurnSettings;
const churn = await startBindChurn(settings);
const result = await churn.done;
console.log(JSON.stringify({ pid: Deno.pid, result }));
