import assert from "node:assert/strict";
import {
  allowedAddresses,
  hostLimit,
  type LinkOptions,
  MAX_HOSTS,
  MAX_LINKS,
  newRunId,
  planTopology,
  resolveTarget,
  validateTopology,
} from "./topology.ts";

const CLIENT_SERVER: LinkOptions[] = [["client", "server"]];
const CHAIN: LinkOptions[] = [["client", "router"], ["router", "server"]];

function ipToNumber(ip: string): number {
  return ip.split(".").reduce((n, part) => n * 256 + Number(part), 0);
}

function chainPlan() {
  return planTopology("namespaces", ["client", "router", "server"], CHAIN, "3fa9c1");
}

Deno.test("validateTopology() accepts hosts with links, and hosts alone", () => {
  assert.deepEqual(validateTopology(undefined, ["client", "server"], CLIENT_SERVER, "t"), []);
  assert.deepEqual(validateTopology("namespaces", ["client"], undefined, "t"), []);
  assert.deepEqual(validateTopology("loopback", ["local"], [], "t"), []);
});

Deno.test("validateTopology() rejects an unknown network kind", () => {
  assert.deepEqual(validateTopology("bridge", ["client"], [], "t"), [{
    where: "t.network",
    message: 'expected "namespaces" or "loopback", got "bridge"',
  }]);
});

Deno.test("validateTopology() rejects missing or empty hosts", () => {
  const expected = [{
    where: "t.hosts",
    message: 'expected a non-empty array of host names, such as ["client", "server"]',
  }];
  assert.deepEqual(validateTopology(undefined, [], [], "t"), expected);
  assert.deepEqual(validateTopology(undefined, undefined, [], "t"), expected);
  assert.deepEqual(validateTopology(undefined, "client", [], "t"), expected);
});

Deno.test("validateTopology() rejects a host name that is not a lowercase role name", () => {
  const found = validateTopology(
    undefined,
    ["client", "Server", "1st", "a".repeat(33), 7],
    [],
    "t",
  );
  assert.deepEqual(found.map((p) => p.where), [
    "t.hosts[1]",
    "t.hosts[2]",
    "t.hosts[3]",
    "t.hosts[4]",
  ]);
  assert.match(found[0]!.message, /^host name must be lowercase letters, .* got "Server"$/);
  assert.match(found[3]!.message, /got 7$/);
});

Deno.test("validateTopology() rejects a duplicate host", () => {
  assert.deepEqual(validateTopology(undefined, ["client", "server", "client"], [], "t"), [{
    where: "t.hosts[2]",
    message: 'duplicate host name "client"',
  }]);
});

Deno.test("validateTopology() rejects a link to an unknown host and lists the hosts", () => {
  assert.deepEqual(validateTopology(undefined, ["client", "server"], [["client", "sever"]], "t"), [{
    where: "t.links[0]",
    message: 'unknown host "sever" (hosts: client, server)',
  }]);
});

Deno.test("validateTopology() rejects a link from a host to itself", () => {
  assert.deepEqual(validateTopology(undefined, ["client", "server"], [["client", "client"]], "t"), [
    {
      where: "t.links[0]",
      message: 'a link joins two different hosts, got "client" twice',
    },
  ]);
});

Deno.test("validateTopology() rejects a duplicate link, in either order", () => {
  const hosts = ["client", "server"];
  const same = validateTopology(
    undefined,
    hosts,
    [["client", "server"], ["client", "server"]],
    "t",
  );
  const swapped = validateTopology(
    undefined,
    hosts,
    [["client", "server"], ["server", "client"]],
    "t",
  );
  assert.deepEqual(same, [{
    where: "t.links[1]",
    message: 'duplicate link between "client" and "server"',
  }]);
  assert.deepEqual(swapped, [{
    where: "t.links[1]",
    message: 'duplicate link between "server" and "client"',
  }]);
});

