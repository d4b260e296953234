/**
 * squall: a scriptable network test harness. Write a scenario (hosts, links,
 * workloads, thresholds), run it, read a report of loss and latency between hosts that
 * are real Linux network namespaces.
 *
 * @example
 * ```ts
 * import { scenario, udpEcho, udpProbe } from "./mod.ts";
 *
 * export default scenario("udp echo", {
 *   hosts: ["client", "server"],
 *   links: [["client", "server"]],
 *   workloads: {
 *     echo: { on: "server", run: udpEcho({ port: 7000 }) },
 *     probe: { on: "client", run: udpProbe({ target: "server:7000", count: 2000, rate: 1000 }) },
 *   },
 *   thresholds: { "probe.loss": "< 1%", "probe.rtt.p99": "< 5ms" },
 * });
 * ```
 *
 * Run it with `deno task squall run my_scenario.ts`, or from a test with
 * {@linkcode runScenario}.
 *
 * The exports come in groups: declare, faults, workloads, run, report, errors. A few
 * types are here only because public ones are built from them:
 * - `FaultBase`: the fields every fault has (`direction`, the match).
 * - `HandleOf`, `ResultOf`, `ResultByKind`: the handle `t.start(spec)` returns for a kind
 *   of spec, and the result it gives.
 * - `Plan`, `PlannedHost`, `PlannedInterface`, `PlannedLink`: the addresses and
 *   interface names squall gave a topology, as events and reports show them.
 * - The `*Settings` types: a workload as its agent runs it, the spec's fields with
 *   every duration in milliseconds (what a host backend of your own would pass on).
 *
 * @module
 */

// Declare: a scenario, its hosts and links, and what it may do while it runs.
export {
  type AppliedFault,
  type EchoHandle,
  type HandleOf,
  type HostInfo,
  type LinkHandle,
  type ProgramHandle,
  type ProgramStopOptions,
  type ResultOf,
  type Scenario,
  scenario,
  type ScenarioContext,
  type ScenarioFunction,
  type ScenarioOptions,
  type StopMemberOptions,
  type WorkloadHandle,
  type WorkloadPlacement,
} from "./harness/scenario/scenario.ts";
export type {
  LinkOptions,
  NetworkKind,
  Plan,
  PlannedHost,
  PlannedInterface,
  PlannedLink,
} from "./harness/scenario/topology.ts";
export type { Target } from "./harness/core/addresses.ts";
export type { Duration } from "./harness/core/duration.ts";

// Faults: plain data, applied to links.
export {
  blackhole,
  type BlackholeFault,
  type BlackholeOptions,
  burstLoss,
  type BurstLossFault,
  type BurstLossOptions,
  delay,
  type DelayFault,
  type DelayOptions,
  type Direction,
  duplicate,
  type DuplicateFault,
  type Fault,
  type FaultBase,
  type FaultMatch,
  type FaultOptions,
  loss,
  type LossFault,
  meanBurstLength,
  type QueueLimit,
  type Rate,
  rateLimit,
  type RateLimitFault,
  type RateLimitOptions,
  stationaryLoss,
} from "./harness/scenario/faults.ts";

// Workloads: plain data, run by the agents.
export type { ResultByKind, WorkloadKind, WorkloadSpec } from "./harness/workloads/kinds.ts";
export { udpEcho, type UdpEchoOptions, type UdpEchoSpec } from "./harness/workloads/udp_echo.ts";
export {
  udpProbe,
  type UdpProbeOptions,
  type UdpProbeSpec,
} from "./harness/workloads/udp_probe.ts";
export { tcpEcho, type TcpEchoOptions, type TcpEchoSpec } from "./harness/workloads/tcp_echo.ts";
export {
  tcpProbe,
  type TcpProbeOptions,
  type TcpProbeSpec,
} from "./harness/workloads/tcp_probe.ts";
export {
  type Backoff,
  type BackoffOptions,
  reconnectStorm,
  type ReconnectStormOptions,
  type ReconnectStormSpec,
} from "./harness/workloads/reconnect_storm.ts";
export {
  bindChurn,
  type BindChurnOptions,
  type BindChurnSpec,
} from "./harness/workloads/bind_churn.ts";
export {
  exec,
  type ExecOptions,
  type ExecSpec,
  type ReadyCondition,
} from "./harness/workloads/exec.ts";
export type {
  BackoffSettings,
  ChurnSettings,
  EchoSettings,
  ExecSettings,
  ProbeBaseSettings,
  ProbeSettings,
  ReadySpec,
  StormSettings,
  TcpProbeSettings,
} from "./harness/agent/protocol.ts";

// Run: from a test, or any program of your own.
export { runScenario, type RunScenarioOptions } from "./harness/runner/run.ts";
export type { FlowProgress, RunEvent } from "./harness/runner/events.ts";

// Report: plain data, and its renderings.
export {
  type CheckOutcome,
  type FaultDirectionReport,
  type FaultReport,
  type HostReport,
  type LineTally,
  REPORT_SCHEMA_VERSION,
  type RunReport,
  runReport,
  type RunReportOptions,
  type ScenarioReport,
  type ScenarioStatus,
  type WorkloadReport,
} from "./harness/runner/report.ts";
export type {
  ClockSource,
  EchoFlow,
  GroupSpread,
  LedgerEntry,
  LineDropCause,
  LossLedger,
  OneWayDelays,
  OneWayDirection,
  Outage,
  ProbePacing,
  Timeline,
  UdpEchoResult,
  UdpGroupMember,
  UdpProbeResult,
  WorkloadResult,
} from "./harness/measure/results.ts";
export type {
  ConnectErrorKind,
  ErrorCounts,
  ReconnectStormResult,
  StormAttempt,
  TcpEchoResult,
  TcpGroupMember,
  TcpProbeResult,
  UnservedPeriod,
} from "./harness/measure/tcp_results.ts";
export type {
  BindChurnResult,
  BindFailure,
  ExecResult,
  ObservedBindFailure,
  Orphan,
  PortHolder,
  ProgramRun,
  QueuedAtKill,
} from "./harness/measure/bind_results.ts";
export type { HistogramData, LatencySummary } from "./harness/measure/histogram.ts";
export type { ThresholdOutcome } from "./harness/scenario/threshold.ts";
export { toJUnit } from "./harness/render/junit.ts";
export { renderHtml } from "./harness/render/html.ts";

// Errors: each carries the exit code the CLI gives for it.
export {
  AgentError,
  CommandError,
  EnvironmentError,
  PrivilegeError,
  type Problem,
  ScenarioError,
  SquallError,
  WorkloadError,
} from "./harness/core/errors.ts";
export { ExitCode } from "./harness/core/exit_codes.ts";
