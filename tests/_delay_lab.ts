// A two-namespace lab for the delay line's truth tests and bench: a sender namespace and
// a receiver namespace on one veth pair (198.19.0.0/30, see bench/_netns.ts), a delay
// line process in the receiver's namespace fed by an iptables NFQUEUE rule there, and
// the one-way delay sender/receiver of _owd_child.ts. Everything started here is ended
// by pid; the namespaces, their rules and queues die with their holders.

import { NamespaceSet } from "./bench/_netns.ts";
import type { OwdReport } from "./_owd_child.ts";
import type { LineConfig } from "../harness/native/delay_schedule.ts";
import { NO_DELAY } from "../harness/native/delay_schedule.ts";
import type { LineCounters } from "../harness/native/delay_line_control.ts";

const OWD = new URL("./_owd_child.ts", import.meta.url).pathname;
const LINE = new URL("./_delay_line_child.ts", import.meta.url).pathname;
const TCP = new URL("./_tcp_rtt_child.ts", import.meta.url).pathname;
const DUP = new URL("./_dup_child.ts", import.meta.url).pathname;
/**
 * SCHED_FIFO priority of the one-way delay sender and receiver: they are the measuring
 * instrument, and on a busy machine other work would otherwise time them.
 */
const INSTRUMENT_PRIORITY = 20;
/** The delay line's SCHED_FIFO priority, as the agent starts it. */
export const LINE_PRIORITY = 1;

/** Reads a child's stdout line by line. */
class Lines {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  async next(timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#buffer.includes("\n")) {
      if (Date.now() > deadline) throw new Error("Timed out waiting for a line");
      const { value, done } = await this.#reader.read();
      if (done) throw new Error(`Stream ended before a line (got "${this.#buffer}")`);
      this.#buffer += value;
    }
    const at = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, at);
    this.#buffer = this.#buffer.slice(at + 1);
    return line;
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/** A delay line running in a process of its own. */
export class LineProcess {
  readonly child: Deno.ChildProcess;
  readonly queue: number;
  #lines: Lines;
  #writer: WritableStreamDefaultWriter<Uint8Array>;

  constructor(child: Deno.ChildProcess, queue: number) {
    this.child = child;
    this.queue = queue;
    this.#lines = new Lines(child.stdout);
    this.#writer = child.stdin.getWriter();
  }

  /** Waits for the line to bind its queue. */
  async ready(): Promise<void> {
    const line = await this.#lines.next();
    if (line !== "ready") throw new Error(`Delay line said "${line}"`);
  }

  async #ask(command: unknown): Promise<unknown> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
    return JSON.parse(await this.#lines.next());
  }

  /** Sets the line's config for packets arriving from `effectiveAtMs` (0: now). */
  async configure(config: Partial<LineConfig>, effectiveAtMs = 0): Promise<void> {
    await this.#ask({ op: "config", config: { ...NO_DELAY, ...config }, effectiveAtMs });
  }

  /** The line's counters. */
  async counters(): Promise<LineCounters> {
    return await this.#ask({ op: "counters" }) as LineCounters;
  }

  /** Stops the line and returns its final counters. */
  async stop(mode: "drop" | "drain" = "drain"): Promise<LineCounters> {
    const counters = await this.#ask({ op: "stop", mode }) as LineCounters;
    await this.child.status;
    await this.#lines.cancel();
    await this.#writer.close().catch(() => {});
    return counters;
  }

  /** Kills the line's process (SIGKILL) and reaps it. */
  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // Gone already.
    }
    await this.child.status;
    await this.#lines.cancel();
    await this.#writer.close().catch(() => {});
  }
}

/** Sender (holder 0) and receiver (holder 1) namespaces on one veth pair. */
export class DelayLab implements AsyncDisposable {
  readonly set = new NamespaceSet();
  #lines: LineProcess[] = [];
  #others: Deno.ChildProcess[] = [];

  /** Builds the two namespaces and their link. */
  static async create(): Promise<DelayLab> {
    const lab = new DelayLab();
    try {
      await lab.set.addHolders(2);
      await lab.set.wire([[0, 1]]);
    } catch (error) {
      await lab.set.close();
      throw error;
    }
    return lab;
  }

  /** The sender's address. */
  get senderAddress(): string {
    return this.set.links[0]!.ends[0].address;
  }

  /** The receiver's address. */
  get receiverAddress(): string {
    return this.set.links[0]!.ends[1].address;
  }

