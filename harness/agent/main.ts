/**
 * The agent: one per host, started by the runner inside the host's network namespace
 * with the smallest permissions that host needs. It reads workload commands as NDJSON
 * on stdin, runs them, and writes events and results as NDJSON on stdout. It exits
 * when stdin closes, so it never outlives the runner.
 *
 * Run by the runner as:
 * `deno run --no-prompt --allow-net=<addresses> --allow-sys=networkInterfaces agent.ts --host client --network namespaces`
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type AgentMessage,
  type AgentWorkload,
  encodeLine,
  readLines,
  type RunnerMessage,
  toWireError,
  type WorkloadControl,
} from "./protocol.ts";
import type { RunningWorkload } from "./running.ts";
import type { WorkloadResult } from "../measure/results.ts";
import { startBindChurn } from "./bind_churn.ts";
import { startReconnectStorm } from "./reconnect_storm.ts";
import { startTcpEcho } from "./tcp_echo.ts";
import { startTcpEchoGroup, startUdpEchoGroup } from "./echo_group.ts";
import { startTcpProbe } from "./tcp_probe.ts";
import { startUdpEcho } from "./udp_echo.ts";
import { startUdpProbe } from "./udp_probe.ts";
import { isLoopbackIpv4 } from "../core/addresses.ts";
import { DelayLines } from "./_delay_line.ts";
import { Duplicators } from "./_duplicators.ts";
import { Droppers } from "./droppers.ts";

/** Prefix of every interface squall creates. */
export const INTERFACE_PREFIX = "sq-";

