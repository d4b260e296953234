// A test's stand-in for an agent that holds a dropper: started inside a namespace, it
// attaches a dropper (through harness/agent/droppers.ts, as agents do) to the interface
// it is given, writes "READY", then answers one JSON call a line on stdin
// ({method, params} -> {value} or {error}) until stdin closes.
//
//   deno run -A tests/_window_child.ts <ifname>

import { Droppers } from "../harness/agent/droppers.ts";
import { readLines } from "../harness/agent/protocol.ts";
import { LIBBPF_CANDIDATES } from "../harness/kernel/libbpf.ts";
import { findLibrary, LIBC_CANDIDATES } from "../harness/native/libc.ts";

const ifname = Deno.args[0]!;
using droppers = new Droppers({
  libbpfPath: findLibrary(LIBBPF_CANDIDATES)!,
  libcPath: findLibrary(LIBC_CANDIDATES)!,
}, 1);
await droppers.call("dropper.attach", { ifname });
console.log("READY");
for await (const line of readLines(Deno.stdin.readable)) {
  const { method, params } = JSON.parse(line);
  try {
    const value = await droppers.call(method, { ifname, ...params });
    console.log(JSON.stringify({ value }));
  } catch (error) {
    console.log(JSON.stringify({ error: String(error) }));
  }
}
