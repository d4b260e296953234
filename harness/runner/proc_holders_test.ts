// The /proc reading of who holds a port agrees with `ss` on real sockets of this
// process's namespace: UDP, a TCP listener, the server end of a connection, TIME-WAIT left by
// a close, and IPv6.

import assert from "node:assert/strict";
import { parseProcNet, procHolders } from "./proc_holders.ts";
import { lookupHoldersSync } from "../agent/holders.ts";
import type { PortHolder } from "../measure/bind_results.ts";

const sorted = (holders: PortHolder[]) => holders.map((h) => JSON.stringify(h)).sort();

Deno.test("procHolders() sees what ss sees: UDP, a listener, a connection, TIME-WAIT, IPv6", async () => {
  const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const udpPort = (udp.addr as Deno.NetAddr).port;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tcpPort = listener.addr.port;
  const client = await Deno.connect({ hostname: "127.0.0.1", port: tcpPort });
  const server = await listener.accept();
  // A second connection the server side closes first: TIME-WAIT on the server's port.
  const other = await Deno.connect({ hostname: "127.0.0.1", port: tcpPort });
  const closing = await listener.accept();
  closing.close();
  await other.read(new Uint8Array(1)).catch(() => null);
  other.close();
  const v6 = Deno.listen({ hostname: "::1", port: 0 });
  try {
    for (
      const [protocol, port] of [["udp", udpPort], ["tcp", tcpPort], ["tcp", v6.addr.port]] as const
    ) {
      const fromProc = procHolders(Deno.pid, protocol, port);
      const fromSs = lookupHoldersSync("ss", protocol, port, [], { extended: true });
      assert.ok(fromProc.length > 0, `${protocol} ${port}: sockets found`);
      assert.deepEqual(sorted(fromProc), sorted(fromSs), `${protocol} port ${port}`);
    }
    const states = procHolders(Deno.pid, "tcp", tcpPort).map((h) => h.state).sort();
    // The client end of the connection has its own (ephemeral) local port.
    assert.deepEqual(states, ["ESTAB", "LISTEN", "TIME-WAIT"]);
    const timeWait = procHolders(Deno.pid, "tcp", tcpPort).find((h) => h.state === "TIME-WAIT");
    assert.equal(timeWait?.pid, null, "no process owns a TIME-WAIT socket");
    assert.deepEqual(procHolders(Deno.pid, "udp", tcpPort), [], "nothing on that UDP port");
  } finally {
    v6.close();
    server.close();
    client.close();
    listener.close();
    udp.close();
  }
});

Deno.test("parseProcNet() reads IPv6 addresses in the kernel's word order, and states by name", () => {
  const text =
    "  sl  local_address                         remote_address                        st\n" +
    "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1\n" +
    "   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 78 1\n";
  const [listening, mapped] = parseProcNet(text);
  assert.deepEqual(listening, {
    local: "[::1]:8080",
    port: 8080,
    peer: "*",
    state: "LISTEN",
    inode: 77,
    uid: 0,
  });
  assert.equal(mapped?.local, "[::ffff:127.0.0.1]:8080");
  assert.equal(mapped?.peer, "[::ffff:127.0.0.1]:40000");
  assert.equal(mapped?.state, "ESTAB");
});
