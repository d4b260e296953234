/**
 * A Deno UDP server that rebinds its port while a receive() is pending, and the fixed
 * version that awaits the pending receive first (see scenarios/_programs/). The buggy one
 * swallows its "address already in use" errors and retries, so its own output shows
 * nothing wrong; squall's bind watch (bpf/bind_watch.c) sees every failed bind, and
 * `ss` shows who held the port: the server itself, through the socket it had just
 * closed.
 *
 * Run: `deno task squall run scenarios/udp_rebind.ts --allow-run=deno` (as root: the server
 * is a program under test, which squall starts only when allowed).
 */

import { exec, scenario } from "../mod.ts";

const server = new URL("./_programs/udp_rebind_server.ts", import.meta.url).pathname;
const deno = (port: number, ...flags: string[]) =>
  exec(
    [
      Deno.execPath(),
      "run",
      "--no-config",
      "--no-lock",
      "--unstable-net",
      "--allow-net=0.0.0.0",
      server,
      String(port),
      ...flags,
    ],
    { ready: { udp: port }, waitForExit: true, env: { NO_COLOR: "1" } },
  );

export default scenario("a Deno UDP server rebinding with a receive pending", {
  hosts: ["server"],
  workloads: {
    buggy: { on: "server", run: deno(7300, "--reloads", "20") },
    fixed: { on: "server", run: deno(7301, "--fixed", "--reloads", "20") },
  },
  thresholds: {
    "buggy.bindFailures.addressInUse": ">= 19",
    "fixed.bindFailures.addressInUse": "== 0",
  },
});
