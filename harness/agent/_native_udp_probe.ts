// The native UDP probe, from the agent's side: starts the worker
// (native/udp_probe_worker.ts), records the samples it sends in batches (histograms,
// timeline, counts: bounded memory whatever the count), and turns them into a
// RunningWorkload like the Deno-socket probe's.

import type { RunningWorkload } from "./running.ts";
import type { ProbeSettings } from "./protocol.ts";
import { ProbeTally } from "./_probe_tally.ts";
import { findOutages } from "../measure/outages.ts";
import type { UdpProbeResult } from "../measure/results.ts";
import {
  BATCH_PERIOD_NS,
  type NativeProbeEnd,
  type NativeProbeMessage,
  type NativeProbeStart,
  PACING_TOLERANCE_NS,
  PROBE_CONTROL_STOP,
  REPLY_FIELDS,
  SEND_FIELDS,
} from "../native/udp_probe_worker.ts";
import { DELAY_LINE_HERE } from "./_delay_line.ts";

/** Starts the native probe; resolves once its socket is bound (rejects if it cannot bind). */
export function startNativeUdpProbe(
  settings: ProbeSettings,
  libcPath: string,
): Promise<RunningWorkload<UdpProbeResult>> {
  const worker = new Worker(new URL("../native/udp_probe_worker.ts", import.meta.url), {
    type: "module",
  });
  const control = new SharedArrayBuffer(4);
  const flags = new Int32Array(control);
  const flowId = crypto.getRandomValues(new Uint32Array(1))[0]!;
  const total = settings.count ??
    Math.max(1, Math.round((settings.durationMs ?? 0) * settings.rate / 1000));
  const plannedMs = (total / settings.rate) * 1000;
  // The same time bounds as the Deno-socket probe (udp_probe.ts).
  const sendLimitMs = settings.pingPong
    ? (settings.durationMs ?? total * settings.timeoutMs + 1000)
    : 2 * plannedMs + 1000;
  const batched = !settings.pingPong && settings.rate > 10_000;
  const toleranceNs = PACING_TOLERANCE_NS + (batched ? BATCH_PERIOD_NS : 0);
  const window = Math.min(1 << 24, settings.rate * settings.timeoutMs / 1000 * 2);

  const started = Promise.withResolvers<string>();
  const done = Promise.withResolvers<UdpProbeResult>();
  let tally: ProbeTally | undefined;
  let baseSec = 0;
  let startNs = 0;
  let end: NativeProbeEnd | undefined;
  let lastSendNs = 0;
  let lastSeenNs = 0;

  const result = (): UdpProbeResult => {
    const t = tally ?? new ProbeTally(0, 0, 1024, toleranceNs);
    const lost = t.sent - t.delivered - t.late;
    const nowNs = end ? startNs + end.wallNs : Math.max(lastSeenNs, startNs);
    const sendEnd = end ? end.sendEndNs : Math.max(lastSendNs, startNs);
    const timeline = t.timeline.toJSON();
    const native = t.native(
      end?.pacing ?? (settings.pingPong ? "ping-pong" : batched ? "batched" : "sleep-spin"),
    );
    const cpuNs = end?.cpuNs ?? 0;
    return {
      kind: "udpProbe",
      address: `${settings.targetAddress}:${settings.targetPort}`,
      flowId,
      startedAt: baseSec * 1000 + startNs / 1e6,
      durationMs: (nowNs - startNs) / 1e6,
      achievedRate: t.sent / Math.max(1e-3, (sendEnd - startNs) / 1e9),
      sent: t.sent,
      delivered: t.delivered,
      lost,
      late: t.late,
      duplicated: t.duplicated,
      reordered: t.reordered,
      foreign: t.foreign,
      echoReceived: null,
      lostOutbound: null,
      lostReturn: null,
      loss: t.sent === 0 ? 0 : lost / t.sent,
      rtt: t.rtt.toJSON(),
      rttSummary: t.rtt.summary(),
      timeline,
      sendErrors: { ...end?.sendErrors },
      stoppedEarly: end?.stoppedEarly ?? false,
      ledger: null,
      outages: findOutages(timeline),
      outboundLossRuns: null,
      measuredBy: "native",
      ...native,
      cpu: { ns: cpuNs, share: end && end.wallNs > 0 ? cpuNs / end.wallNs : 0 },
    };
  };

  const fail = (error: Error) => {
    started.reject(error);
    done.reject(error);
    worker.terminate();
  };

  worker.onmessage = (event: MessageEvent<NativeProbeMessage>) => {
    const message = event.data;
    switch (message.type) {
      case "started":
        baseSec = message.baseSec;
        startNs = message.startNs;
        tally = new ProbeTally(startNs, settings.timeoutMs * 1e6, window, toleranceNs);
        started.resolve(message.address);
        break;
      case "failed": {
        const ErrorClass =
          (Deno.errors as unknown as Record<string, ErrorConstructor>)[message.name] ?? Error;
        fail(new ErrorClass(message.message));
        break;
      }
      case "batch": {
        const t = tally!;
        const { sends, replies } = message;
        for (let i = 0; i < sends.length; i += SEND_FIELDS) {
          t.send(sends[i + 1]!, sends[i + 2]!);
          lastSendNs = sends[i + 1]!;
        }
        for (let i = 0; i < replies.length; i += REPLY_FIELDS) {
          t.reply(
            replies[i]!,
            replies[i + 1]!,
            replies[i + 2]!,
            replies[i + 3]!,
            replies[i + 4]!,
            replies[i + 5]!,
          );
          lastSeenNs = replies[i + 2]!;
        }
        t.foreign += message.foreign;
        break;
      }
      case "done":
        end = message;
        done.resolve(result());
        worker.terminate();
        break;
    }
  };
  worker.onerror = (event) => {
    event.preventDefault();
    fail(new Error(`The native probe failed: ${event.message}`));
  };
  worker.postMessage(
    {
      libcPath,
      hostname: settings.hostname,
      targetAddress: settings.targetAddress,
      targetPort: settings.targetPort,
      flowId,
      total,
      rate: settings.rate,
      size: settings.size,
      timeoutMs: settings.timeoutMs,
      pingPong: settings.pingPong,
      sendLimitMs,
      control,
      lineHere: DELAY_LINE_HERE.buffer,
    } satisfies NativeProbeStart,
  );
  done.promise.catch(() => {});
  return started.promise.then((address) => ({
    address,
    done: done.promise,
    snapshot: () => end ? done.promise : result(),
    stop() {
      Atomics.store(flags, PROBE_CONTROL_STOP, 1);
      return done.promise;
    },
  }));
}
