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
 * @module
 */

export {
  type AppliedFault,
  type HandleOf,
  type HostInfo,
  type LinkHandle,
  type ProgramHandle,
  type ResultOf,
  type Scenario,
  scenario,
  type ScenarioContext,
  type ScenarioFunction,
  type ScenarioOptions,
  type WorkloadHandle,
  type WorkloadPlacement,
} from "./harness/scenario/scenario.ts";
export { type WorkloadKind, type WorkloadSpec } from "./harness/workloads/kinds.ts";
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
export {
  blackhole,
  type BlackholeFault,
  type BlackholeOptions,
  burstLoss,
  type BurstLossFault,
  type BurstLossOptions,
  type Direction,
  type Fault,
  type FaultBase,
  type FaultMatch,
  type FaultOptions,
  loss,
  type LossFault,
  meanBurstLength,
  stationaryLoss,
} from "./harness/scenario/faults.ts";
export { type FlowProgress, type RunEvent } from "./harness/runner/events.ts";
export { runScenario, type RunScenarioOptions } from "./harness/runner/run.ts";
export {
  type CheckOutcome,
  type FaultReport,
  type HostReport,
  REPORT_SCHEMA_VERSION,
  type RunReport,
  runReport,
  type ScenarioReport,
  type ScenarioStatus,
  type WorkloadReport,
} from "./harness/runner/report.ts";
export type { ReadySpec } from "./harness/agent/protocol.ts";
export type { Target } from "./harness/core/addresses.ts";
export { toJUnit } from "./harness/render/junit.ts";
export { renderHtml } from "./harness/render/html.ts";
export type {
  BindChurnResult,
  BindFailure,
  ConnectErrorKind,
  EchoFlow,
  ErrorCounts,
  ExecResult,
  LedgerEntry,
  LossLedger,
  ObservedBindFailure,
  PortHolder,
  ProgramRun,
  ReconnectStormResult,
  StormAttempt,
  TcpEchoResult,
  TcpProbeResult,
  Timeline,
  UdpEchoResult,
  UdpProbeResult,
  UnservedPeriod,
  WorkloadResult,
} from "./harness/measure/results.ts";
export type { HistogramData, LatencySummary } from "./harness/measure/histogram.ts";
export type { ThresholdOutcome } from "./harness/scenario/threshold.ts";
export type { Outage } from "./harness/measure/outages.ts";
export { type Duration, formatDuration, parseDuration } from "./harness/core/duration.ts";
export type {
  LinkOptions,
  NetworkKind,
  Plan,
  PlannedHost,
  PlannedInterface,
  PlannedLink,
} from "./harness/scenario/topology.ts";
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
