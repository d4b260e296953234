/**
 * The UDP probe workload, as run inside an agent: sends sequence-numbered, timestamped
 * datagrams at a fixed rate and matches the replies. Memory is bounded whatever the
 * packet count: a histogram for round-trip times, a sliding window for duplicates, and
 * a timeline whose interval doubles when it grows too long.
 *
 * @module
 */

import { isProbe, writeHeader } from "../native/probe_packet.ts";
import { type RunningWorkload, runningWorkload } from "./running.ts";
import type { ProbeSettings } from "./protocol.ts";
import { Sleeper } from "../core/sleep.ts";
import { countError } from "../native/counts.ts";
import { SeqWindow } from "../native/seq_window.ts";
import { Histogram } from "../measure/histogram.ts";
import { findOutages } from "../measure/outages.ts";
import type { UdpProbeResult } from "../measure/results.ts";
import { TimelineCounter } from "./_probe_tally.ts";
import { startNativeUdpProbe } from "./_native_udp_probe.ts";

/** Most datagrams sent back to back before the receiver gets a turn. */
const MAX_BURST = 64;
const MAX_DATAGRAM = 65_536;

/**
 * Starts a probe; it finishes by itself once its count or duration is done. Natively
 * when `libcPath` is given and this process may load it (the agent got `--allow-ffi` for
 * it): sends and receives through libc in a worker, with the kernel's timestamps and
 * one-way delay per direction ({@linkcode ./_native_udp_probe.ts}). Otherwise on Deno's
 * sockets (loopback without root); the result says which (`measuredBy`).
 */
export function startUdpProbe(
  settings: ProbeSettings,
  libcPath?: string,
): Promise<RunningWorkload<UdpProbeResult>> {
  if (libcPath && Deno.permissions.querySync({ name: "ffi", path: libcPath }).state === "granted") {
    return startNativeUdpProbe(settings, libcPath);
  }
  return Promise.resolve(startDenoUdpProbe(settings));
}

