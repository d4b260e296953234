// The NDJSON protocol between the runner and its agents: one JSON object a line.

import type { WorkloadResult } from "../measure/results.ts";

/**
 * A ready condition as data: a pattern is kept as its source and flags.
 *
 * @example
 * ```ts
 * import type { ReadySpec } from "./protocol.ts";
 * const ready: ReadySpec = { stdout: { source: "ready", flags: "i" } };
 * console.assert("stdout" in ready);
 * ```
 */
export type ReadySpec = { tcp: number } | { udp: number } | {
  stdout: { source: string; flags: string };
};

/** A UDP or TCP echo server as an agent runs it. */
export interface EchoSettings {
  /** Address to bind (0.0.0.0, or 127.0.0.1 on loopback). */
  hostname: string;
  /** Port to listen on. */
  port: number;
  /**
   * Sockets of a SO_REUSEPORT group on the port; null (or absent) for one without it.
   * @default {null}
   */
  group?: number | null;
}

/** The backoff of a reconnect storm, in ms. */
export interface BackoffSettings {
  /** Fixed or exponential. */
  type: "fixed" | "exponential";
  /** The first wait, and the wait after a success. */
  initialMs: number;
  /** The longest wait. */
  maxMs: number;
  /** Growth per failure in a row. */
  factor: number;
  /** Random spread, 0-1. */
  jitter: number;
}

/** What every probe (UDP or TCP) needs, with every duration in milliseconds. */
export interface ProbeBaseSettings {
  /** Local address to bind (0.0.0.0, or 127.0.0.1 on loopback). */
  hostname: string;
  /** Address to send to (UDP) or connect to (TCP). */
  targetAddress: string;
  /** Port to send to or connect to. */
  targetPort: number;
  /** Datagrams (UDP) or requests (TCP) to send, or null when `durationMs` is given. */
  count: number | null;
  /** How long to send, or null when `count` is given. */
  durationMs: number | null;
  /** Datagrams per second (UDP); requests per second at most (TCP). */
  rate: number;
  /** Datagram or request size in bytes. */
  size: number;
}

/** What a UDP probe needs, with every duration in milliseconds. */
export interface ProbeSettings extends ProbeBaseSettings {
  /** A reply later than this is late. */
  timeoutMs: number;
  /** One datagram in flight: the next goes when it is answered or timed out. */
  pingPong: boolean;
}

/** A TCP probe as an agent runs it. */
export interface TcpProbeSettings extends ProbeBaseSettings {
  /** Connect timeout. */
  connectTimeoutMs: number;
  /** Response timeout. */
  timeoutMs: number;
  /** One connection, or one per request. */
  connection: "keep" | "per-request";
}

/** A reconnect storm as an agent runs it. */
export interface StormSettings {
  /** Local address to bind. */
  hostname: string;
  /** Address to connect to. */
  targetAddress: string;
  /** Port to connect to. */
  targetPort: number;
  /** Number of clients. */
  clients: number;
  /** Cycles per client, or null when `durationMs` is given. */
  cycles: number | null;
  /** How long, or null when `cycles` is given. */
  durationMs: number | null;
  /** Most attempts in flight at once. */
  concurrency: number;
  /** The backoff, in ms. */
  backoff: BackoffSettings;
  /** TCP or UDP. */
  protocol: "tcp" | "udp";
  /** Attempt timeout. */
  connectTimeoutMs: number;
  /** Bytes exchanged per cycle. */
  size: number;
}

/** A bind churn as an agent runs it. */
export interface ChurnSettings {
  /** Address to bind (0.0.0.0, or 127.0.0.1 on loopback). */
  hostname: string;
  /** The port. */
  port: number;
  /** UDP or TCP. */
  protocol: "udp" | "tcp";
  /** Cycles. */
  cycles: number;
  /** A receive or accept pending at close. */
  pendingReceive: boolean;
  /** Await it before rebinding. */
  awaitPending: boolean;
  /** TCP clients kept connected. */
  liveConnections: number;
  /** SO_REUSEADDR (UDP). */
  reuseAddress: boolean;
  /**
   * SO_REUSEPORT before each bind (UDP through libc, which the agent must be allowed).
   * @default {false}
   */
  reusePort?: boolean;
  /** Give up a rebind after this long. */
  rebindTimeoutMs: number;
  /** Stop after this long. */
  maxDurationMs: number;
  /** Absolute path of `ss`, to see who holds the port when a bind fails; null: do not look. */
  ssPath: string | null;
}

