/**
 * A program under test for scenarios/udp_rebind.ts: a UDP server that "reloads" its
 * socket every 50 ms, as servers do on a config change: it closes the socket and binds
 * the same port again.
 *
 * The bug: it closes while a `receive()` is pending and binds again at once. In Deno 2.9
 * the port stays taken until the pending receive has been rejected, so the bind fails
 * with "address already in use"; like many servers, it swallows the error and tries
 * again. With `--fixed` it awaits the pending receive after closing, and every bind
 * works the first time.
 *
 * Usage: deno run --allow-net=0.0.0.0 udp_rebind_server.ts <port> [--fixed] [--reloads N]
 */

const port = Number(Deno.args[0]);
const fixed = Deno.args.includes("--fixed");
const at = Deno.args.indexOf("--reloads");
const reloads = at >= 0 ? Number(Deno.args[at + 1]) : 20;

async function bind(): Promise<Deno.DatagramConn> {
  // Swallows the error and tries again a millisecond later (at most 100 times): the bug
  // stays invisible to anyone who only watches the server's output.
  for (let attempt = 0;; attempt++) {
    try {
      return Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port });
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse) || attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}

for (let i = 0; i < reloads; i++) {
  const socket = await bind();
  if (i === 0) console.log(`listening on udp ${port}`);
  const pending = socket.receive().catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.close();
  if (fixed) await pending;
}
console.log(`reloaded ${reloads} times`);