/** The probe on Deno's sockets: needs only --allow-net. */
export function startDenoUdpProbe(settings: ProbeSettings): RunningWorkload<UdpProbeResult> {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: settings.hostname, port: 0 });
  const address = `${settings.hostname}:${(conn.addr as Deno.NetAddr).port}`;
  const target: Deno.NetAddr = {
    transport: "udp",
    hostname: settings.targetAddress,
    port: settings.targetPort,
  };
  const flowId = crypto.getRandomValues(new Uint32Array(1))[0]!;
  const rtt = new Histogram();
  const window = new SeqWindow(Math.min(1 << 24, settings.rate * settings.timeoutMs / 1000 * 2));
  const timeline = new TimelineCounter();
  const sendErrors: Record<string, number> = {};
  let sent = 0;
  let delivered = 0;
  let late = 0;
  let duplicated = 0;
  let reordered = 0;
  let foreign = 0;
  let startMs = 0;
  let startedAt = 0;
  let endMs = 0;
  let sendEndMs = 0;
  let stopping = false;
  let stoppedEarly = false;
  /** Every wait of the probe; stop() wakes them. */
  const sleeper = new Sleeper();
  /** Wakes the wait for the awaited reply (ping-pong), while there is one. */
  let replied: (() => void) | undefined;

  const result = (): UdpProbeResult => {
    const lost = sent - delivered - late;
    return {
      kind: "udpProbe",
      address: `${settings.targetAddress}:${settings.targetPort}`,
      flowId,
      startedAt,
      durationMs: (endMs || performance.now()) - startMs,
      achievedRate: sent / Math.max(1e-3, ((sendEndMs || performance.now()) - startMs) / 1000),
      sent,
      delivered,
      lost,
      late,
      duplicated,
      reordered,
      foreign,
      echoReceived: null,
      lostOutbound: null,
      lostReturn: null,
      loss: sent === 0 ? 0 : lost / sent,
      rtt: rtt.toJSON(),
      rttSummary: rtt.summary(),
      timeline: timeline.toJSON(),
      sendErrors: { ...sendErrors },
      stoppedEarly,
      ledger: null,
      outages: findOutages(timeline.toJSON()),
      outboundLossRuns: null,
      measuredBy: "deno",
      clock: { send: "user", receive: "user" },
      oneWay: null,
      pacing: null,
      cpu: null,
    };
  };

  async function receiveLoop(): Promise<void> {
    const buf = new Uint8Array(MAX_DATAGRAM);
    const bufView = new DataView(buf.buffer);
    try {
      for (;;) {
        const [data] = await conn.receive(buf);
        const n = data.byteLength;
        const view = data.buffer === buf.buffer && data.byteOffset === 0
          ? bufView
          : new DataView(data.buffer, data.byteOffset, n);
        const now = performance.now();
        if (!isProbe(view, n) || view.getUint32(4) !== flowId) {
          foreign++;
          continue;
        }
        const seq = view.getUint32(8);
        const sentAtMs = view.getFloat64(12);
        if (seq >= sent) {
          foreign++;
          continue;
        }
        const arrival = window.mark(seq);
        if (arrival === "duplicate") {
          duplicated++;
          continue;
        }
        const elapsed = now - sentAtMs;
        if (arrival === "old" || elapsed > settings.timeoutMs) {
          late++;
          timeline.late(sentAtMs - startMs);
          continue;
        }
        if (seq < window.high) reordered++;
        delivered++;
        timeline.delivered(sentAtMs - startMs);
        rtt.record(elapsed * 1e6);
        if (settings.pingPong && seq === sent - 1) replied?.();
      }
    } catch (error) {
      if (!stopping) throw error;
    }
  }

  /** Ping-pong: paces to at most `rate`, sends one datagram, waits for its answer. */
  async function pingPongOnce(view: DataView, packet: Uint8Array, now: number): Promise<void> {
    const next = startMs + sent * (1000 / settings.rate);
    if (now < next) await sleeper.sleep(next - now);
    if (stopping) return;
    const sentAtMs = performance.now();
    writeHeader(view, flowId, sent, sentAtMs);
    const answered = sleeper.sleepUnlessWoken(settings.timeoutMs);
    replied = answered.wake;
    // Not awaited: the reply is what matters, and one event-loop turn less is ~10us less.
    // The packet buffer is rewritten only after the answer (or the timeout).
    conn.send(packet as Uint8Array<ArrayBuffer>, target).catch((error) => {
      if (!stopping) countError(sendErrors, error);
    });
    timeline.sent(sentAtMs - startMs);
    sent++;
    await answered.promise;
    replied = undefined;
  }

  async function sendLoop(): Promise<void> {
    const packet = new Uint8Array(settings.size);
    const view = new DataView(packet.buffer);
    const intervalMs = 1000 / settings.rate;
    // A duration is a count too (rate x duration), so a probe that falls behind catches
    // up rather than sending short; it is bounded in time all the same (stopAt below).
    const total = settings.count ??
      Math.max(1, Math.round((settings.durationMs ?? 0) * settings.rate / 1000));
    startMs = performance.now();
    startedAt = Date.now();
    const plannedMs = (total / settings.rate) * 1000;
    // The time bound: a duration is one; at a fixed rate, twice the planned time (a probe
    // that cannot keep its rate catches up, up to a point); in ping-pong (rate only a
    // ceiling), every datagram timing out. A probe cut short says so: stoppedEarly.
    const stopAt = settings.pingPong
      ? startMs + (settings.durationMs ?? total * settings.timeoutMs + 1000)
      : startMs + 2 * plannedMs + 1000;
    while (!stopping && sent < total) {
      const now = performance.now();
      if (now >= stopAt) break;
      if (settings.pingPong) {
        await pingPongOnce(view, packet, now);
        continue;
      }
      const due = Math.min(total, Math.floor((now - startMs) / intervalMs) + 1);
      let burst = 0;
      while (sent < due && burst < MAX_BURST && !stopping) {
        const sentAtMs = performance.now();
        writeHeader(view, flowId, sent, sentAtMs);
        try {
          await conn.send(packet, target);
        } catch (error) {
          if (stopping) break;
          countError(sendErrors, error);
        }
        timeline.sent(sentAtMs - startMs);
        sent++;
        burst++;
      }
      if (sent >= due) {
        // Note: on a VM, a timer pending while replies are in flight delays their receipt
        // (about 250us p50 at 2000/s here); pingPong mode waits on the reply instead.
        const next = startMs + sent * intervalMs;
        await sleeper.sleep(Math.max(0, next - performance.now()));
      } else {
        await sleeper.sleep(0);
      }
    }
    sendEndMs = performance.now();
    if (sent < total) stoppedEarly = true;
    // Give the last datagram its full timeout to come back.
    if (!stopping) await sleeper.sleep(settings.timeoutMs);
    endMs = performance.now();
  }

  const receiving = receiveLoop();
  return runningWorkload({
    address,
    run: sendLoop,
    release: () => {
      stopping = true;
      conn.close();
      return receiving;
    },
    result,
    halt: () => {
      if (!stopping) {
        stopping = true;
        sleeper.wakeAll();
      }
    },
  });
}
