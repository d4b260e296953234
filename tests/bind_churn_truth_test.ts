// The bind churn checked from outside: the churn runs in a child process under
// `strace -f -e trace=bind`, which records every bind() the kernel answered, and the
// failures it reports must be exactly the bind() calls that returned EADDRINUSE on its
// port. The ss lookups it makes (run beside it, as its own child processes) show up in
// the same trace as their netlink bind(), between the failed bind and the next one.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { ChurnSettings } from "../harness/agent/protocol.ts";
import type { BindChurnResult } from "../harness/measure/bind_results.ts";

const CHILD = fileURLToPath(new URL("./_churn_child.ts", import.meta.url));

/** One bind() as strace saw it. */
interface TracedBind {
  pid: number;
  /** Wall-clock time of the call, ms since the epoch. */
  atMs: number;
  family: string;
  /** The port bound (AF_INET), or null. */
  port: number | null;
  /** 0, or the errno name it failed with. */
  outcome: string;
}

/** Parses `strace -f -ttt -e trace=bind` output, joining calls split by other threads. */
function parseTrace(text: string): TracedBind[] {
  const binds: TracedBind[] = [];
  const unfinished = new Map<number, { atMs: number; head: string }>();
  const finish = (pid: number, atMs: number, call: string) => {
    const outcome = /\)\s+=\s+(-?\d+)(?:\s+(E[A-Z]+))?/.exec(call);
    if (!outcome) throw new Error(`Cannot read strace line: ${call}`);
    binds.push({
      pid,
      atMs,
      family: /sa_family=(\w+)/.exec(call)?.[1] ?? "?",
      port: call.includes("AF_INET") ? Number(/sin6?_port=htons\((\d+)\)/.exec(call)?.[1]) : null,
      outcome: outcome[1] === "0" ? "0" : outcome[2] ?? outcome[1]!,
    });
  };
  for (const line of text.split("\n")) {
    const m = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    const atMs = Number(m[2]) * 1000;
    const rest = m[3]!;
    if (rest.startsWith("bind(") && rest.endsWith("<unfinished ...>")) {
      unfinished.set(pid, { atMs, head: rest.slice(0, -"<unfinished ...>".length) });
    } else if (rest.startsWith("<... bind resumed>")) {
      const head = unfinished.get(pid);
      if (!head) throw new Error(`strace resumed a bind it never started: ${line}`);
      unfinished.delete(pid);
      finish(pid, head.atMs, head.head + rest.slice("<... bind resumed>".length));
    } else if (rest.startsWith("bind(")) {
      finish(pid, atMs, rest);
    }
  }
  return binds;
}

async function requireStrace(): Promise<void> {
  try {
    const out = await new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" })
      .output();
    if (out.success) return;
  } catch {
    // Not installed.
  }
  throw new Error(
    "strace is missing: this test needs it (apt-get install strace); CI installs it",
  );
}

async function ssPath(): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", "command -v ss"], stdout: "piped" })
    .output();
  const path = new TextDecoder().decode(out.stdout).trim();
  assert.ok(out.success && path.startsWith("/"), "ss (iproute2) is missing");
  return path;
}

function freePort(): number {
  for (let tries = 0; tries < 100; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();
      return port;
    } catch {
      // Taken: try another.
    }
  }
  throw new Error("Cannot find a free UDP port on 127.0.0.1");
}

