import assert from "node:assert/strict";
import { isIpv4, isLoopbackIpv4, parseTarget } from "./addresses.ts";

Deno.test("parseTarget() splits a host name or an IP address from the port", () => {
  assert.deepEqual(parseTarget("server:7000"), { host: "server", port: 7000 });
  assert.deepEqual(parseTarget("198.18.0.2:53"), { host: "198.18.0.2", port: 53 });
  assert.deepEqual(parseTarget("db_1:65535"), { host: "db_1", port: 65535 });
});

Deno.test("parseTarget() rejects a target without a host, a port, or a valid port", () => {
  assert.deepEqual(parseTarget("server"), { error: 'expected "host:port", got "server"' });
  assert.deepEqual(parseTarget(":7000"), { error: 'expected "host:port", got ":7000"' });
  assert.deepEqual(parseTarget("server:http"), {
    error: 'expected "host:port", got "server:http"',
  });
  assert.deepEqual(parseTarget("server:0"), {
    error: 'port must be a whole number 1-65535, got 0 in "server:0"',
  });
  assert.deepEqual(parseTarget("server:65536"), {
    error: 'port must be a whole number 1-65535, got 65536 in "server:65536"',
  });
});

Deno.test("parseTarget() rejects a value that is not a string, by type", () => {
  assert.deepEqual(parseTarget(7000), { error: 'expected "host:port", got number' });
  assert.deepEqual(parseTarget(undefined), { error: 'expected "host:port", got undefined' });
});

Deno.test("isIpv4() and isLoopbackIpv4() recognise dotted-quad literals", () => {
  assert.equal(isIpv4("198.18.0.2"), true);
  assert.equal(isIpv4("256.0.0.1"), false);
  assert.equal(isIpv4("1.2.3"), false);
  assert.equal(isIpv4("server"), false);
  assert.equal(isLoopbackIpv4("127.0.0.2"), true);
  assert.equal(isLoopbackIpv4("198.18.0.2"), false);
});
