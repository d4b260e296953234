/**
 * The report: plain data, the same for the terminal, JSON files and tests.
 *
 * @module
 */

import { ExitCode } from "../core/exit_codes.ts";
import type { Fault } from "../scenario/faults.ts";
import type { WorkloadResult } from "../measure/results.ts";
import type { ObservedBindFailure } from "../measure/bind_results.ts";
import type { ThresholdOutcome } from "../scenario/threshold.ts";
import type { NetworkKind, PlannedInterface, PlannedLink } from "../scenario/topology.ts";
import type { WorkloadSpec } from "../workloads/kinds.ts";

/**
 * Version of the report format; bumped on any incompatible change.
 *
 * @example
 * ```ts
 * import { REPORT_SCHEMA_VERSION } from "./report.ts";
 * // Refuse a JSON report written in another format.
 * const report = JSON.parse('{ "schemaVersion": 1, "scenarios": [] }');
 * if (report.schemaVersion !== REPORT_SCHEMA_VERSION) {
 *   throw new Error(`Cannot read report: schema version ${report.schemaVersion}`);
 * }
 * ```
 */
export const REPORT_SCHEMA_VERSION = 1;

/** squall's version, as written into reports. */
export const SQUALL_VERSION = "0.1.0";

/**
 * How a scenario ended: `"failed"` when a check, a threshold or a workload failed;
 * `"error"` when something else went wrong (the report's `errors` say what, e.g. a
 * timeout); `"interrupted"` when the run's signal was aborted (Ctrl-C in the CLI).
 *
 * @example
 * ```ts
 * import type { ScenarioStatus } from "./report.ts";
 * const statuses: ScenarioStatus[] = ["passed", "failed", "passed"];
 * const summary: Record<ScenarioStatus, number> = {
 *   passed: 0,
 *   failed: 0,
 *   error: 0,
 *   interrupted: 0,
 * };
 * for (const s of statuses) summary[s]++;
 * console.assert(summary.passed === 2 && summary.failed === 1);
 * ```
 */
export type ScenarioStatus = "passed" | "failed" | "error" | "interrupted";

/**
 * A host as it ran.
 *
 * @example
 * ```ts
 * import type { HostReport } from "./report.ts";
 * const host: HostReport = {
 *   name: "server",
 *   address: "198.18.0.2",
 *   agentPid: 8173,
 *   interfaces: [],
 * };
 * // To look inside it while it runs: nsenter -t 8173 -n ip addr
 * console.assert(host.agentPid === 8173);
 * ```
 */
export interface HostReport {
  /** Role name. */
  name: string;
  /** Main address. */
  address: string;
  /** Process id of its agent (the namespace lives as long as it does). */
  agentPid: number | null;
  /** Its link ends. */
  interfaces: PlannedInterface[];
}

/**
 * A workload as it ran.
 *
 * @example
 * ```ts
 * import type { WorkloadReport } from "./report.ts";
 * function lossOf(w: WorkloadReport): number | undefined {
 *   return w.result?.kind === "udpProbe" ? w.result.loss : undefined;
 * }
 * ```
 */
export interface WorkloadReport {
  /** Its name. */
  name: string;
  /** The host it ran on. */
  host: string;
  /** Its spec, as given. */
  spec: WorkloadSpec;
  /** One line describing it. */
  description: string;
  /** `finished` by itself, `stopped` by the runner, or `failed`. */
  status: "running" | "finished" | "stopped" | "failed";
  /** When it started, in ms since the scenario started. */
  startedAtMs: number;
  /** Why it failed. */
  error?: string;
  /** What it measured (also when stopped early). */
  result?: WorkloadResult;
}

