// Ground truth for rule windows, on the real kernel, below the runner: two namespaces, a
// veth pair, a dropper on each end (held by a child in each namespace, as agents hold
// them), a steady sender in each namespace towards the other (libc sendto paced by a busy
// wait, 10k datagrams/s). The same rule, a blackhole with a kernel-time window written a
// little ahead to both ends, must drop in both directions from the same instant to the
// same instant, whatever the children's scheduling: at each end, the droppers' own stamps
// (kernel time) put the last packet before the window and the first after it outside,
// and the first and last drops inside, so each edge lies between two packets at both
// ends. (The truth test of a whole run, with probes and their loss counts, is
// tests/fault_timing_truth_test.ts.)

import assert from "node:assert/strict";
import { NamespaceSet } from "./bench/_netns.ts";
import { readLines } from "../harness/agent/protocol.ts";
import { toWire } from "../harness/agent/droppers.ts";
import type { RuleTally } from "../harness/kernel/xdp_dropper.ts";
import { SQ_MODE_BLACKHOLE, SQ_PROTO_UDP } from "../harness/kernel/xdp_layout.ts";
import { findLibrary, LIBC_CANDIDATES } from "../harness/native/libc.ts";
import { closeClock, monotonicNs } from "../harness/native/clock.ts";

const CHILD = new URL("./_window_child.ts", import.meta.url).pathname;
const SENDER = new URL("./bench/xdp.ts", import.meta.url).pathname;
const PORT = 7100; // where tests/bench/xdp.ts's sender sends (nothing listens)
const RATE = 10_000;
const WINDOWS = 3;
const WINDOW_NS = 1_000_000_000n;
/** How far ahead both ends are written (this test is about the flip, not the lead). */
const LEAD_NS = 30_000_000n;
/** Windows done again at most, when a write landed late. */
const RETRIES = 3;

/** A child holding a dropper in a namespace; one call at a time. */
class Controller {
  readonly #child: Deno.ChildProcess;
  readonly #lines: AsyncGenerator<string>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;

  constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#lines = readLines(child.stdout);
    this.#writer = child.stdin.getWriter();
  }

  async ready(): Promise<void> {
    const { value } = await this.#lines.next();
    assert.equal(value, "READY", "the child attached its dropper");
  }

  async call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify({ method, params }) + "\n"));
    const { value } = await this.#lines.next();
    const reply = JSON.parse(value as string);
    if (reply.error) throw new Error(reply.error);
    return reply.value;
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#child.status;
    await this.#lines.return(undefined);
    await this.#child.stderr.cancel().catch(() => {});
  }
}

