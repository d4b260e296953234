// The packet duplicator in a process of its own, for the truth tests: run inside the
// sending namespace (`nsenter -t <pid> -n deno run -A tests/_dup_child.ts <ifname> <rate>
// [udp-dport]`), it attaches bpf/tc_dup.o to the interface's egress and writes "ready";
// each line on stdin gets the counters back as JSON; stdin closing detaches it.

import { TcDuplicator } from "../harness/kernel/tc_duplicator.ts";

if (import.meta.main) {
  const [ifname, rate, port] = Deno.args;
  using dup = await TcDuplicator.attach(ifname!);
  dup.set({
    rate: Number(rate),
    protocol: port ? 17 : 0,
    dportMin: port ? Number(port) : 0,
    dportMax: port ? Number(port) : 65535,
    source: undefined,
  });
  console.log("ready");
  for await (const _ of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    console.log(JSON.stringify(dup.counters()));
  }
}