/**
 * A fault as it was applied: when, where, and what it did.
 *
 * @example
 * ```ts
 * import type { FaultReport } from "./report.ts";
 * import { loss } from "../scenario/faults.ts";
 * const fault = loss(0.1);
 * const applied: FaultReport = {
 *   id: 1,
 *   description: "loss 10% on client ↔ server",
 *   link: ["client", "server"],
 *   kind: fault.kind,
 *   direction: fault.direction,
 *   fault,
 *   askedAtMs: 0,
 *   appliedAtMs: 0.7,
 *   removeAskedAtMs: 2000,
 *   removedAtMs: 2000.7,
 *   passed: 1800,
 *   dropped: 200,
 *   directions: [],
 * };
 * console.assert(applied.dropped / (applied.passed + applied.dropped) === 0.1);
 * ```
 */
export interface FaultReport {
  /** Its id in this run, 1, 2, ... (ledgers name faults by id). */
  id: number;
  /** One line describing it. */
  description: string;
  /** The link's two hosts, as the link names them. */
  link: [string, string];
  /** Its kind. */
  kind: Fault["kind"];
  /** Which way it acted. */
  direction: Fault["direction"];
  /** The fault as given. */
  fault: Fault;
  /** When it was asked for (`apply()` called), in ms since the scenario started. */
  askedAtMs: number;
  /**
   * When it took effect, in ms since the scenario started: the kernel time both ends
   * switched at (a little after `askedAtMs`), or when the last end's write landed, if later.
   */
  appliedAtMs: number;
  /**
   * When its removal was asked for (`remove()`, the end of `during`, of `blackhole({ for })`
   * or of the run), or null if it was never removed.
   */
  removeAskedAtMs: number | null;
  /** When it was removed (took effect, as `appliedAtMs`), or null if it was still on when the run ended. */
  removedAtMs: number | null;
  /** Packets it matched and let through (summed over both directions). */
  passed: number;
  /** Packets it dropped. */
  dropped: number;
  /** For a delay or rate limit: what its delay lines did, summed over both directions. */
  line?: LineTally;
  /** For a duplicate: the copies it sent (`passed` is the packets it matched). */
  duplicated?: number;
  /** Each direction it acted on, as the dropper on its receiving end counted and stamped it. */
  directions: FaultDirectionReport[];
}

/**
 * What the delay lines of a delay or rate limit fault did with the packets they were
 * given (`passed` is `released`; `dropped` is the sum of the four kinds of drop).
 *
 * @example
 * ```ts
 * import type { LineTally } from "./report.ts";
 * const t: LineTally = { released: 90, tailDropped: 10, queueFull: 0, overrun: 0, droppedAtStop: 0, reordered: 3, maxHeld: 12, failed: null };
 * console.assert(t.released + t.tailDropped === 100);
 * ```
 */
export interface LineTally {
  /** Packets let go on at their due times. */
  released: number;
  /** Dropped by a rate limit's full queue (tail drop). */
  tailDropped: number;
  /** Dropped by the kernel because the line's NFQUEUE queue was full. */
  queueFull: number;
  /** Dropped by the kernel because the line's netlink socket overran. */
  overrun: number;
  /** Held when the line stopped (or died) without releasing them. */
  droppedAtStop: number;
  /** Released after a packet that arrived later (jitter). */
  reordered: number;
  /** Most packets held at once. */
  maxHeld: number;
  /** Why a line died while the fault was on, or null. */
  failed: string | null;
}

/**
 * One direction of a fault: its rule in the dropper on the receiving end of the link.
 * Times are the dropper's own kernel stamps, in ms since the scenario started; they are
 * taken while the rule has a time window (around the fault's edges), so each edge lies
 * between `beforeAtMs` and `firstDropAtMs`, and between `lastDropAtMs` and `afterAtMs`.
 *
 * @example
 * ```ts
 * import type { FaultDirectionReport } from "./report.ts";
 * const way: FaultDirectionReport = {
 *   from: "client",
 *   to: "server",
 *   appliedAtMs: 1000,
 *   removedAtMs: 2000,
 *   passed: 0,
 *   dropped: 10_000,
 *   beforeAtMs: 999.98,
 *   firstDropAtMs: 1000.03,
 *   lastDropAtMs: 1999.95,
 *   afterAtMs: 2000.01,
 * };
 * console.assert(way.beforeAtMs! < 1000 && 1000 <= way.firstDropAtMs!);
 * ```
 */