Deno.test("validateTopology() rejects links that are not pairs", () => {
  const found = validateTopology(undefined, ["client", "server"], [["client"], "client"], "t");
  assert.deepEqual(found.map((p) => p.where), ["t.links[0]", "t.links[1]"]);
  assert.deepEqual(validateTopology(undefined, ["client"], "client", "t"), [{
    where: "t.links",
    message: 'expected an array of host pairs, such as [["client", "server"]]',
  }]);
});

Deno.test("validateTopology() rejects more links than interface names allow", () => {
  const hosts = ["a", "b"];
  const links = Array.from({ length: MAX_LINKS + 1 }, () => ["a", "b"]);
  const found = validateTopology(undefined, hosts, links, "t");
  assert.deepEqual(found[0], { where: "t.links", message: "at most 1000 links, got 1001" });
});

Deno.test("validateTopology() rejects a loopback network with two hosts", () => {
  assert.deepEqual(validateTopology("loopback", ["client", "server"], undefined, "t"), [{
    where: "t.hosts",
    message: "a loopback network has exactly one host, got 2",
  }]);
});

Deno.test("validateTopology() rejects a loopback network with links", () => {
  assert.deepEqual(validateTopology("loopback", ["local"], [["local", "local"]], "t"), [{
    where: "t.links",
    message: "a loopback network has no links",
  }]);
});

Deno.test("validateTopology() reports every problem at once", () => {
  const found = validateTopology(
    "bridge",
    ["client", "client", "Server"],
    [["client", "server"], ["client", "client"]],
    "t",
  );
  assert.deepEqual(found.map((p) => p.where), [
    "t.network",
    "t.hosts[1]",
    "t.hosts[2]",
    "t.links[0]",
    "t.links[1]",
  ]);
});

Deno.test("newRunId() makes six hex digits", () => {
  assert.match(newRunId(), /^[0-9a-f]{6}$/);
});

Deno.test("planTopology() gives link 0 the addresses .1 and .2 of 198.18.0.0/30", () => {
  const plan = planTopology("namespaces", ["client", "server"], CLIENT_SERVER, "3fa9c1");
  assert.deepEqual(plan.links, [{
    index: 0,
    subnet: "198.18.0.0/30",
    hosts: ["client", "server"],
    interfaces: ["sq-3fa9c1-0a", "sq-3fa9c1-0b"],
  }]);
  const [client, server] = plan.hosts;
  assert.deepEqual(client, {
    name: "client",
    address: "198.18.0.1",
    interfaces: [{
      name: "sq-3fa9c1-0a",
      address: "198.18.0.1",
      prefixLength: 30,
      mac: "02:73:71:00:00:0a",
      link: 0,
      peerHost: "server",
      peerAddress: "198.18.0.2",
      peerMac: "02:73:71:00:00:0b",
    }],
  });
  assert.equal(server?.address, "198.18.0.2");
  assert.equal(server?.interfaces[0]?.peerAddress, "198.18.0.1");
});

Deno.test("planTopology() gives link 1 the addresses .5 and .6 of 198.18.0.4/30", () => {
  const plan = chainPlan();
  assert.equal(plan.links[1]?.subnet, "198.18.0.4/30");
  const router = plan.hosts.find((h) => h.name === "router")!;
  assert.deepEqual(router.interfaces.map((i) => [i.address, i.peerAddress]), [
    ["198.18.0.2", "198.18.0.1"],
    ["198.18.0.5", "198.18.0.6"],
  ]);
  assert.equal(router.address, "198.18.0.2");
  assert.equal(plan.hosts.find((h) => h.name === "server")?.address, "198.18.0.6");
});

Deno.test("planTopology() keeps every address inside 198.18.0.0/15, even with the most links", () => {
  const links = Array.from({ length: MAX_LINKS }, (_, i) => [`h${i}`, `g${i}`] as const);
  const hosts = links.flat();
  const plan = planTopology("namespaces", hosts, links, "3fa9c1");
  const low = ipToNumber("198.18.0.0");
  const high = ipToNumber("198.19.255.255");
  const addresses = plan.hosts.flatMap((h) => h.interfaces.map((i) => i.address));
  assert.equal(addresses.length, 2 * MAX_LINKS);
  assert.equal(new Set(addresses).size, addresses.length);
  for (const address of addresses) {
    const n = ipToNumber(address);
    assert.ok(n > low && n < high, `${address} is outside 198.18.0.0/15`);
  }
});

