// The parts of harness/kernel/bind_watch.ts that need no BPF: address and errno names, and
// namespace inodes. tests/bind_watch_test.ts runs the watch itself on the kernel.

import assert from "node:assert/strict";
import { errnoName, formatIpv6 } from "./bind_event.ts";
import { namespaceInode } from "./bind_watch.ts";

function ipv6(text: string): Uint8Array {
  // Expands a full eight-group form ("2001:db8:0:0:0:0:0:1") into its 16 bytes.
  const groups = text.split(":").map((g) => parseInt(g, 16));
  assert.equal(groups.length, 8);
  return new Uint8Array(groups.flatMap((g) => [g >> 8, g & 0xff]));
}

Deno.test("formatIpv6() writes the canonical RFC 5952 form", () => {
  assert.equal(formatIpv6(ipv6("0:0:0:0:0:0:0:0")), "::");
  assert.equal(formatIpv6(ipv6("0:0:0:0:0:0:0:1")), "::1");
  assert.equal(formatIpv6(ipv6("2001:db8:0:0:0:0:0:1")), "2001:db8::1");
  assert.equal(formatIpv6(ipv6("2001:db8:0:1:0:0:0:1")), "2001:db8:0:1::1", "longest run");
  assert.equal(formatIpv6(ipv6("2001:db8:0:0:1:0:0:1")), "2001:db8::1:0:0:1", "first of equals");
  assert.equal(formatIpv6(ipv6("2001:db8:0:1:1:1:1:1")), "2001:db8:0:1:1:1:1:1", "one zero stays");
  assert.equal(formatIpv6(ipv6("fe80:0:0:0:0:0:0:0")), "fe80::");
  assert.equal(formatIpv6(ipv6("0:0:0:0:0:ffff:c612:2")), "::ffff:198.18.0.2", "IPv4-mapped");
  assert.throws(() => formatIpv6(new Uint8Array(4)), RangeError);
});

Deno.test("errnoName() names the errors of bind() and numbers the rest", () => {
  assert.equal(errnoName(98), "EADDRINUSE");
  assert.equal(errnoName(99), "EADDRNOTAVAIL");
  assert.equal(errnoName(13), "EACCES");
  assert.equal(errnoName(22), "EINVAL");
  assert.equal(errnoName(200), "errno 200");
});

Deno.test("namespaceInode() reads /proc/<pid>/ns/net and rejects what is not a pid", () => {
  const link = Deno.readLinkSync("/proc/self/ns/net");
  assert.equal(`net:[${namespaceInode(Deno.pid)}]`, link);
  assert.throws(() => namespaceInode(0), RangeError);
  assert.throws(() => namespaceInode(1.5), RangeError);
  assert.throws(() => namespaceInode("1" as unknown as number), TypeError);
  assert.throws(() => namespaceInode(2 ** 30), Deno.errors.NotFound);
});