export interface FaultDirectionReport {
  /** The sending host. */
  from: string;
  /** The receiving host, whose dropper acted. */
  to: string;
  /**
   * When it took effect on this end: the fault's instant, or later if the write to this
   * end landed after it (the fault's `appliedAtMs` is the latest of its directions').
   */
  appliedAtMs: number;
  /** When it was removed on this end (as `appliedAtMs`), or null if it was not. */
  removedAtMs: number | null;
  /** Packets its rule matched and let through. */
  passed: number;
  /** Packets its rule dropped. */
  dropped: number;
  /** The last packet it matched before the fault took effect; null: none seen. */
  beforeAtMs: number | null;
  /**
   * Its first drop; null: none, or none while its start was being watched (a fault
   * without a duration stamps its drops only in its first 50 ms and from when its removal
   * is asked: a loss that drops nothing in that time has no stamp to give).
   */
  firstDropAtMs: number | null;
  /**
   * Its last drop; null: none, or none while its end was being watched (as
   * `firstDropAtMs`: squall does not know when it last dropped).
   */
  lastDropAtMs: number | null;
  /** The first packet it matched after the fault was removed; null: none seen. */
  afterAtMs: number | null;
}

/**
 * A check made by the scenario function.
 *
 * @example
 * ```ts
 * import type { CheckOutcome } from "./report.ts";
 * const check: CheckOutcome = { name: "both flows were answered", ok: false, detail: "0/200" };
 * console.assert(!check.ok);
 * ```
 */
export interface CheckOutcome {
  /** Its name. */
  name: string;
  /** Whether it held. */
  ok: boolean;
  /** Detail given with it. */
  detail?: string;
}

/**
 * The report of one scenario.
 *
 * @example
 * ```ts
 * import type { ScenarioReport } from "./report.ts";
 * // Why a scenario did not pass, one line each.
 * function failures(report: ScenarioReport): string[] {
 *   return [
 *     ...report.errors,
 *     ...report.thresholds.filter((t) => !t.ok).map((t) => `${t.key}: ${t.reason}`),
 *     ...report.checks.filter((c) => !c.ok).map((c) => `check failed: ${c.name}`),
 *   ];
 * }
 * ```
 */
export interface ScenarioReport {
  /** Version of the report format. */
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  /** Scenario name. */
  name: string;
  /** The module it came from, when run from a file. */
  file: string | null;
  /** Per-run id carried by every interface name. */
  runId: string;
  /** How hosts were made. */
  network: NetworkKind;
  /** How it ended. */
  status: ScenarioStatus;
  /** The exit code this scenario alone would give. */
  exitCode: ExitCode;
  /** Wall-clock start, ISO 8601. */
  startedAt: string;
  /** From start to the end of teardown, in ms. */
  durationMs: number;
  /** From start until every agent was ready and every link was up, in ms. */
  setupMs: number | null;
  /** Hosts. */
  hosts: HostReport[];
  /** Links. */
  links: PlannedLink[];
  /** Workloads, in start order. */
  workloads: WorkloadReport[];
  /** Faults, in the order they were applied: the fault timeline. */
  faults: FaultReport[];
  /** Checks made by the scenario function. */
  checks: CheckOutcome[];
  /** Thresholds, evaluated over the workloads' results. */
  thresholds: ThresholdOutcome[];
  /** What went wrong, beyond failed checks and thresholds. */
  errors: string[];
  /** Lines logged by the scenario function, with ms since start. */
  log: { atMs: number; message: string }[];
  /**
   * Failed binds of any process in the run's namespaces, from the bind watch
   * (bpf/bind_watch.c), oldest first; null when it did not run.
   */
  bindFailures: ObservedBindFailure[] | null;
  /**
   * The bind watch: whether it ran, why not, events it could not keep (`lost`) and bind()
   * calls it could not follow (`untracked`). With either above 0, `bindFailures` may be
   * short, and thresholds on programs' bind failures count as not measured.
   */
  bindWatch: { active: boolean; reason: string | null; lost: number; untracked: number };
}