Deno.test("planTopology() names interfaces sq-<run id>-..., at most 15 characters up to link 999", () => {
  const links = Array.from({ length: MAX_LINKS }, () => ["a", "b"] as const);
  const plan = planTopology("namespaces", ["a", "b"], links, "3fa9c1");
  const names = plan.links.flatMap((l) => l.interfaces);
  assert.equal(names.length, 2 * MAX_LINKS);
  assert.equal(new Set(names).size, names.length);
  for (const name of names) {
    assert.ok(name.startsWith("sq-"), name);
    assert.ok(name.includes("3fa9c1"), name);
    assert.ok(name.length <= 15, `${name} is ${name.length} characters`);
  }
  assert.deepEqual(plan.links[999]?.interfaces, ["sq-3fa9c1-999a", "sq-3fa9c1-999b"]);
});

Deno.test("planTopology() gives every link end its own locally administered MAC", () => {
  const links = Array.from({ length: MAX_LINKS }, () => ["a", "b"] as const);
  const plan = planTopology("namespaces", ["a", "b"], links, "3fa9c1");
  const macs = plan.hosts.flatMap((h) => h.interfaces.map((i) => i.mac));
  assert.equal(macs.length, 2 * MAX_LINKS);
  assert.equal(new Set(macs).size, macs.length);
  for (const mac of macs) assert.match(mac, /^02(:[0-9a-f]{2}){5}$/);
});

Deno.test("planTopology() puts the one loopback host on 127.0.0.1", () => {
  const plan = planTopology("loopback", ["local"], [], "3fa9c1");
  assert.deepEqual(plan, {
    runId: "3fa9c1",
    network: "loopback",
    hosts: [{ name: "local", address: "127.0.0.1", interfaces: [] }],
    links: [],
  });
});

Deno.test("resolveTarget() resolves a host name to its address on the shared link", () => {
  const plan = chainPlan();
  assert.deepEqual(resolveTarget(plan, "client", { host: "router", port: 53 }), {
    address: "198.18.0.2",
    port: 53,
  });
  assert.deepEqual(resolveTarget(plan, "server", { host: "router", port: 53 }), {
    address: "198.18.0.5",
    port: 53,
  });
});

Deno.test("resolveTarget() resolves a host's own name to 127.0.0.1", () => {
  assert.deepEqual(resolveTarget(chainPlan(), "client", { host: "client", port: 7000 }), {
    address: "127.0.0.1",
    port: 7000,
  });
});

Deno.test("resolveTarget() rejects a host with no link to the source", () => {
  assert.deepEqual(resolveTarget(chainPlan(), "client", { host: "server", port: 7000 }), {
    error: 'no link between "client" and "server"',
  });
});

Deno.test("resolveTarget() rejects an unknown host and lists the hosts", () => {
  assert.deepEqual(resolveTarget(chainPlan(), "client", { host: "sever", port: 7000 }), {
    error: 'unknown host "sever" (hosts: client, router, server)',
  });
  assert.deepEqual(resolveTarget(chainPlan(), "nobody", { host: "server", port: 7000 }), {
    error: 'unknown host "nobody"',
  });
});

Deno.test("resolveTarget() accepts the IP address of a peer, its own, or loopback", () => {
  const plan = chainPlan();
  for (const host of ["198.18.0.2", "198.18.0.1", "127.0.0.1"]) {
    assert.deepEqual(resolveTarget(plan, "client", { host, port: 7000 }), {
      address: host,
      port: 7000,
    });
  }
});