  /** The receiver's end of the link. */
  get receiverInterface(): string {
    return this.set.links[0]!.ends[1].name;
  }

  /** The sender's end of the link. */
  get senderInterface(): string {
    return this.set.links[0]!.ends[0].name;
  }

  /** Pid of the process holding namespace `index`. */
  holderPid(index: number): number {
    return this.set.holders[index]!.pid;
  }

  /** Spawns a command in namespace `index` with piped stdio; it dies with this process. */
  spawn(index: number, command: string[], env: Record<string, string> = {}): Deno.ChildProcess {
    return new Deno.Command("setpriv", {
      env,
      args: ["--pdeathsig", "KILL", "--", "nsenter", "-t", String(this.holderPid(index)), "-n"]
        .concat(command),
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
  }

  /** Runs iptables in namespace `index`; throws with its stderr on failure. */
  async iptables(index: number, args: string[]): Promise<void> {
    const output = await this.set.runIn(index, ["iptables", "-w", ...args]);
    if (!output.success) {
      throw new Error(`iptables ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
    }
  }

  /** Starts a delay line on `queue` in the receiver's namespace. */
  async startLine(
    queue = 1,
    options: { index?: number; priority?: number; maxLength?: number } = {},
  ): Promise<LineProcess> {
    const child = this.spawn(options.index ?? 1, [
      Deno.execPath(),
      "run",
      "-A",
      LINE,
      String(queue),
      String(options.priority ?? LINE_PRIORITY),
      String(options.maxLength ?? 65_536),
    ]);
    const line = new LineProcess(child, queue);
    this.#lines.push(line);
    await line.ready();
    return line;
  }

  /** The rule that sends what arrives at namespace `index`'s end of the link to `queue`. */
  queueRule(queue: number, match: string[], index = 1): string[] {
    return [
      "PREROUTING",
      "-i",
      index === 1 ? this.receiverInterface : this.senderInterface,
      ...match,
      "-j",
      "NFQUEUE",
      "--queue-num",
      String(queue),
      "--queue-bypass",
    ];
  }

  /** Adds the queue rule in the raw table of namespace `index`. */
  async addRule(queue: number, match: string[], index = 1): Promise<void> {
    await this.iptables(index, ["-t", "raw", "-A", ...this.queueRule(queue, match, index)]);
  }

  /** Deletes the queue rule again. */
  async deleteRule(queue: number, match: string[], index = 1): Promise<void> {
    await this.iptables(index, ["-t", "raw", "-D", ...this.queueRule(queue, match, index)]);
  }

  /**
   * Sends `count` datagrams at `rate` per second from the sender to the receiver's
   * `port` and reports the one-way delays the receiver measured.
   */
  async measure(
    port: number,
    rate: number,
    count: number,
    options: { size?: number; idleMs?: number } = {},
  ): Promise<OwdReport> {
    const instrument = { OWD_PRIORITY: String(INSTRUMENT_PRIORITY) };
    const receiver = this.spawn(1, [
      Deno.execPath(),
      "run",
      "-A",
      OWD,
      "recv",
      this.receiverAddress,
      String(port),
      String(count),
      String(options.idleMs ?? 1500),
    ], instrument);
    const lines = new Lines(receiver.stdout);
    try {
      const ready = await lines.next();
      if (ready !== "ready") throw new Error(`Receiver said "${ready}"`);
      const sender = this.spawn(0, [
        Deno.execPath(),
        "run",
        "-A",
        OWD,
        "send",
        this.receiverAddress,
        String(port),
        String(rate),
        String(count),
        String(options.size ?? 64),
      ], instrument);
      await sender.stdin.close();
      const sent = await sender.output();
      if (!sent.success) throw new Error("The sender failed");
      const report = JSON.parse(await lines.next(count / rate * 1000 + 30_000)) as OwdReport;
      await receiver.status;
      return report;
    } finally {
      try {
        receiver.kill("SIGKILL");
      } catch {
        // Exited.
      }
      await receiver.status;
      await lines.cancel();
      await receiver.stdin.close().catch(() => {});
    }
  }

  /**
   * Attaches the duplicator to the sender's end of the link (egress), duplicating UDP to
   * `port` at `rate`; returns a function that reads its counters and one that detaches it.
   */
  async startDuplicator(rate: number, port: number): Promise<{
    counters(): Promise<{ matched: number; duplicated: number }>;
    stop(): Promise<void>;
  }> {
    const child = this.spawn(0, [
      Deno.execPath(),
      "run",
      "-A",
      DUP,
      this.senderInterface,
      String(rate),
      String(port),
    ]);
    const lines = new Lines(child.stdout);
    const writer = child.stdin.getWriter();
    const ready = await lines.next();
    if (ready !== "ready") throw new Error(`Duplicator said "${ready}"`);
    this.#others.push(child);
    return {
      counters: async () => {
        await writer.write(new TextEncoder().encode("counters\n"));
        return JSON.parse(await lines.next());
      },
      stop: async () => {
        await writer.close().catch(() => {});
        await child.status;
        await lines.cancel();
      },
    };
  }

  /**
   * TCP from the sender to a server in the receiver's namespace on `port`: five
   * connections' connect times and `requests` request round trips each, milliseconds.
   */
  async tcpRtt(port: number, requests: number): Promise<{ connectMs: number[]; rttMs: number[] }> {
    const server = this.spawn(1, [
      Deno.execPath(),
      "run",
      "-A",
      TCP,
      "server",
      this.receiverAddress,
      String(port),
    ]);
    const lines = new Lines(server.stdout);
    try {
      const ready = await lines.next();
      if (ready !== "ready") throw new Error(`TCP server said "${ready}"`);
      const client = this.spawn(0, [
        Deno.execPath(),
        "run",
        "-A",
        TCP,
        "client",
        this.receiverAddress,
        String(port),
        String(requests),
      ]);
      await client.stdin.close();
      const output = await client.output();
      if (!output.success) throw new Error("The TCP client failed");
      return JSON.parse(new TextDecoder().decode(output.stdout));
    } finally {
      try {
        server.kill("SIGKILL");
      } catch {
        // Exited.
      }
      await server.status;
      await lines.cancel();
      await server.stdin.close().catch(() => {});
    }
  }

  /**
   * Packets the kernel dropped on the way between the two namespaces: the receive and
   * transmit drops of both ends of the link (/proc/<pid>/net/dev in each namespace), the
   * machine's softnet backlog drops (/proc/net/softnet_stat, second column, all CPUs),
   * and the UDP datagrams the receiving namespace could not deliver (InErrors in its
   * /proc/<pid>/net/snmp: full receive buffers, bad checksums).
   */
  async pathDrops(): Promise<number> {
    let drops = 0;
    for (
      const [index, ifname] of [[0, this.senderInterface], [1, this.receiverInterface]] as const
    ) {
      const text = await Deno.readTextFile(`/proc/${this.holderPid(index)}/net/dev`);
      const line = text.split("\n").find((l) => l.trim().startsWith(`${ifname}:`));
      const f = (line?.split(":")[1] ?? "").trim().split(/\s+/).map(Number);
      drops += (f[3] ?? 0) + (f[11] ?? 0); // rx drop, tx drop
    }
    const softnet = await Deno.readTextFile("/proc/net/softnet_stat");
    for (const l of softnet.trim().split("\n")) drops += parseInt(l.trim().split(/\s+/)[1]!, 16);
    const snmp = (await Deno.readTextFile(`/proc/${this.holderPid(1)}/net/snmp`)).split("\n")
      .filter((l) => l.startsWith("Udp:"));
    const names = snmp[0]?.split(/\s+/) ?? [];
    const values = snmp[1]?.split(/\s+/).map(Number) ?? [];
    drops += values[names.indexOf("InErrors")] ?? 0; // RcvbufErrors, checksum errors, ...
    return drops;
  }

  /** The per-queue counters of /proc/net/netfilter/nfnetlink_queue in namespace `index`. */
  async queueStats(index = 1): Promise<Map<number, { dropped: number; userDropped: number }>> {
    const text = await Deno.readTextFile(
      `/proc/${this.holderPid(index)}/net/netfilter/nfnetlink_queue`,
    );
    return new Map(
      text.trim().split("\n").filter((l) => l.trim()).map((l) => {
        const f = l.trim().split(/\s+/).map(Number);
        return [f[0]!, { dropped: f[5]!, userDropped: f[6]! }];
      }),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const line of this.#lines) await line.kill();
    for (const child of this.#others) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited.
      }
      await child.status;
    }
    const report = await this.set.close();
    if (report.alivePids.length > 0 || report.left.length > 0) {
      throw new Error(`The delay lab left processes behind: ${JSON.stringify(report)}`);
    }
  }
}