/** A program under test as the runner starts it, inside a host's namespace. */
export interface ExecSettings {
  /** The command; its first element is an absolute path (the agent may run only that). */
  command: string[];
  /** When it is ready, or null. */
  ready: ReadySpec | null;
  /** How long to wait for ready. */
  readyTimeoutMs: number;
  /** Extra environment variables. */
  env: Record<string, string>;
  /** Working directory (absolute), or null. */
  cwd: string | null;
  /** SIGTERM, then SIGKILL after this long. */
  stopTimeoutMs: number;
  /** Absolute path of `setpriv`: the program is started as `setpriv --pdeathsig KILL -- ...` so it dies with the process that started it. */
  setprivPath: string;
  /** Absolute path of `ss`, to see whether a ready port is bound. */
  ssPath: string;
  /**
   * The network namespace to run it (and `ss`) in: that of process `pid`, entered with
   * `nsenter -t <pid> -n`; null for the current one.
   */
  namespace: { nsenterPath: string; pid: number } | null;
  /**
   * The run's cgroup (its directory) for the program to join before it runs, so that
   * everything it starts ends with the run; null: none (no writable cgroup2 mount).
   */
  cgroup: string | null;
}

/** A workload as an agent receives it: every name resolved, every duration in ms. */
export type AgentWorkload =
  | ({ kind: "udpEcho" } & EchoSettings)
  | ({ kind: "udpProbe" } & ProbeSettings)
  | ({ kind: "tcpEcho" } & EchoSettings)
  | ({ kind: "tcpProbe" } & TcpProbeSettings)
  | ({ kind: "reconnectStorm" } & StormSettings)
  | ({ kind: "bindChurn" } & ChurnSettings)
  | ({ kind: "exec" } & ExecSettings);

/**
 * What the runner can ask of a running workload besides stop and snapshot: sent as a
 * call of method `"workload.control"` with params `{ id, control }`.
 */
export type WorkloadControl =
  | { action: "restart"; keepChildren?: boolean }
  | { action: "stop"; keepChildren: true }
  | { action: "kill"; signal: Deno.Signal }
  | { action: "stopMember"; member: number; hangMs: number };

/**
 * The calls (`op: "call"`) an agent answers: `dropper.set`, `dropper.take`, `dropper.read`
 * (XDP droppers, params `{ ifname, ... }`); `workload.control`; and the delay lines',
 * params `{ queue, ... }`: `delay.start` `{ config, maxLength? }` (binds the NFQUEUE
 * queue; answers null), `delay.set` `{ config, effectiveAtMs? }`, `delay.read` and
 * `delay.stop` `{ mode: "drain" | "drop", timeoutMs? }` (answer the line's state,
 * counters and per-flow drops); the duplicators', `dup.set` `{ ifname, config }` and
 * `dup.take` `{ ifname }` (detaches; answers `{ matched, duplicated }`).
 */
export type CallMethod =
  | "dropper.set"
  | "dropper.take"
  | "dropper.read"
  | "workload.control"
  | "delay.start"
  | "delay.set"
  | "delay.read"
  | "delay.stop"
  | "dup.set"
  | "dup.take";

/** Runner to agent. */
export type RunnerMessage =
  | { op: "call"; id: number; method: string; params: unknown }
  | { op: "start"; id: number; workload: AgentWorkload }
  | { op: "stop"; id: number }
  | { op: "snapshot"; id: number; light?: boolean };

/** An error as it crosses the wire. */
export interface WireError {
  name: string;
  message: string;
}

/** Agent to runner. */
export type AgentMessage =
  | { type: "ready"; pid: number; host: string }
  | { type: "started"; id: number; address: string }
  | { type: "result"; id: number; result: WorkloadResult }
  | { type: "snapshot"; id: number; result: WorkloadResult }
  | { type: "failed"; id: number; error: WireError }
  | { type: "reply"; id: number; value: unknown }
  | { type: "error"; id: number; error: WireError }
  | { type: "fatal"; error: WireError };

const encoder = new TextEncoder();

/** Encodes one message as a line. */
export function encodeLine(message: RunnerMessage | AgentMessage): Uint8Array {
  return encoder.encode(JSON.stringify(message) + "\n");
}

/** Splits a byte stream into lines (without the newline). */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim() !== "") yield line;
    }
  }
  buffered += decoder.decode();
  if (buffered.trim() !== "") yield buffered;
}

/** Turns anything thrown into a wire error. */
export function toWireError(error: unknown): WireError {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: "Error", message: String(error) };
}
