// What an echo counts: datagrams received and sent back, and per probe flow the distinct
// datagrams, duplicates and gaps. Shared by the Deno-socket echo and the native one.

import { isProbe } from "./probe_packet.ts";
import { SeqWindow } from "./seq_window.ts";
import type { EchoFlow, UdpEchoResult } from "../measure/results.ts";

const FLOW_WINDOW = 1 << 16;

interface FlowState {
  flow: EchoFlow;
  window: SeqWindow;
}

/** The counts of one echo. */
export class EchoCounter {
  readonly address: string;
  received = 0;
  replied = 0;
  readonly sendErrors: Record<string, number> = {};
  #flows = new Map<number, FlowState>();
  #last: FlowState | undefined;

  constructor(address: string) {
    this.address = address;
  }

  /**
   * Counts one datagram read only to be thrown away: it was queued in a socket that is
   * being closed (a group member stopped), so it is lost, not received.
   */
  discard(view: DataView, n: number, from: () => string): void {
    if (!isProbe(view, n)) return;
    const state = this.#flow(view.getUint32(4), from);
    state.flow.discarded = (state.flow.discarded ?? 0) + 1;
  }

  #flow(flowId: number, from: () => string): FlowState {
    let state = this.#last?.flow.flowId === flowId ? this.#last : this.#flows.get(flowId);
    if (!state) {
      state = {
        flow: {
          flowId,
          from: from(),
          received: 0,
          duplicated: 0,
          lossRuns: 0,
          lossRunPackets: 0,
          highestSeq: -1,
        },
        window: new SeqWindow(FLOW_WINDOW),
      };
      this.#flows.set(flowId, state);
    }
    return state;
  }

  /** Counts one datagram of `n` bytes read through `view`, from `from` (`ip:port`). */
  datagram(view: DataView, n: number, from: () => string): void {
    this.received++;
    if (!isProbe(view, n)) return;
    const state = this.#flow(view.getUint32(4), from);
    this.#last = state;
    const seq = view.getUint32(8);
    const gap = seq - state.window.high - 1;
    if (gap > 0) {
      state.flow.lossRuns++;
      state.flow.lossRunPackets += gap;
    }
    if (state.window.mark(seq) === "duplicate") state.flow.duplicated++;
    else state.flow.received++;
    state.flow.highestSeq = state.window.high;
  }

  /** The counts as a result. */
  result(): UdpEchoResult {
    return {
      kind: "udpEcho",
      address: this.address,
      received: this.received,
      replied: this.replied,
      sendErrors: { ...this.sendErrors },
      flows: [...this.#flows.values()].map((f) => ({ ...f.flow })),
    };
  }
}