function send(message: AgentMessage): void {
  const bytes = encodeLine(message);
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

/**
 * Refuses traffic that would leave the machine: in a squall namespace every interface
 * is `lo` or `sq-*`; anywhere else (the host's namespace) only loopback targets pass.
 */
export function checkTarget(network: string, address: string): string | undefined {
  if (isLoopbackIpv4(address)) return undefined;
  if (network !== "namespaces") {
    return `Refusing to send to "${address}" from the host's network namespace: only 127.0.0.0/8 is allowed there`;
  }
  const foreign = Deno.networkInterfaces()
    .map((i) => i.name)
    .find((name) => name !== "lo" && !name.startsWith(INTERFACE_PREFIX));
  if (foreign) {
    return `Refusing to send to "${address}": interface "${foreign}" shows this agent is not in a squall namespace`;
  }
  return undefined;
}

function refuseForeign(network: string, address: string): void {
  const refusal = checkTarget(network, address);
  if (refusal) throw new Deno.errors.PermissionDenied(refusal);
}

function start(
  workload: AgentWorkload,
  network: string,
  libcPath: string | undefined,
): Promise<RunningWorkload> {
  switch (workload.kind) {
    case "udpEcho":
      if (workload.group != null) {
        return startUdpEchoGroup(workload.hostname, workload.port, workload.group, libcPath);
      }
      return startUdpEcho(workload.hostname, workload.port, libcPath);
    case "udpProbe":
      refuseForeign(network, workload.targetAddress);
      return startUdpProbe(workload, libcPath);
    case "tcpEcho":
      if (workload.group != null) {
        return startTcpEchoGroup(workload.hostname, workload.port, workload.group);
      }
      return startTcpEcho(workload.hostname, workload.port);
    case "tcpProbe":
      refuseForeign(network, workload.targetAddress);
      return Promise.resolve(startTcpProbe(workload));
    case "reconnectStorm":
      refuseForeign(network, workload.targetAddress);
      return Promise.resolve(startReconnectStorm(workload));
    case "bindChurn":
      return startBindChurn(workload, libcPath);
    case "exec":
      throw new TypeError("Programs under test are started by the runner, not by agents");
  }
}

/** Restarts or signals a running program under test. */
async function control(
  running: Map<number, Promise<RunningWorkload | undefined>>,
  params: { id: number; control: WorkloadControl },
): Promise<null> {
  const workload = await running.get(params.id);
  if (!workload?.control) {
    throw new TypeError(`Workload ${params.id} is not running, or cannot be controlled`);
  }
  await workload.control(params.control);
  return null;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: "string" },
      network: { type: "string" },
      "bpf-object": { type: "string" },
      libbpf: { type: "string" },
      libc: { type: "string" },
      "preload-droppers": { type: "string" },
    },
  });
  const network = values.network ?? "loopback";
  // A workload is here from its start message on, as a promise: a stop or snapshot that
  // comes while it is still starting waits for it.
  const running = new Map<number, Promise<RunningWorkload | undefined>>();
  // The droppers' programs load (the verifier) from now on, while the runner wires the
  // links; the runner attaches them at setup.
  using droppers = new Droppers(
    values["bpf-object"] && values.libbpf && values.libc
      ? { objectPath: values["bpf-object"], libbpfPath: values.libbpf, libcPath: values.libc }
      : undefined,
    Number(values["preload-droppers"] ?? 0),
  );

  // Delay lines: only where this agent may hold faults (it then has libc and libbpf).
  const lines = new DelayLines(values["bpf-object"] ? values.libc : undefined);
  const duplicators = new Duplicators(
    values["bpf-object"] && values.libbpf && values.libc
      ? { libbpfPath: values.libbpf, libcPath: values.libc }
      : undefined,
  );

  send({ type: "ready", pid: Deno.pid, host: values.host ?? "" });

  for await (const line of readLines(Deno.stdin.readable)) {
    let message: RunnerMessage;
    try {
      message = JSON.parse(line);
    } catch (error) {
      send({ type: "fatal", error: toWireError(error) });
      continue;
    }
    switch (message.op) {
      case "call":
        (message.method === "workload.control"
          ? control(running, message.params as { id: number; control: WorkloadControl })
          : message.method.startsWith("delay.")
          ? lines.call(message.method, message.params as Record<string, unknown>)
          : message.method.startsWith("dup.")
          ? duplicators.call(message.method, message.params as Record<string, unknown>)
          : droppers.call(message.method, message.params as Record<string, unknown>)).then(
            (value) => send({ type: "reply", id: message.id, value }),
            (error) => send({ type: "error", id: message.id, error: toWireError(error) }),
          );
        break;
      case "start": {
        const { id } = message;
        // Through then(): a refusal thrown at once becomes a rejection like any failure.
        const starting = Promise.resolve().then(() =>
          start(message.workload, network, values.libc)
        );
        running.set(
          id,
          starting.then((workload) => {
            send({ type: "started", id, address: workload.address });
            workload.done.then(
              (result) => send({ type: "result", id, result }),
              (error) => send({ type: "failed", id, error: toWireError(error) }),
            ).finally(() => running.delete(id));
            return workload;
          }, (error) => {
            send({ type: "failed", id, error: toWireError(error) });
            running.delete(id);
            return undefined;
          }),
        );
        break;
      }
      case "stop":
        running.get(message.id)?.then((w) => w?.stop()).catch(() => {});
        break;
      case "snapshot": {
        const { id, light } = message;
        running.get(id)?.then(async (w) => {
          if (!w) return;
          const result = await w.snapshot();
          send({ type: "snapshot", id, result: light ? withoutLogs(result) : result });
        }).catch(() => {});
        break;
      }
    }
  }
  // stdin closed: the runner is gone or done. Release every socket, then leave.
  await Promise.allSettled([...running.values()].map(async (w) => (await w)?.stop()));
  await lines.close();
  await duplicators.close();
  droppers[Symbol.dispose]();
  Deno.exit(0);
}

if (import.meta.main) await main(Deno.args);

/** A result without its logs of storm attempts and churn failures (up to 20k entries). */
function withoutLogs(result: WorkloadResult): WorkloadResult {
  switch (result.kind) {
    case "reconnectStorm":
      return { ...result, attemptLog: [] };
    case "bindChurn":
      return { ...result, failureLog: [] };
    default:
      return result;
  }
}
