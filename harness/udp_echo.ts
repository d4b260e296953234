/**
 * The UDP echo workload, as run inside an agent: sends every datagram back unchanged,
 * and counts the probe datagrams it received per flow.
 *
 * @module
 */

import { isProbe } from "./_probe_packet.ts";
import { SeqWindow } from "./_seq_window.ts";
import type { EchoFlow, UdpEchoResult } from "./results.ts";
import { countError, type RunningWorkload } from "./_running.ts";

const MAX_DATAGRAM = 65_536;
const FLOW_WINDOW = 1 << 16;

interface FlowState {
  flow: EchoFlow;
  window: SeqWindow;
}

/** Binds `hostname:port` and echoes until stopped. */
export function startUdpEcho(hostname: string, port: number): RunningWorkload<UdpEchoResult> {
  const conn = Deno.listenDatagram({ transport: "udp", hostname, port });
  const address = `${hostname}:${(conn.addr as Deno.NetAddr).port}`;
  const flows = new Map<number, FlowState>();
  let last: FlowState | undefined;
  const sendErrors: Record<string, number> = {};
  let received = 0;
  let replied = 0;
  let stopping = false;

  const result = (): UdpEchoResult => ({
    kind: "udpEcho",
    address,
    received,
    replied,
    sendErrors: { ...sendErrors },
    flows: [...flows.values()].map((f) => ({ ...f.flow })),
  });

  const onSent = () => replied++;
  const onSendError = (error: unknown) => {
    if (!stopping) countError(sendErrors, error);
  };

  async function loop(): Promise<void> {
    // Two buffers: the next receive is posted before the reply is sent, so the
    // socket always has a reader waiting (this cuts the round trip by ~15%).
    // A buffer is received into again only once the reply sent from it has gone.
    let current = new Uint8Array(MAX_DATAGRAM);
    let spare = new Uint8Array(MAX_DATAGRAM);
    let spareSending: Promise<unknown> = Promise.resolve();
    const views = new Map([current, spare].map((b) => [b, new DataView(b.buffer)]));
    let pending = conn.receive(current);
    try {
      for (;;) {
        const [data, from] = await pending;
        const n = data.byteLength;
        const filled = current;
        current = spare;
        spare = filled;
        await spareSending;
        pending = conn.receive(current);
        received++;
        // receive() fills the buffer it is given: read the header through its view.
        const view = data.buffer === filled.buffer && data.byteOffset === 0
          ? views.get(filled)!
          : new DataView(data.buffer, data.byteOffset, n);
        if (isProbe(view, n)) count(view, from as Deno.NetAddr);
        spareSending = conn.send(data, from).then(onSent, onSendError);
      }
    } catch (error) {
      if (!stopping) throw error;
      // close() rejects the pending receive; awaiting it is what frees the port.
    }
  }

  function count(view: DataView, from: Deno.NetAddr): void {
    const flowId = view.getUint32(4);
    let state = last?.flow.flowId === flowId ? last : flows.get(flowId);
    if (!state) {
      state = {
        flow: {
          flowId,
          from: `${from.hostname}:${from.port}`,
          received: 0,
          duplicated: 0,
          lossRuns: 0,
          lossRunPackets: 0,
        },
        window: new SeqWindow(FLOW_WINDOW),
      };
      flows.set(flowId, state);
    }
    const seq = view.getUint32(8);
    const gap = seq - state.window.high - 1;
    if (gap > 0) {
      state.flow.lossRuns++;
      state.flow.lossRunPackets += gap;
    }
    last = state;
    const arrival = state.window.mark(seq);
    if (arrival === "duplicate") state.flow.duplicated++;
    else state.flow.received++;
  }

  const done = loop().then(result);
  return {
    address,
    done,
    snapshot: result,
    stop() {
      if (!stopping) {
        stopping = true;
        conn.close();
      }
      return done;
    },
  };
}
