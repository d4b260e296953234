// The native UDP echo, from the agent's side: starts the worker, and turns its messages
// into a RunningWorkload. See _native_udp_echo_worker.ts.

import type { RunningWorkload } from "./running.ts";
import type { UdpEchoResult } from "../measure/results.ts";
import {
  CONTROL_SNAPSHOT,
  CONTROL_STOP,
  type NativeEchoMessage,
  type NativeEchoStart,
} from "../native/udp_echo_worker.ts";
import { DELAY_LINE_HERE } from "./_delay_line.ts";

/** Starts the native echo; resolves once it is bound (rejects if it cannot bind). */
export function startNativeUdpEcho(
  hostname: string,
  port: number,
  libcPath: string,
): Promise<RunningWorkload<UdpEchoResult>> {
  const worker = new Worker(new URL("../native/udp_echo_worker.ts", import.meta.url), {
    type: "module",
  });
  const control = new SharedArrayBuffer(8);
  const flags = new Int32Array(control);
  const started = Promise.withResolvers<string>();
  const done = Promise.withResolvers<UdpEchoResult>();
  const snapshots: (PromiseWithResolvers<UdpEchoResult> & { asked: number })[] = [];
  let last: UdpEchoResult | undefined;
  worker.onmessage = (event: MessageEvent<NativeEchoMessage>) => {
    const message = event.data;
    switch (message.type) {
      case "started":
        started.resolve(message.address);
        break;
      case "failed": {
        const ErrorClass =
          (Deno.errors as unknown as Record<string, ErrorConstructor>)[message.name] ?? Error;
        const error = new ErrorClass(message.message);
        started.reject(error);
        done.reject(error);
        worker.terminate();
        break;
      }
      case "snapshot": {
        // One snapshot answers every request made before the worker took it (two asked
        // between two of its looks get one answer, and both are answered by it).
        last = message.result;
        while (snapshots.length > 0 && snapshots[0]!.asked <= message.upTo) {
          snapshots.shift()!.resolve(message.result);
        }
        break;
      }
      case "done":
        last = message.result;
        for (const s of snapshots.splice(0)) s.resolve(message.result);
        done.resolve(message.result);
        worker.terminate();
        break;
    }
  };
  worker.onerror = (event) => {
    event.preventDefault();
    const error = new Error(`The native echo failed: ${event.message}`);
    started.reject(error);
    done.reject(error);
  };
  worker.postMessage(
    {
      hostname,
      port,
      libcPath,
      control,
      lineHere: DELAY_LINE_HERE.buffer,
    } satisfies NativeEchoStart,
  );
  done.promise.catch(() => {});
  return started.promise.then((address) => ({
    address,
    done: done.promise,
    snapshot(): Promise<UdpEchoResult> {
      if (last && Atomics.load(flags, CONTROL_STOP) !== 0) return done.promise;
      const request = Promise.withResolvers<UdpEchoResult>();
      const asked = Atomics.add(flags, CONTROL_SNAPSHOT, 1) + 1;
      snapshots.push({ ...request, asked });
      return request.promise;
    },
    stop() {
      Atomics.store(flags, CONTROL_STOP, 1);
      return done.promise;
    },
  }));
}