Deno.test("a windowed rule on both ends of a link drops from one kernel instant to another in both directions", async () => {
  const libc = findLibrary(LIBC_CANDIDATES)!;
  const set = new NamespaceSet();
  const controllers: Controller[] = [];
  try {
    await set.addHolders(2);
    await set.wire([[0, 1]]);
    const ends = set.links[0]!.ends;
    // Droppers go only on squall's own sq-* interfaces: rename the two ends.
    for (const [i, end] of ends.entries()) {
      const name = `sq-wt${Deno.pid % 1000}-0${i === 0 ? "a" : "b"}`;
      for (
        const args of [["set", end.name, "down"], ["set", end.name, "name", name], [
          "set",
          name,
          "up",
        ]]
      ) {
        const out = await set.runIn(i, ["ip", "link", ...args]);
        assert.ok(out.success, new TextDecoder().decode(out.stderr));
      }
      end.name = name;
    }
    // Each namespace's child holds the dropper of its own end: that end receives what
    // the other namespace's sender sends.
    for (const [i, end] of ends.entries()) {
      const child = new Deno.Command("setpriv", {
        args: ["--pdeathsig", "KILL", "--", "nsenter", "-t", String(set.holders[i]!.pid), "-n"]
          .concat([Deno.execPath(), "run", "-A", "--quiet", CHILD, end.name]),
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      controllers.push(new Controller(child));
    }
    await Promise.all(controllers.map((c) => c.ready()));
    const senders = ends.map((end, i) =>
      set.spawnIn(
        i,
        [Deno.execPath(), "run", "-A", "--quiet", SENDER, "--role", "sender"].concat(
          ["--libc", libc, "--from", end.address, "--to", ends[1 - i]!.address],
          ["--rate", String(RATE), "--ms", String(1_000 + (WINDOWS + RETRIES) * 1_300)],
        ),
      )
    );
    for (const sender of senders) {
      const lines = readLines(sender.stdout);
      const { value } = await lines.next();
      await lines.return(undefined); // lets go of stdout (and cancels it)
      assert.equal(value, "SENDER_READY");
    }
    await new Promise((resolve) => setTimeout(resolve, 300));

    const results: { fromNs: bigint; untilNs: bigint; tallies: RuleTally[] }[] = [];
    for (let tries = 0; results.length < WINDOWS && tries < WINDOWS + RETRIES; tries++) {
      const fromNs = monotonicNs() + LEAD_NS;
      const untilNs = fromNs + WINDOW_NS;
      const rule = toWire({
        mode: SQ_MODE_BLACKHOLE,
        protocol: SQ_PROTO_UDP,
        srcAddr: "0.0.0.0",
        srcMask: "0.0.0.0",
        dportMin: PORT,
        dportMax: PORT,
        lossGood: 0,
        lossBad: 0,
        pEnterBad: 0,
        pLeaveBad: 0,
        activeFromNs: fromNs,
        activeUntilNs: untilNs,
      });
      const written = await Promise.all(
        controllers.map((c) => c.call("dropper.set", { slot: 0, rule })),
      ) as { writtenNs: string }[];
      // A write that landed after the window opened (a descheduled child on a busy
      // machine) makes that window's edge the write's, not the instant: not what is
      // tested here (squall reports such an end as late). Such a window is done again.
      const late = written.some(({ writtenNs }) => BigInt(writtenNs) >= fromNs);
      while (monotonicNs() < untilNs + 20_000_000n) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const tallies = await Promise.all(
        controllers.map((c) => c.call("dropper.take", { slot: 0 })),
      ) as RuleTally[];
      if (late) console.log(`a write landed after the window opened: window done again`);
      else results.push({ fromNs, untilNs, tallies });
    }
    assert.equal(results.length, WINDOWS, "every window's writes landed before it opened");

    const us = (ns: number | null, from: bigint) =>
      ns === null ? "none" : `${((ns - Number(from)) / 1e3).toFixed(1)} us`;
    console.log(
      results.map(({ fromNs, untilNs, tallies }) =>
        tallies.map((t) =>
          `dropped ${t.dropped.packets}: opened between ${us(t.beforeNs, fromNs)} and ` +
          `${us(t.firstDropNs, fromNs)}, closed between ${us(t.lastDropNs, untilNs)} and ` +
          `${us(t.afterNs, untilNs)}`
        ).join(" | ")
      ).join("\n"),
    );
    for (const { fromNs, untilNs, tallies } of results) {
      for (const t of tallies) {
        // Each end, to the packet, in the kernel: the last packet before the window passed,
        // the first in it was dropped, the last in it was dropped, the first after passed.
        assert.ok(t.beforeNs !== null && t.afterNs !== null, "packets on both sides");
        assert.ok(t.firstDropNs !== null && t.lastDropNs !== null, "both ends dropped");
        assert.ok(t.beforeNs! < Number(fromNs) && Number(fromNs) <= t.firstDropNs!, "opened");
        assert.ok(t.lastDropNs! < Number(untilNs) && Number(untilNs) <= t.afterNs!, "closed");
        assert.ok(t.dropped.packets <= RATE * 1.01, `at most 10,000 + 1%: ${t.dropped.packets}`);
      }
    }
  } finally {
    await Promise.all(controllers.map((c) => c.close()));
    const left = await set.close();
    closeClock();
    assert.deepEqual(left, { alivePids: [], left: [] }, "nothing left behind");
  }
});