/**
 * The report of one `squall run`: every scenario, and a summary. `--json` writes it.
 *
 * @example
 * ```ts
 * import type { RunReport } from "./report.ts";
 * const report: RunReport = {
 *   schemaVersion: 1,
 *   tool: { name: "squall", version: "0.1.0", deno: "2.9.6" },
 *   startedAt: "2025-01-01T00:00:00.000Z",
 *   durationMs: 0,
 *   exitCode: 0,
 *   summary: { total: 0, passed: 0, failed: 0, error: 0, interrupted: 0 },
 *   scenarios: [],
 * };
 * console.assert(report.summary.total === report.scenarios.length);
 * ```
 */
export interface RunReport {
  /** Version of the report format. */
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  /** The tool that wrote it. */
  tool: { name: "squall"; version: string; deno: string };
  /** Wall-clock start, ISO 8601. */
  startedAt: string;
  /** Duration of the whole run, in ms. */
  durationMs: number;
  /** The exit code of the run. */
  exitCode: ExitCode;
  /** Scenarios by outcome. */
  summary: { total: number } & Record<ScenarioStatus, number>;
  /** Each scenario. */
  scenarios: ScenarioReport[];
}

/** Options of {@linkcode runReport}. */
export interface RunReportOptions {
  /**
   * When the run started, ISO 8601.
   * @default {the earliest scenario's startedAt, or now when there is none}
   */
  startedAt?: string;
  /**
   * How long the whole run took, in ms.
   * @default {the sum of the scenarios' durations}
   */
  durationMs?: number;
  /**
   * Whether the run was interrupted (Ctrl-C): the exit code is then 130.
   * @default {false}
   */
  interrupted?: boolean;
}

/**
 * Builds the report of a whole run from its scenario reports: the summary, and the exit
 * code the CLI would give (the worst of theirs).
 *
 * @example
 * ```ts
 * import { runReport } from "./report.ts";
 * const report = runReport([]);
 * console.assert(report.summary.total === 0 && report.exitCode === 0);
 * console.assert(runReport([], { interrupted: true }).exitCode === 130);
 * ```
 */
export function runReport(
  scenarios: ScenarioReport[],
  options: RunReportOptions = {},
): RunReport {
  const startedAt = options.startedAt ??
    (scenarios.map((s) => s.startedAt).sort()[0] ?? new Date().toISOString());
  const durationMs = options.durationMs ?? scenarios.reduce((sum, s) => sum + s.durationMs, 0);
  const interrupted = options.interrupted ?? false;
  const summary = { total: scenarios.length, passed: 0, failed: 0, error: 0, interrupted: 0 };
  for (const s of scenarios) summary[s.status]++;
  const codes = scenarios.map((s) => s.exitCode);
  let exitCode: RunReport["exitCode"] = ExitCode.Pass;
  if (codes.includes(ExitCode.Failed)) exitCode = ExitCode.Failed;
  if (codes.includes(ExitCode.BadInput)) exitCode = ExitCode.BadInput;
  if (codes.includes(ExitCode.Environment)) exitCode = ExitCode.Environment;
  if (interrupted || codes.includes(ExitCode.Interrupted)) exitCode = ExitCode.Interrupted;
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    tool: { name: "squall", version: SQUALL_VERSION, deno: Deno.version.deno },
    startedAt,
    durationMs,
    exitCode,
    summary,
    scenarios,
  };
}
