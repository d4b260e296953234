// Ground truth for the reconnect storm, on the real kernel: the attempts squall logs are
// the connect() calls the kernel saw, at the times squall says, and a configured
// exponential backoff is what the kernel sees between one client's connects.
//
// The storm runs in a child process (tests/_storm_child.ts) under strace; the echo runs
// in this process, so the trace holds only the clients' connect() calls. strace runs
// with --seccomp-bpf: without it, it stops the child at every system call (epoll_wait,
// futex, read, write, ...), not only at connect(), and the storm under test slows down
// several times over (a 5 ms backoff was seen as 40 ms). The child lets Deno finish its
// start-up work before the storms start, as an agent has (see tests/_storm_child.ts).
//
// What "agree" means, measured (208 attempts a run, 2-core VM, HZ=250, other jobs running):
// - strace's timestamp for connect() is never before squall's atMs (taken just before
//   Deno.connect, which calls connect() synchronously on the same thread).
// - Over 20 runs the median difference was 0.02-0.06 ms and p90 0.09-0.38 ms.
// - 0-16 attempts of 208 a run were 1-7 ms late. The kernel's own sys_enter_connect
//   tracepoint (ftrace, no strace) shows the same: median 0.007 ms, p90 0.06 ms, 0-2 of
//   200 a run over 1 ms, typically 4.05 ms: one scheduler tick (HZ=250). The thread was
//   descheduled between reading the clock and entering connect(): that is real, and no
//   timestamp taken in user space avoids it. strace's stop adds to it.
// So "every attempt within 1 ms" does not hold, and is not asserted: the test asserts
// that no connect() comes before its atMs, that the median is within 1 ms, and that at
// least 90% of attempts are; it prints the distribution every run.

import assert from "node:assert/strict";
import type { StormSettings } from "../harness/agent/protocol.ts";
import type { ReconnectStormResult } from "../harness/measure/tcp_results.ts";
import { closedPort, tcpEcho } from "./_loopback_servers.ts";
import { reconnectStorm, runScenario, scenario, tcpEcho as tcpEchoWorkload } from "../mod.ts";

const LOOPBACK = "127.0.0.1";
const CHILD = new URL("./_storm_child.ts", import.meta.url).pathname;
/** Exponential backoff of the traced single client: 5, 10, 20, 40, 80, 80, 80 ms. */
const BACKOFF = { type: "exponential", initialMs: 5, maxMs: 80, factor: 2, jitter: 0 } as const;
const EXPECTED_WAITS_MS = [5, 10, 20, 40, 80, 80, 80];
/**
 * A wait may end late, never early: setTimeout lands 1-2 ms late, the attempt itself
 * takes a little (slower under strace), and a busy VM adds outliers of several ms.
 */
const WAIT_LATE_MS = 20;
/** strace takes a timestamp when it handles the stop, a little after the call: allowed for. */
const STRACE_SLACK_MS = 0.5;

/** One connect() strace saw: when (ms since the epoch) and to which port. */
interface TracedConnect {
  atMs: number;
  port: number;
}

Deno.test("Reconnect timestamps reported by squall agree with the clients' own connect calls within 1 ms", async (t) => {
  await requireStrace();
  const echo = tcpEcho();
  const refusedPort = closedPort();
  const base = {
    hostname: LOOPBACK,
    targetAddress: LOOPBACK,
    durationMs: null,
    protocol: "tcp",
    connectTimeoutMs: 1000,
    size: 64,
  } as const;
  const storms: StormSettings[] = [
    {
      ...base,
      targetPort: echo.port,
      clients: 20,
      cycles: 10,
      concurrency: 20,
      backoff: { type: "fixed", initialMs: 5, maxMs: 5, factor: 2, jitter: 0.2 },
    },
    { ...base, targetPort: refusedPort, clients: 1, cycles: 8, concurrency: 1, backoff: BACKOFF },
  ];
  let traced: TracedConnect[];
  let results: ReconnectStormResult[];
  try {
    ({ traced, results } = await traceStorms(storms));
  } finally {
    await echo.close();
  }
  const [served, refused] = results as [ReconnectStormResult, ReconnectStormResult];

  await t.step("every attempt squall counts is one connect() the kernel saw", () => {
    assert.equal(served.attempts, 200);
    assert.equal(served.successes, 200);
    assert.equal(refused.attempts, 8);
    assert.equal(refused.errors.refused, 8);
    assert.equal(traced.filter((c) => c.port === echo.port).length, 200);
    assert.equal(traced.filter((c) => c.port === refusedPort).length, 8);
  });

  await t.step("atMs agrees with the time of the connect() call", () => {
    const differences: number[] = [];
    for (const result of results) {
      const calls = traced.filter((c) => c.port === portOf(result));
      const logged = result.attemptLog.map((a) => a.atMs).sort((a, b) => a - b);
      assert.equal(calls.length, logged.length);
      // Deno.connect calls connect() before it returns, so the order is the same.
      calls.forEach((call, i) => differences.push(call.atMs - logged[i]!));
    }
    const stats = distribution(differences);
    console.log(
      `strace connect() - squall atMs over ${differences.length} attempts: ${stats.text}`,
    );
    assert.ok(stats.min > -0.1, `a connect() came before its atMs: ${stats.text}`);
    assert.ok(stats.median < 1, `median over 1 ms: ${stats.text}`);
    assert.ok(stats.withinOneMs >= 0.9, `fewer than 90% within 1 ms: ${stats.text}`);
  });

  await t.step("the exponential backoff shows between one client's connect() calls", () => {
    const calls = traced.filter((c) => c.port === refusedPort).map((c) => c.atMs);
    const waits = calls.slice(1).map((at, i) => at - calls[i]!);
    console.log(`backoff seen by strace: ${waits.map((w) => w.toFixed(2)).join(", ")} ms`);
    assert.equal(waits.length, EXPECTED_WAITS_MS.length);
    waits.forEach((ms, i) => {
      const want = EXPECTED_WAITS_MS[i]!;
      assert.ok(
        ms >= want - STRACE_SLACK_MS && ms < want + WAIT_LATE_MS,
        `wait ${i + 1}: ${ms.toFixed(2)} ms, configured ${want} ms`,
      );
    });
  });
});

