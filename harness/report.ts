/**
 * The report: plain data, the same for the terminal, JSON files and tests.
 *
 * @module
 */

import type { ExitCode } from "./exit_codes.ts";
import type { Fault } from "./faults.ts";
import type { ObservedBindFailure, WorkloadResult } from "./results.ts";
import type { ThresholdOutcome } from "./threshold.ts";
import type { NetworkKind, PlannedInterface, PlannedLink } from "./topology.ts";
import type { WorkloadSpec } from "./workloads.ts";

/** Version of the report format; bumped on any incompatible change. */
export const REPORT_SCHEMA_VERSION = 1;

/** squall's version, as written into reports. */
export const SQUALL_VERSION = "0.1.0";

/** How a scenario ended. */
export type ScenarioStatus = "passed" | "failed" | "error" | "interrupted";

/** A host as it ran. */
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

/** A workload as it ran. */
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

/** A fault as it was applied: when, where, and what it did. */
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
  /** When it was applied, in ms since the scenario started. */
  appliedAtMs: number;
  /** When it was removed, or null if it was still on when the run ended. */
  removedAtMs: number | null;
  /** Packets it matched and let through (summed over both directions). */
  passed: number;
  /** Packets it dropped. */
  dropped: number;
}

/** A check made by the scenario function. */
export interface CheckOutcome {
  /** Its name. */
  name: string;
  /** Whether it held. */
  ok: boolean;
  /** Detail given with it. */
  detail?: string;
}

/** The report of one scenario. */
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
  /** The bind watch: whether it ran, why not, and events it could not keep. */
  bindWatch: { active: boolean; reason: string | null; lost: number };
}

/** The report of one `squall run`: every scenario, and a summary. */
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
