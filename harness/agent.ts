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
} from "./_protocol.ts";
import type { RunningWorkload } from "./_running.ts";
import { startUdpEcho } from "./udp_echo.ts";
import { startUdpProbe } from "./udp_probe.ts";
import { isLoopbackIpv4 } from "./workloads.ts";

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

function start(workload: AgentWorkload, network: string): RunningWorkload {
  switch (workload.kind) {
    case "udpEcho":
      return startUdpEcho(workload.hostname, workload.port);
    case "udpProbe": {
      const refusal = checkTarget(network, workload.targetAddress);
      if (refusal) throw new Deno.errors.PermissionDenied(refusal);
      return startUdpProbe(workload);
    }
  }
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { host: { type: "string" }, network: { type: "string" } },
  });
  const network = values.network ?? "loopback";
  const running = new Map<number, RunningWorkload>();

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
      case "start": {
        const { id } = message;
        let workload: RunningWorkload;
        try {
          workload = start(message.workload, network);
        } catch (error) {
          send({ type: "failed", id, error: toWireError(error) });
          break;
        }
        running.set(id, workload);
        send({ type: "started", id, address: workload.address });
        workload.done.then(
          (result) => send({ type: "result", id, result }),
          (error) => send({ type: "failed", id, error: toWireError(error) }),
        ).finally(() => running.delete(id));
        break;
      }
      case "stop":
        running.get(message.id)?.stop().catch(() => {});
        break;
      case "snapshot": {
        const workload = running.get(message.id);
        if (workload) send({ type: "snapshot", id: message.id, result: workload.snapshot() });
        break;
      }
    }
  }
  // stdin closed: the runner is gone or done. Release every socket, then leave.
  await Promise.allSettled([...running.values()].map((w) => w.stop()));
  Deno.exit(0);
}

if (import.meta.main) await main(Deno.args);