/** Runs a churn in a child deno under strace; returns its result and the trace. */
async function tracedChurn(
  overrides: Partial<ChurnSettings>,
): Promise<{ pid: number; result: BindChurnResult; binds: TracedBind[]; port: number }> {
  await requireStrace();
  const port = freePort();
  const settings: ChurnSettings = {
    hostname: "127.0.0.1",
    port,
    protocol: "udp",
    cycles: 100,
    pendingReceive: false,
    awaitPending: false,
    liveConnections: 0,
    reuseAddress: false,
    rebindTimeoutMs: 1000,
    maxDurationMs: 30_000,
    ssPath: await ssPath(),
    ...overrides,
  };
  const traceFile = await Deno.makeTempFile({ prefix: "squall-churn-", suffix: ".strace" });
  try {
    const out = await new Deno.Command("strace", {
      args: [
        "-f",
        // Stop only at bind(), not at every syscall: ss's scan of /proc stays fast.
        "--seccomp-bpf",
        "-ttt",
        "-e",
        "trace=bind",
        "-o",
        traceFile,
        Deno.execPath(),
        "run",
        "-A",
        "--unstable-net",
        "--no-prompt",
        CHILD,
        JSON.stringify(settings),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.ok(
      out.success,
      `churn child failed (${out.code}): ${new TextDecoder().decode(out.stderr).slice(-2000)}`,
    );
    const { pid, result } = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
      pid: number;
      result: BindChurnResult;
    };
    return { pid, result, binds: parseTrace(await Deno.readTextFile(traceFile)), port };
  } finally {
    await Deno.remove(traceFile);
  }
}

Deno.test("Every EADDRINUSE appears with the right port, errno and holder, checked against `strace -f -e trace=bind` and `ss` run beside it", async () => {
  const { pid, result, binds, port } = await tracedChurn({ pendingReceive: true, cycles: 300 });
  const onPort = binds.filter((b) => b.family === "AF_INET" && b.port === port);
  const failed = onPort.filter((b) => b.outcome !== "0");

  // Every bind() on the port is the churn's, from its main thread.
  assert.ok(onPort.every((b) => b.pid === pid), "a bind on the port from another process");
  // The kernel's count of failures is the churn's, exactly, and all are EADDRINUSE.
  assert.ok(failed.length >= result.cycles - 1, `${failed.length} failed binds`);
  assert.equal(result.failures, failed.length);
  assert.ok(failed.every((b) => b.outcome === "EADDRINUSE"));
  assert.deepEqual(result.errors, { EADDRINUSE: failed.length });
  assert.equal(result.attempts, onPort.length);
  assert.equal(onPort.length - failed.length, result.cycles);

  // The logged failures are the first ones strace saw, in order, at the same moments
  // (strace stamps the call; the churn the moment it returned).
  assert.equal(result.failureLog.length, 100);
  assert.ok(result.failureLogTruncated);
  const gaps = result.failureLog.map((f, i) => f.atMs - failed[i]!.atMs);
  assert.ok(gaps.every((gap) => gap > -1 && gap < 50), `time gaps ${JSON.stringify(gaps)}`);

  // Each logged failure names the socket that held the port: the churn's own, closed
  // with a receive pending, still bound because the event loop had not run.
  for (const failure of result.failureLog) {
    assert.equal(failure.error, "EADDRINUSE");
    const holders = failure.holders ?? [];
    assert.ok(
      holders.some((h) =>
        h.pid === pid && h.state === "UNCONN" && h.local === `127.0.0.1:${port}` &&
        /^deno/.test(h.program ?? "")
      ),
      JSON.stringify(holders),
    );
    assert.ok(failure.rebindMs !== null);
  }

  // ss ran exactly once per logged failure (its netlink bind, from a process of its
  // own), each time between the failed bind and the churn's next bind of the port.
  const ssRuns = binds.filter((b) => b.family === "AF_NETLINK" && b.pid !== pid);
  assert.equal(ssRuns.length, result.failureLog.length);
  for (let i = 0; i < ssRuns.length; i++) {
    const failedAt = binds.indexOf(failed[i]!);
    const next = binds.findIndex((b, j) => j > failedAt && b.port === port);
    const ss = binds.indexOf(ssRuns[i]!);
    assert.ok(failedAt < ss && ss < next, `ss run ${i} is not between failure ${i} and the retry`);
  }
});

Deno.test("No false report over 100 clean cycles: strace shows no EADDRINUSE and the churn reports none", async () => {
  const { pid, result, binds, port } = await tracedChurn({
    pendingReceive: true,
    awaitPending: true,
    cycles: 100,
  });
  const onPort = binds.filter((b) => b.family === "AF_INET" && b.port === port);
  assert.equal(onPort.length, 100);
  assert.ok(onPort.every((b) => b.pid === pid && b.outcome === "0"));
  assert.equal(result.cycles, 100);
  assert.equal(result.attempts, 100);
  assert.equal(result.failures, 0);
  assert.deepEqual(result.errors, {});
  assert.deepEqual(result.failureLog, []);
  // No failure, so no lookup: ss never ran.
  assert.equal(binds.filter((b) => b.family === "AF_NETLINK").length, 0);
});
