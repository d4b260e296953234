/**
 * The TCP echo workload, as run inside an agent: writes back every byte it reads, on
 * every connection, each served by its own loop reading into one preallocated buffer.
 * It counts connections, the most open at once, bytes, and errors by name: those that
 * ended connections (a reset is one; a clean end of stream is not) and failed accepts.
 *
 * @module
 */

import { type RunningWorkload, runningWorkload } from "./running.ts";
import { Sleeper } from "../core/sleep.ts";
import { countError } from "../native/counts.ts";
import type { TcpEchoResult } from "../measure/tcp_results.ts";

/** Bytes read at most per read; the buffer each connection keeps. */
const BUFFER_BYTES = 16_384;
/** Wait after a failed accept (out of file descriptors, ...) before the next one. */
const ACCEPT_RETRY_MS = 10;

/**
 * Listens on `hostname:port` (port 0: any free port) and echoes until stopped; with
 * `reusePort`, the listener sets SO_REUSEPORT (a member of a group).
 *
 * stop() closes the listener and every open connection, then waits for the pending
 * accept and reads: in Deno the port is free again only once the pending accept has
 * been rejected, so when stop() resolves the port can be listened on at once.
 *
 * @example
 * ```ts
 * import { startTcpEcho } from "./tcp_echo.ts";
 * const echo = await startTcpEcho("127.0.0.1", 0);
 * const result = await echo.stop();
 * console.assert(result.connections === 0);
 * ```
 */
export function startTcpEcho(
  hostname: string,
  port: number,
  reusePort = false,
): Promise<RunningWorkload<TcpEchoResult>> {
  try {
    const listener = Deno.listen({ transport: "tcp", hostname, port, reusePort });
    return Promise.resolve(echo(listener, hostname));
  } catch (error) {
    return Promise.reject(withContext(error, `Cannot listen on TCP "${hostname}:${port}"`));
  }
}

function echo(listener: Deno.TcpListener, hostname: string): RunningWorkload<TcpEchoResult> {
  const address = `${hostname}:${(listener.addr as Deno.NetAddr).port}`;
  const open = new Set<Deno.TcpConn>();
  const serving = new Set<Promise<void>>();
  const errors: Record<string, number> = {};
  let connections = 0;
  let maxConcurrent = 0;
  let bytes = 0;
  let stopping = false;
  /** The waits of the accept loop; shutdown() wakes them. */
  const sleeper = new Sleeper();

  const result = (): TcpEchoResult => ({
    kind: "tcpEcho",
    address,
    connections,
    maxConcurrent,
    bytes,
    errors: { ...errors },
  });

  /** Closes `conn` unless that was done already. */
  function release(conn: Deno.TcpConn): void {
    if (open.delete(conn)) conn.close();
  }

  async function serve(conn: Deno.TcpConn): Promise<void> {
    const buf = new Uint8Array(BUFFER_BYTES);
    try {
      conn.setNoDelay(true);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        bytes += n;
        let written = 0;
        while (written < n) written += await conn.write(buf.subarray(written, n));
      }
    } catch (error) {
      // After stop() closed it, the pending read or write fails: not the peer's doing.
      if (!stopping || open.has(conn)) countError(errors, error);
    } finally {
      release(conn);
    }
  }

  async function acceptLoop(): Promise<void> {
    while (!stopping) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (stopping) return;
        countError(errors, error);
        if (error instanceof Deno.errors.BadResource) throw error;
        await sleeper.sleep(ACCEPT_RETRY_MS);
        continue;
      }
      if (stopping) {
        conn.close();
        return;
      }
      connections++;
      open.add(conn);
      maxConcurrent = Math.max(maxConcurrent, open.size);
      const served: Promise<void> = serve(conn).finally(() => serving.delete(served));
      serving.add(served);
    }
  }

  /** Closes the listener and every connection; the loops then end. */
  function shutdown(): void {
    if (stopping) return;
    stopping = true;
    sleeper.wakeAll();
    try {
      listener.close();
    } catch {
      // Closed already: what made the accept loop fail.
    }
    for (const conn of [...open]) release(conn);
  }

  const accepting = acceptLoop();
  return runningWorkload({
    address,
    run: () => accepting,
    release: async () => {
      shutdown();
      // The rejected accept and reads are what free the port and the sockets.
      await accepting.catch(() => {});
      await Promise.all(serving);
    },
    result,
    halt: shutdown,
  });
}

/** The same error class with `context` in front of its message, and the error as cause. */
function withContext(error: unknown, context: string): unknown {
  if (!(error instanceof Error)) return error;
  const detail = error.message.replace(/ \(os error \d+\)$/, "");
  const ErrorClass = error.constructor as new (message: string, options: ErrorOptions) => Error;
  return new ErrorClass(`${context}: ${detail.charAt(0).toLowerCase()}${detail.slice(1)}`, {
    cause: error,
  });
}
