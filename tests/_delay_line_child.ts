// A delay line in a process of its own, for the truth tests: run inside the receiving
// namespace (`nsenter -t <pid> -n deno run -A tests/_delay_line_child.ts <queue>`), it
// starts the line's worker and takes JSON lines on stdin:
//   {"op":"config","config":LineConfig,"effectiveAtMs":0}  -> {"ok":true}
//   {"op":"counters"}                                      -> LineCounters
//   {"op":"stop","mode":"drop"|"drain"}                    -> LineCounters, then exits
// It writes "ready" once the queue is bound. Its stdin closing stops it (drop).

import { findLibrary, LIBC_CANDIDATES } from "../harness/native/libc.ts";
import {
  createShared,
  readCounters,
  STOP_DRAIN,
  STOP_DROP,
  writeConfig,
} from "../harness/native/delay_line_control.ts";
import type { DelayLineMessage, DelayLineStart } from "../harness/native/delay_line_worker.ts";

async function main(args: string[]): Promise<void> {
  const queue = Number(args[0] ?? 1);
  const shared = createShared();
  const worker = new Worker(
    new URL("../harness/native/delay_line_worker.ts", import.meta.url),
    { type: "module" },
  );
  const started = Promise.withResolvers<void>();
  const stopped = Promise.withResolvers<void>();
  worker.onmessage = (event: MessageEvent<DelayLineMessage>) => {
    const m = event.data;
    if (m.type === "started") started.resolve();
    else if (m.type === "failed") {
      console.error(`delay line failed: ${m.name}: ${m.message}`);
      started.reject(new Error(m.message));
      stopped.resolve();
    } else stopped.resolve();
  };
  worker.postMessage(
    {
      queue,
      libcPath: findLibrary(LIBC_CANDIDATES)!,
      shared,
      priority: Number(args[1] ?? 0),
      maxLength: Number(args[2] ?? 65_536),
    } satisfies DelayLineStart,
  );
  await started.promise;
  console.log("ready");
  const decoder = new TextDecoder();
  let text = "";
  let stopping = false;
  for await (const chunk of Deno.stdin.readable) {
    text += decoder.decode(chunk, { stream: true });
    let newline;
    while ((newline = text.indexOf("\n")) >= 0) {
      const line = text.slice(0, newline);
      text = text.slice(newline + 1);
      const command = JSON.parse(line);
      if (command.op === "config") {
        writeConfig(shared, command.config, command.effectiveAtMs ?? 0);
        console.log(JSON.stringify({ ok: true }));
      } else if (command.op === "counters") {
        console.log(JSON.stringify(readCounters(shared)));
      } else if (command.op === "stop") {
        Atomics.store(shared.control, 0, command.mode === "drain" ? STOP_DRAIN : STOP_DROP);
        await stopped.promise;
        console.log(JSON.stringify(readCounters(shared)));
        stopping = true;
      }
    }
    if (stopping) break;
  }
  if (!stopping) {
    Atomics.store(shared.control, 0, STOP_DROP);
    await stopped.promise;
  }
  worker.terminate();
  Deno.exit(0);
}

if (import.meta.main) await main(Deno.args);