/** Fails with a clear message when strace is not installed (CI installs it with apt). */
async function requireStrace(): Promise<void> {
  try {
    const out = await new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" })
      .output();
    if (out.success) return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  throw new Error(
    "Cannot run the storm truth test: strace is not installed (apt-get install strace)",
  );
}

/** Runs the storms in a child under strace; returns its connect() calls and the results. */
async function traceStorms(
  storms: StormSettings[],
): Promise<{ traced: TracedConnect[]; results: ReconnectStormResult[] }> {
  const traceFile = await Deno.makeTempFile({ prefix: "squall_storm_strace_" });
  try {
    const out = await new Deno.Command("strace", {
      args: [
        "--seccomp-bpf",
        "-f",
        "-ttt",
        "-e",
        "trace=connect",
        "-o",
        traceFile,
        Deno.execPath(),
        "run",
        "--no-prompt",
        `--allow-net=${LOOPBACK}`,
        CHILD,
        JSON.stringify(storms),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.ok(out.success, `the storm child failed (exit ${out.code}): ${stderr.slice(-2000)}`);
    const results = JSON.parse(new TextDecoder().decode(out.stdout)) as ReconnectStormResult[];
    return { traced: parseConnects(await Deno.readTextFile(traceFile)), results };
  } finally {
    await Deno.remove(traceFile);
  }
}

/**
 * The IPv4 connect() calls in strace output (`-f -ttt`), oldest first:
 * `1234 1795333470.593608 connect(21, {sa_family=AF_INET, sin_port=htons(45463), ...`.
 * A call cut in two by another thread's (`<unfinished ...>`) keeps its first line.
 */
function parseConnects(text: string): TracedConnect[] {
  const pattern =
    /^(?:\d+\s+)?(\d+)\.(\d{6})\s+connect\(\d+,\s*\{sa_family=AF_INET,\s*sin_port=htons\((\d+)\)/;
  const calls: TracedConnect[] = [];
  for (const line of text.split("\n")) {
    const m = pattern.exec(line);
    if (!m) continue;
    calls.push({ atMs: Number(m[1]) * 1000 + Number(m[2]) / 1000, port: Number(m[3]) });
  }
  return calls.sort((a, b) => a.atMs - b.atMs);
}

function portOf(result: ReconnectStormResult): number {
  return Number(result.address.slice(result.address.lastIndexOf(":") + 1));
}

function distribution(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const over = sorted.filter((v) => Math.abs(v) >= 1).length;
  const stats = {
    min: sorted[0]!,
    median: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted.at(-1)!,
    withinOneMs: 1 - over / sorted.length,
  };
  const ms = (v: number) => `${v.toFixed(3)} ms`;
  return {
    ...stats,
    text: `min ${ms(stats.min)}, median ${ms(stats.median)}, p90 ${ms(stats.p90)}, p99 ${
      ms(stats.p99)
    }, max ${ms(stats.max)}, ${over} of ${sorted.length} at 1 ms or more`,
  };
}

Deno.test("the TIME_WAIT sockets a storm leaves are the kernel's count in its namespace: one per connection its clients closed", async () => {
  const report = await runScenario(
    scenario("a storm's TIME_WAIT", {
      hosts: ["client", "server"],
      links: [["client", "server"]],
      workloads: {
        echo: { on: "server", run: tcpEchoWorkload({ port: 7510 }) },
        storm: {
          on: "client",
          run: reconnectStorm({ target: "server:7510", clients: 20, duration: "1s" }),
        },
      },
    }),
  );
  assert.deepEqual(report.errors, []);
  const storm = report.workloads.find((w) => w.name === "storm")?.result;
  assert.ok(storm?.kind === "reconnectStorm");
  assert.ok(storm.successes > 20, `connected ${storm.successes} times`);
  // Each client closes first after its exchange, so its side of each connection waits
  // in TIME_WAIT (60 s, longer than the run): as many as it connected.
  assert.equal(storm.timeWait, storm.successes);
});
