import assert from "node:assert/strict";
import { lookupHolders, lookupHoldersSync, parseSs, ssArgs } from "./holders.ts";

// Every output below was captured from `ss -H -n -a -p -u|-t sport = :PORT` (iproute2
// 6.1.0) with real sockets, byte for byte.

Deno.test("ssArgs() lists every socket on the port, numeric, with processes", () => {
  assert.deepStrictEqual(ssArgs("udp", 7000), [
    "-H",
    "-n",
    "-a",
    "-p",
    "-u",
    "sport",
    "=",
    ":7000",
  ]);
  assert.deepStrictEqual(ssArgs("tcp", 80), ["-H", "-n", "-a", "-p", "-t", "sport", "=", ":80"]);
});

Deno.test("ssArgs() rejects a port out of range and an unknown protocol", () => {
  assert.throws(() => ssArgs("udp", 70000), RangeError);
  assert.throws(() => ssArgs("udp", 1.5), RangeError);
  assert.throws(() => ssArgs("sctp" as "udp", 7000), TypeError);
});

Deno.test("parseSs() reads a UDP socket of a deno process", () => {
  const output =
    'UNCONN 0      0      127.0.0.1:47001 0.0.0.0:* users:(("deno",pid=10148,fd=21))\n';
  assert.deepStrictEqual(parseSs(output, "udp"), [
    { pid: 10148, program: "deno", state: "UNCONN", local: "127.0.0.1:47001", peer: "*" },
  ]);
});

Deno.test("parseSs() reads a TCP listener, a connection and a TIME-WAIT socket without owner", () => {
  const output =
    'LISTEN    0      511    127.0.0.1:47003   0.0.0.0:*     users:(("deno",pid=10148,fd=23))\n' +
    'ESTAB     0      0      127.0.0.1:47003 127.0.0.1:57638 users:(("deno",pid=10148,fd=25))\n' +
    "TIME-WAIT 0      0      127.0.0.1:47003 127.0.0.1:57648                                 \n";
  assert.deepStrictEqual(parseSs(output, "tcp"), [
    { pid: 10148, program: "deno", state: "LISTEN", local: "127.0.0.1:47003", peer: "*" },
    {
      pid: 10148,
      program: "deno",
      state: "ESTAB",
      local: "127.0.0.1:47003",
      peer: "127.0.0.1:57638",
    },
    {
      pid: null,
      program: null,
      state: "TIME-WAIT",
      local: "127.0.0.1:47003",
      peer: "127.0.0.1:57648",
    },
  ]);
});

Deno.test("parseSs() gives one holder per process of a socket shared across fork", () => {
  const output =
    'UNCONN 0      0      127.0.0.1:47011 0.0.0.0:* users:(("python3",pid=10347,fd=3),("python3",pid=10306,fd=3))\n';
  assert.deepStrictEqual(parseSs(output, "udp").map((h) => h.pid), [10347, 10306]);
});

Deno.test("parseSs() gives one holder for a socket open on several fds of one process", () => {
  const output =
    'UNCONN 0      0      127.0.0.1:47021 0.0.0.0:* users:(("python3",pid=18203,fd=4),("python3",pid=18203,fd=3))\n';
  assert.deepStrictEqual(parseSs(output, "udp"), [
    { pid: 18203, program: "python3", state: "UNCONN", local: "127.0.0.1:47021", peer: "*" },
  ]);
});

Deno.test("parseSs() reads IPv6 and wildcard addresses and a connected UDP socket", () => {
  const v6 = parseSs(
    'UNCONN 0      0      *:47012 *:* users:(("python3",pid=10347,fd=4),("python3",pid=10306,fd=4))\n' +
      'LISTEN 0      128    [::1]:47013 [::]:* users:(("python3",pid=10347,fd=5),("python3",pid=10306,fd=5))\n',
    "udp",
  );
  assert.deepStrictEqual(v6.map((h) => [h.local, h.peer]), [
    ["*:47012", "*"],
    ["*:47012", "*"],
    ["[::1]:47013", "*"],
    ["[::1]:47013", "*"],
  ]);
  const connected = parseSs(
    'ESTAB 0      0      127.0.0.1:47022 127.0.0.1:47021 users:(("python3",pid=18203,fd=5))\n',
    "udp",
  );
  assert.deepStrictEqual(connected[0]?.peer, "127.0.0.1:47021");
});

Deno.test("parseSs() skips a header and lines of another protocol", () => {
  const output = "State     Recv-Q Send-Q Local Address:Port  Peer Address:Port Process\n" +
    'udp UNCONN 0 0 127.0.0.1:7000 0.0.0.0:* users:(("a",pid=1,fd=3))\n' +
    'tcp LISTEN 0 4096 127.0.0.1:7000 0.0.0.0:* users:(("b",pid=2,fd=3))\n';
  assert.deepStrictEqual(parseSs(output, "tcp").map((h) => h.program), ["b"]);
  assert.deepStrictEqual(parseSs("", "udp"), []);
});

Deno.test("parseSs() keeps a program name with spaces and brackets", () => {
  const output = 'UNCONN 0 0 0.0.0.0:7000 0.0.0.0:* users:(("my (srv) x",pid=77,fd=9))\n';
  assert.deepStrictEqual(parseSs(output, "udp")[0]?.program, "my (srv) x");
});

Deno.test("parseSs() rejects output it does not understand", () => {
  assert.throws(() => parseSs("Cannot open netlink socket\n", "udp"), SyntaxError);
});

Deno.test("lookupHoldersSync() finds this process holding a UDP port", () => {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const port = (socket.addr as Deno.NetAddr).port;
    const holders = lookupHoldersSync("ss", "udp", port);
    assert.deepStrictEqual(holders.length, 1);
    assert.deepStrictEqual(holders[0]?.pid, Deno.pid);
    assert.deepStrictEqual(holders[0]?.state, "UNCONN");
    assert.deepStrictEqual(holders[0]?.local, `127.0.0.1:${port}`);
    assert(holders[0]?.program?.startsWith("deno"), `program: ${holders[0]?.program}`);
  } finally {
    socket.close();
  }
});

Deno.test("lookupHolders() finds this process listening and both ends of a TCP connection", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  const server = await listener.accept();
  try {
    const holders = await lookupHolders("ss", "tcp", port);
    // The listener and the accepted end have local port `port`; the client does not.
    assert.deepStrictEqual(holders.map((h) => [h.pid, h.state]).sort(), [
      [Deno.pid, "ESTAB"],
      [Deno.pid, "LISTEN"],
    ]);
    const clientPort = (client.localAddr as Deno.NetAddr).port;
    assert.deepStrictEqual(
      holders.find((h) => h.state === "ESTAB")?.peer,
      `127.0.0.1:${clientPort}`,
    );
  } finally {
    client.close();
    server.close();
    listener.close();
  }
});

Deno.test("lookupHolders() runs ss behind a prefix, as inside a namespace", async () => {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const port = (socket.addr as Deno.NetAddr).port;
    const holders = await lookupHolders("ss", "udp", port, [
      "nsenter",
      "-t",
      String(Deno.pid),
      "-n",
    ]);
    assert.deepStrictEqual(holders.map((h) => h.pid), [Deno.pid]);
  } finally {
    socket.close();
  }
});

Deno.test("lookupHolders() reports a failing ss with its stderr", async () => {
  let error: unknown;
  try {
    await lookupHolders("ss", "udp", 7000, ["sh", "-c", "echo boom >&2; exit 3", "--"]);
  } catch (e) {
    error = e;
  }
  assert(error instanceof Error && /exited with code 3: boom/.test(error.message), String(error));
});
