// TCP connect time and request round trips, for the delay truth tests:
//   deno run -A tests/_tcp_rtt_child.ts server <ip> <port>   (writes "ready", echoes)
//   deno run -A tests/_tcp_rtt_child.ts client <ip> <port> <requests>
// The client writes one JSON line: connect times and request RTTs in milliseconds.

async function server(ip: string, port: number): Promise<void> {
  const listener = Deno.listen({ hostname: ip, port });
  console.log("ready");
  for await (const conn of listener) {
    (async () => {
      const buffer = new Uint8Array(64);
      try {
        for (;;) {
          const n = await conn.read(buffer);
          if (n === null) break;
          await conn.write(buffer.subarray(0, n));
        }
      } catch {
        // The client went away.
      }
      conn.close();
    })();
  }
}

async function client(ip: string, port: number, requests: number): Promise<void> {
  const connectMs: number[] = [];
  const rttMs: number[] = [];
  for (let c = 0; c < 5; c++) {
    const t0 = performance.now();
    const conn = await Deno.connect({ hostname: ip, port });
    connectMs.push(performance.now() - t0);
    conn.setNoDelay(true);
    const request = new Uint8Array(16);
    const reply = new Uint8Array(16);
    for (let i = 0; i < requests; i++) {
      const t1 = performance.now();
      await conn.write(request);
      let got = 0;
      while (got < 16) {
        const n = await conn.read(reply.subarray(got));
        if (n === null) throw new Error("The server closed the connection");
        got += n;
      }
      rttMs.push(performance.now() - t1);
    }
    conn.close();
  }
  console.log(JSON.stringify({ connectMs, rttMs }));
}

if (import.meta.main) {
  const [mode, ip, port, requests] = Deno.args;
  if (mode === "server") await server(ip!, Number(port));
  else await client(ip!, Number(port), Number(requests ?? 10));
}
