// The agent's own guards, on the real machine: it refuses to send from the host's
// network namespace to anything but loopback, and it exits when its stdin closes.

import assert from "node:assert/strict";
import { encodeLine, readLines } from "../harness/agent/protocol.ts";
import { AGENT_PATH } from "../harness/runner/backend.ts";
import { findLibrary, LIBC_CANDIDATES } from "../harness/native/libc.ts";

function spawnAgent(network: string): Deno.ChildProcess {
  // --allow-net holds only the wildcard: even if the guard failed, Deno would refuse
  // the send, so this test can never put a packet on a real network.
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--no-config",
      "--unstable-net",
      "--allow-net=0.0.0.0",
      "--allow-sys=networkInterfaces",
      AGENT_PATH,
      "--host",
      "test",
      "--network",
      network,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
}

const probeTo = (targetAddress: string) => ({
  kind: "udpProbe" as const,
  hostname: "0.0.0.0",
  targetAddress,
  targetPort: 7000,
  count: 1,
  durationMs: null,
  rate: 1,
  size: 64,
  timeoutMs: 100,
  pingPong: false,
});

for (const network of ["namespaces", "loopback"]) {
  Deno.test(`an agent in the host's namespace (--network ${network}) refuses a non-loopback target`, async () => {
    const agent = spawnAgent(network);
    const writer = agent.stdin.getWriter();
    const lines = readLines(agent.stdout);
    const ready = JSON.parse((await lines.next()).value!);
    assert.equal(ready.type, "ready");
    await writer.write(encodeLine({ op: "start", id: 1, workload: probeTo("198.18.0.2") }));
    const reply = JSON.parse((await lines.next()).value!);
    assert.equal(reply.type, "failed");
    assert.match(reply.error.message, /^Refusing to send to "198\.18\.0\.2"/);
    await writer.close();
    for await (const _ of lines) { /* drain */ }
    assert.equal((await agent.status).code, 0);
  });
}

Deno.test("an agent exits when its stdin closes, releasing its workloads", async () => {
  const agent = spawnAgent("loopback");
  const writer = agent.stdin.getWriter();
  const lines = readLines(agent.stdout);
  await lines.next();
  await writer.write(
    encodeLine({ op: "start", id: 1, workload: { kind: "udpEcho", hostname: "0.0.0.0", port: 0 } }),
  );
  const started = JSON.parse((await lines.next()).value!);
  assert.equal(started.type, "started");
  const start = performance.now();
  await writer.close();
  for await (const _ of lines) { /* drain */ }
  const status = await agent.status;
  assert.equal(status.code, 0);
  assert.ok(performance.now() - start < 2000, "exits promptly");
});

Deno.test("an agent allowed libc echoes natively: it answers, counts, refuses a taken port and frees it", async () => {
  const libc = findLibrary(LIBC_CANDIDATES)!;
  const harness = new URL("../harness/native", import.meta.url).pathname;
  const agent = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--no-config",
      "--unstable-net",
      "--allow-net=127.0.0.1",
      `--allow-ffi=${libc}`,
      `--allow-read=${harness}`,
      AGENT_PATH,
      "--host",
      "test",
      "--network",
      "loopback",
      "--libc",
      libc,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = agent.stdin.getWriter();
  const lines = readLines(agent.stdout);
  const next = async () => JSON.parse((await lines.next()).value!);
  assert.equal((await next()).type, "ready");
  await writer.write(
    encodeLine({
      op: "start",
      id: 1,
      workload: { kind: "udpEcho", hostname: "127.0.0.1", port: 0 },
    }),
  );
  const started = await next();
  assert.equal(started.type, "started");
  const port = Number(started.address.split(":")[1]);
  assert.ok(port > 0);

  // A probe datagram (magic, flow 7, seq 0) comes back unchanged and is counted.
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const datagram = new Uint8Array(64);
  const view = new DataView(datagram.buffer);
  view.setUint32(0, 0x53515031);
  view.setUint32(4, 7);
  await socket.send(datagram, { transport: "udp", hostname: "127.0.0.1", port });
  const [reply] = await socket.receive();
  assert.deepEqual(reply, datagram);
  socket.close();

  // Two snapshots asked at once (two probes ending together) both get an answer.
  await writer.write(encodeLine({ op: "snapshot", id: 1 }));
  await writer.write(encodeLine({ op: "snapshot", id: 1 }));
  for (const _ of [1, 2]) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const snapshot = await Promise.race([
      next(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("no answer to a snapshot in 3 s")), 3000);
      }),
    ]).finally(() => clearTimeout(timer)) as { type: string; result: { received: number } };
    assert.equal(snapshot.type, "snapshot");
    assert.equal(snapshot.result.received, 1);
  }

  await writer.write(
    encodeLine({ op: "start", id: 2, workload: { kind: "udpEcho", hostname: "127.0.0.1", port } }),
  );
  const refused = await next();
  assert.equal(refused.type, "failed");
  assert.equal(refused.error.name, "AddrInUse", refused.error.message);

  await writer.write(encodeLine({ op: "stop", id: 1 }));
  const result = await next();
  assert.equal(result.type, "result");
  assert.equal(result.result.received, 1);
  assert.equal(result.result.replied, 1);
  assert.deepEqual(result.result.flows.map((f: { flowId: number }) => f.flowId), [7]);
  // Stopped means released: the port binds again at once.
  Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();

  await writer.close();
  for await (const _ of lines) { /* drain */ }
  assert.equal((await agent.status).code, 0);
});