Deno.test("resolveTarget() rejects an IP address that is not on any link of the host", () => {
  assert.deepEqual(resolveTarget(chainPlan(), "client", { host: "198.18.0.6", port: 7000 }), {
    error: '"198.18.0.6" is not on any link of host "client" (its peers: 198.18.0.2)',
  });
  const alone = planTopology("namespaces", ["client"], [], "3fa9c1");
  assert.deepEqual(resolveTarget(alone, "client", { host: "10.0.0.1", port: 7000 }), {
    error: '"10.0.0.1" is not on any link of host "client" (its peers: none)',
  });
});

Deno.test("resolveTarget() on loopback accepts its own host name, localhost and 127.0.0.0/8", () => {
  const plan = planTopology("loopback", ["local"], [], "3fa9c1");
  assert.deepEqual(resolveTarget(plan, "local", { host: "local", port: 7000 }), {
    address: "127.0.0.1",
    port: 7000,
  });
  assert.deepEqual(resolveTarget(plan, "local", { host: "localhost", port: 7000 }), {
    address: "127.0.0.1",
    port: 7000,
  });
  assert.deepEqual(resolveTarget(plan, "local", { host: "127.0.0.2", port: 7000 }), {
    address: "127.0.0.2",
    port: 7000,
  });
});

Deno.test("resolveTarget() on loopback rejects other names and addresses", () => {
  const plan = planTopology("loopback", ["local"], [], "3fa9c1");
  for (const host of ["server", "198.18.0.1"]) {
    assert.deepEqual(resolveTarget(plan, "local", { host, port: 7000 }), {
      error: `a loopback scenario can only reach "local" or 127.0.0.0/8, got "${host}"`,
    });
  }
});

Deno.test("allowedAddresses() on namespaces allows the wildcard, loopback, own and peer addresses", () => {
  const plan = chainPlan();
  assert.deepEqual(allowedAddresses(plan, "client"), [
    "0.0.0.0",
    "127.0.0.0/8",
    "198.18.0.1",
    "198.18.0.2",
  ]);
  assert.deepEqual(allowedAddresses(plan, "router"), [
    "0.0.0.0",
    "127.0.0.0/8",
    "198.18.0.2",
    "198.18.0.1",
    "198.18.0.5",
    "198.18.0.6",
  ]);
});

Deno.test("allowedAddresses() on loopback allows 127.0.0.0/8 only", () => {
  const plan = planTopology("loopback", ["local"], [], "3fa9c1");
  assert.deepEqual(allowedAddresses(plan, "local"), ["127.0.0.0/8"]);
});

// resolveTarget() accepts any address in 127.0.0.0/8, so --allow-net must cover all of
// it, or a probe to "127.0.0.2:7000" would pass validation and fail at run time.
Deno.test("allowedAddresses() covers every loopback address resolveTarget() accepts", () => {
  for (const plan of [planTopology("loopback", ["client"], [], "3fa9c1"), chainPlan()]) {
    const resolved = resolveTarget(plan, "client", { host: "127.0.0.2", port: 7000 });
    assert.ok("address" in resolved && resolved.address.startsWith("127."));
    assert.ok(allowedAddresses(plan, "client").includes("127.0.0.0/8"));
  }
});

Deno.test("validateTopology() limits hosts by what this machine's memory holds, and says why", () => {
  const hosts = Array.from({ length: 200 }, (_, i) => `h${i}`);
  assert.deepEqual(validateTopology(undefined, hosts, [], "t", 24 * 2 ** 30), [{
    where: "t.hosts",
    message:
      "at most 192 hosts on this machine, got 200: each host's agent takes about 64 MiB, and squall uses at most half of this machine's 24.0 GiB for them",
  }]);
  assert.deepEqual(validateTopology(undefined, hosts.slice(0, 192), [], "t", 24 * 2 ** 30), []);
  const many = Array.from({ length: MAX_HOSTS + 1 }, (_, i) => `h${i}`);
  assert.deepEqual(validateTopology(undefined, many, [], "t", null), [{
    where: "t.hosts",
    message: `at most ${MAX_HOSTS} hosts, got ${MAX_HOSTS + 1}`,
  }]);
  assert.equal(hostLimit(2 ** 40), MAX_HOSTS);
  assert.equal(hostLimit(0), 1);
});
