/**
 * A Python TCP server restarted while clients are connecting to it, 50 times a second.
 * It answers one message per connection and closes it first, so its connections wait in
 * TIME_WAIT on its port for 60 s. The one without SO_REUSEADDR cannot bind its port
 * again after the restart: those connections still hold it. It retries quietly and gives
 * up after 3 s. The bind watch reports each failed bind with who held the port; the
 * server with SO_REUSEADDR comes back at once and its clients are served again.
 *
 * Run: `deno task squall run scenarios/tcp_restart.ts --allow-run=python3` (as root: the
 * server is a program under test, which squall starts only when allowed).
 */

import { exec, scenario, tcpProbe } from "../mod.ts";

const server = new URL("./_programs/tcp_server.py", import.meta.url).pathname;
const python = (port: number, ...flags: string[]) =>
  exec(["python3", "-u", server, String(port), ...flags], { ready: { tcp: port } });

export default scenario("restarting a TCP server with clients connected", {
  hosts: ["client", "server"],
  links: [["client", "server"]],
  workloads: {
    plain: { on: "server", run: python(7400) },
    reusing: { on: "server", run: python(7401, "--reuse") },
    plainClients: {
      on: "client",
      run: tcpProbe({
        target: "server:7400",
        duration: "5s",
        rate: 50,
        timeout: "300ms",
        connection: "per-request",
      }),
    },
    reusingClients: {
      on: "client",
      run: tcpProbe({
        target: "server:7401",
        duration: "5s",
        rate: 50,
        timeout: "300ms",
        connection: "per-request",
      }),
    },
  },
  thresholds: {
    "plain.bindFailures.addressInUse": ">= 1",
    "reusing.bindFailures.addressInUse": "== 0",
    "reusingClients.responses": ">= 200",
  },
}, async (t) => {
  await t.sleep("1s");
  const [plainRestart, reusingRestart] = await Promise.allSettled([
    t.program("plain").restart(),
    t.program("reusing").restart(),
  ]);
  t.check(
    "without SO_REUSEADDR the server cannot come back while its old connections linger",
    plainRestart.status === "rejected",
    plainRestart.status === "rejected"
      ? String(plainRestart.reason?.message).split("\n")[0]
      : "it restarted",
  );
  t.check(
    "with SO_REUSEADDR the server comes back at once",
    reusingRestart.status === "fulfilled",
    reusingRestart.status === "rejected" ? String(reusingRestart.reason?.message) : undefined,
  );
});
