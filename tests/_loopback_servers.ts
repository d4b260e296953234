// Minimal echo servers on loopback for tests of squall's clients (not squall's own
// echoes, so that a bug there cannot hide one in the client under test).

const LOOPBACK = "127.0.0.1";

/** A server a test started. */
export interface TestServer {
  port: number;
  /** Closes the listener and every connection, and awaits every pending call. */
  close(): Promise<void>;
}

/** A TCP echo on loopback; with `silent`, it reads but never answers. */
export function tcpEcho(port = 0, silent = false): TestServer {
  const listener = Deno.listen({ hostname: LOOPBACK, port });
  const conns = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  async function serve(conn: Deno.Conn): Promise<void> {
    const buf = new Uint8Array(65_536);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        if (silent) continue;
        for (let w = 0; w < n;) w += await conn.write(buf.subarray(w, n));
      }
    } catch {
      // Reset by the client, or closed by close().
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed by close().
      }
    }
  }
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        const handler = serve(conn).finally(() => handlers.delete(handler));
        handlers.add(handler);
      }
    } catch {
      // Closed with an accept pending.
    }
  })();
  return {
    port: listener.addr.port,
    async close() {
      listener.close();
      await accepting;
      for (const conn of conns) conn.close();
      conns.clear();
      await Promise.all(handlers);
    },
  };
}

/** A UDP echo on loopback. */
export function udpEcho(): TestServer {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: LOOPBACK, port: 0 });
  const loop = (async () => {
    const buf = new Uint8Array(65_536);
    try {
      for (;;) {
        const [data, from] = await conn.receive(buf);
        await conn.send(data, from);
      }
    } catch {
      // Closed with a receive pending.
    }
  })();
  return {
    port: (conn.addr as Deno.NetAddr).port,
    async close() {
      conn.close();
      await loop;
    },
  };
}

/** A loopback port nothing listens on. */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: LOOPBACK, port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/**
 * A TCP echo on a free port below the ephemeral range (32768-60999): a client's own
 * ephemeral port can then never be the echo's, which would connect the client to
 * itself while the echo is away.
 */
export function tcpEchoOnFixedPort(): TestServer {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    try {
      return tcpEcho(port);
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
  throw new Error("Cannot find a free port in 20000-29999");
}
