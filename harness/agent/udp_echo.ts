/**
 * The UDP echo workload, as run inside an agent: sends every datagram back unchanged,
 * and counts the probe datagrams it received per flow. Where the agent may call libc
 * (it was given `--allow-ffi` for exactly libc), the echo runs natively in a worker
 * ({@linkcode ./_native_udp_echo.ts}): blocking recvfrom and sendto answer about 20us
 * sooner than Deno's sockets on our machines. Otherwise it uses Deno's sockets.
 *
 * @module
 */

import { EchoCounter } from "../native/echo_counter.ts";
import { startNativeUdpEcho } from "./_native_udp_echo.ts";
import { type RunningWorkload } from "./running.ts";
import { countError } from "../native/counts.ts";
import type { UdpEchoResult } from "../measure/results.ts";

const MAX_DATAGRAM = 65_536;

/**
 * Binds `hostname:port` and echoes until stopped; natively when `libcPath` is given and
 * this process may load it.
 */
export function startUdpEcho(
  hostname: string,
  port: number,
  libcPath?: string,
): Promise<RunningWorkload<UdpEchoResult>> {
  if (libcPath && Deno.permissions.querySync({ name: "ffi", path: libcPath }).state === "granted") {
    return startNativeUdpEcho(hostname, port, libcPath);
  }
  return Promise.resolve(startDenoUdpEcho(hostname, port));
}

/** The echo on Deno's sockets: needs only --allow-net. */
export function startDenoUdpEcho(hostname: string, port: number): RunningWorkload<UdpEchoResult> {
  const conn = Deno.listenDatagram({ transport: "udp", hostname, port });
  const counter = new EchoCounter(`${hostname}:${(conn.addr as Deno.NetAddr).port}`);
  let stopping = false;
  const onSent = () => counter.replied++;
  const onSendError = (error: unknown) => {
    if (!stopping) countError(counter.sendErrors, error);
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
        // receive() fills the buffer it is given: read the header through its view.
        const view = data.buffer === filled.buffer && data.byteOffset === 0
          ? views.get(filled)!
          : new DataView(data.buffer, data.byteOffset, n);
        const peer = from as Deno.NetAddr;
        counter.datagram(view, n, () => `${peer.hostname}:${peer.port}`);
        spareSending = conn.send(data, from).then(onSent, onSendError);
      }
    } catch (error) {
      if (!stopping) throw error;
      // close() rejects the pending receive; awaiting it is what frees the port.
    }
  }

  const done = loop().then(() => counter.result());
  return {
    address: counter.address,
    done,
    snapshot: () => counter.result(),
    stop() {
      if (!stopping) {
        stopping = true;
        conn.close();
      }
      return done;
    },
  };
}
