import assert from "node:assert/strict";
import type { Duration } from "../core/duration.ts";
import type { Problem } from "../core/errors.ts";
import {
  isScenario,
  type Scenario,
  scenario,
  type ScenarioFunction,
  type ScenarioOptions,
  validateScenario,
  type ValidScenario,
} from "./scenario.ts";
import { udpEcho } from "../workloads/udp_echo.ts";
import { tcpEcho } from "../workloads/tcp_echo.ts";
import { udpProbe } from "../workloads/udp_probe.ts";
import { exec } from "../workloads/exec.ts";

const WHERE = "scenarios/x.ts";

function valid(s: Scenario): ValidScenario {
  const result = validateScenario(s, WHERE);
  assert.ok(result.ok, `expected a valid scenario, got ${JSON.stringify(result)}`);
  return result.value;
}

function problems(s: Scenario): Problem[] {
  const result = validateScenario(s, WHERE);
  assert.ok(!result.ok, "expected problems, got a valid scenario");
  return result.problems;
}

function echoAndProbe(overrides: Partial<ScenarioOptions> = {}): ScenarioOptions {
  return {
    hosts: ["client", "server"],
    links: [["client", "server"]],
    workloads: {
      probe: { on: "client", run: udpProbe({ target: "server:7000", count: 1000, rate: 500 }) },
      echo: { on: "server", run: udpEcho({ port: 7000 }) },
    },
    thresholds: { "probe.loss": "< 1%", "probe.rtt.p99": "< 5ms" },
    ...overrides,
  };
}

const drive: ScenarioFunction = () => {};

Deno.test("scenario() returns frozen plain data that isScenario() recognises", () => {
  const s = scenario("udp echo", echoAndProbe());
  assert.equal(s.kind, "squall.scenario");
  assert.equal(s.fn, undefined);
  assert.ok(Object.isFrozen(s));
  assert.equal(isScenario(s), true);
  assert.equal(isScenario({ name: "udp echo" }), false);
  assert.equal(isScenario(null), false);
});

Deno.test("validateScenario() accepts a valid scenario and starts servers first", () => {
  const v = valid(scenario("udp echo", echoAndProbe()));
  assert.deepEqual(v.workloads.map((w) => w.name), ["echo", "probe"]);
  assert.equal(v.network, "namespaces");
  assert.deepEqual(v.hosts, ["client", "server"]);
  assert.deepEqual(v.links, [["client", "server"]]);
  assert.equal(v.timeoutMs, 60_000);
  assert.deepEqual(v.thresholds.map((t) => [t.key, t.limit]), [
    ["probe.loss", 0.01],
    ["probe.rtt.p99", 5],
  ]);
});

Deno.test("validateScenario() keeps the declared order among servers and among the rest", () => {
  const v = valid(scenario("two of each", {
    hosts: ["client", "server"],
    links: [["client", "server"]],
    workloads: {
      first: { on: "client", run: udpProbe({ target: "server:7000", count: 10 }) },
      a: { on: "server", run: udpEcho({ port: 7000 }) },
      second: { on: "client", run: udpProbe({ target: "server:7001", count: 10 }) },
      b: { on: "server", run: udpEcho({ port: 7001 }) },
    },
  }));
  assert.deepEqual(v.workloads.map((w) => w.name), ["a", "b", "first", "second"]);
});

Deno.test("validateScenario() reads the timeout in milliseconds", () => {
  assert.equal(valid(scenario("s", echoAndProbe({ timeout: "2m" }))).timeoutMs, 120_000);
});

Deno.test("validateScenario() accepts a loopback scenario probing its own host", () => {
  const v = valid(scenario("loopback", {
    network: "loopback",
    hosts: ["local"],
    workloads: {
      echo: { on: "local", run: udpEcho({ port: 17000 }) },
      probe: { on: "local", run: udpProbe({ target: "local:17000", duration: "1s" }) },
    },
  }));
  assert.equal(v.network, "loopback");
  assert.deepEqual(v.links, []);
});

Deno.test("validateScenario() lists every problem at once, each naming its field", () => {
  const found = problems(scenario("broken", {
    hosts: ["client", "server", "client"],
    links: [["client", "sever"]],
    workloads: {
      probe: { on: "client", run: udpProbe({ target: "server:7000", count: 100, rate: 0 }) },
    },
    thresholds: { "probe.loss": "less than 2", "probe.los": "< 1%" },
  }));
  assert.deepEqual(found.map((p) => p.where), [
    "scenarios/x.ts: options.hosts[2]",
    "scenarios/x.ts: options.links[0]",
    "scenarios/x.ts: options.workloads.probe.run.rate",
    'scenarios/x.ts: options.thresholds["probe.loss"]',
    'scenarios/x.ts: options.thresholds["probe.los"]',
  ]);
  const messages = found.map((p) => p.message);
  assert.equal(messages[0], 'duplicate host name "client"');
  assert.equal(messages[1], 'unknown host "sever" (hosts: client, server)');
  assert.match(messages[2]!, /^rate must be above 0/);
  assert.match(messages[3]!, /^expected a comparison such as "< 2%"/);
  assert.match(
    messages[4]!,
    /^"probe" is a udpProbe, which has no metric "los"; did you mean "lost" or "loss"\? \(it has: sent, /,
  );
});

Deno.test("validateScenario() rejects a scenario without a name", () => {
  assert.deepEqual(problems(scenario(" ", echoAndProbe())), [{
    where: "scenarios/x.ts: name",
    message: "a scenario needs a non-empty name",
  }]);
});

Deno.test("validateScenario() rejects a workload on an unknown host", () => {
  const options = echoAndProbe({
    workloads: { echo: { on: "sever", run: udpEcho({ port: 7000 }) } },
    thresholds: {},
  });
  const found = problems(scenario("s", options));
  assert.deepEqual(found, [{
    where: "scenarios/x.ts: options.workloads.echo.on",
    message: 'unknown host "sever" (hosts: client, server)',
  }]);
});

Deno.test("validateScenario() rejects a threshold on an undeclared workload when there is no function", () => {
  const options = echoAndProbe({ thresholds: { "flood.loss": "< 1%" } });
  assert.deepEqual(problems(scenario("s", options)), [{
    where: 'scenarios/x.ts: options.thresholds["flood.loss"]',
    message: 'no workload named "flood" (workloads: echo, probe)',
  }]);
});

Deno.test("validateScenario() accepts a threshold on an undeclared workload when a function may start it", () => {
  const options = echoAndProbe({ thresholds: { "flood.loss": "< 1%" } });
  const v = valid(scenario("s", options, drive));
  assert.deepEqual(v.thresholds.map((t) => t.workload), ["flood"]);
});

Deno.test("validateScenario() rejects a threshold metric the declared workload's kind lacks", () => {
  const options = echoAndProbe({ thresholds: { "echo.loss": "< 1%" } });
  const expected = [{
    where: 'scenarios/x.ts: options.thresholds["echo.loss"]',
    message:
      '"echo" is a udpEcho, which has no metric "loss" (it has: received, replied, group.idle, group.maxOverEven, group.discarded)',
  }];
  assert.deepEqual(problems(scenario("s", options)), expected);
  assert.deepEqual(problems(scenario("s", options, drive)), expected);
});

Deno.test("validateScenario() rejects a probe target with no link from its host", () => {
  const found = problems(scenario("s", {
    hosts: ["client", "server", "other"],
    links: [["client", "server"]],
    workloads: {
      echo: { on: "server", run: udpEcho({ port: 7000 }) },
      probe: { on: "other", run: udpProbe({ target: "server:7000", count: 10 }) },
    },
  }));
  assert.deepEqual(found, [{
    where: "scenarios/x.ts: options.workloads.probe.run.target",
    message: 'no link between "other" and "server"',
  }]);
});

Deno.test("validateScenario() rejects a probe target on an unknown host", () => {
  const options = echoAndProbe({
    workloads: { probe: { on: "client", run: udpProbe({ target: "sever:7000", count: 10 }) } },
    thresholds: {},
  });
  const found = problems(scenario("s", options));
  assert.deepEqual(found, [{
    where: "scenarios/x.ts: options.workloads.probe.run.target",
    message: 'unknown host "sever" (hosts: client, server)',
  }]);
});

Deno.test("validateScenario() rejects a timeout that is not a duration, or zero", () => {
  assert.deepEqual(problems(scenario("s", echoAndProbe({ timeout: "soon" as Duration }))), [{
    where: "scenarios/x.ts: options.timeout",
    message: 'expected a duration such as "250ms" or "2s", got "soon"',
  }]);
  assert.deepEqual(problems(scenario("s", echoAndProbe({ timeout: "0s" }))), [{
    where: "scenarios/x.ts: options.timeout",
    message: "timeout must be above 0",
  }]);
});

Deno.test("validateScenario() rejects a badly named workload", () => {
  const options = echoAndProbe({
    workloads: { "1st echo": { on: "server", run: udpEcho({ port: 7000 }) } },
    thresholds: {},
  });
  const found = problems(scenario("s", options));
  assert.equal(found.length, 1);
  assert.equal(found[0]?.where, "scenarios/x.ts: options.workloads.1st echo");
  assert.match(found[0]!.message, /^workload name must be letters, digits/);
});

Deno.test("validateScenario() rejects thresholds on bind failures in a loopback scenario, where nothing watches binds", () => {
  const server = { on: "local", run: exec(["/bin/true"], {}) };
  const found = problems(scenario("loopback program", {
    network: "loopback",
    hosts: ["local"],
    workloads: { server },
    thresholds: { "server.bindFailures": "== 0", "server.bindFailures.addressInUse": "== 0" },
  }));
  assert.deepEqual(found.map((p) => p.where), [
    `${WHERE}: options.thresholds["server.bindFailures"]`,
    `${WHERE}: options.thresholds["server.bindFailures.addressInUse"]`,
  ]);
  assert.match(found[0]!.message, /needs the bind watch, .* a loopback scenario has none/);
  // In namespaces, the same thresholds are fine.
  valid(scenario("namespaced program", {
    hosts: ["server"],
    workloads: { server: { ...server, on: "server" } },
    thresholds: { "server.bindFailures": "== 0" },
  }));
});

Deno.test("validateScenario() gives one problem for thresholds that are not an object, quoting them", () => {
  const given = "probe.loss < 1%" as unknown as Record<string, string>;
  assert.deepEqual(problems(scenario("s", echoAndProbe({ thresholds: given }))), [{
    where: `${WHERE}: options.thresholds`,
    message:
      'expected an object of thresholds, such as { "probe.loss": "< 1%" }, got "probe.loss < 1%"',
  }]);
});

Deno.test("validateScenario() lets SO_REUSEPORT group echoes share a port, and only them", () => {
  const options = echoAndProbe();
  options.workloads = {
    ...options.workloads,
    echo: { on: "server", run: udpEcho({ port: 7000, group: 2 }) },
    again: { on: "server", run: udpEcho({ port: 7000, group: 2 }) },
    tcp: { on: "server", run: tcpEcho({ port: 7000 }) },
  };
  valid(scenario("s", options));
  options.workloads = {
    ...options.workloads,
    plain: { on: "server", run: udpEcho({ port: 7000 }) },
  };
  assert.deepEqual(problems(scenario("s", options)), [{
    where: `${WHERE}: options.workloads.plain.run.port`,
    message:
      'udp port 7000 on host "server" is already taken by workload "echo" (two echoes share a port only when both set group: a SO_REUSEPORT member next to a socket without it cannot bind)',
  }]);
});

Deno.test("validateScenario() finds two of squall's echoes on one host, protocol and port", () => {
  const options = echoAndProbe();
  options.workloads = {
    ...options.workloads,
    again: { on: "server", run: udpEcho({ port: 7000 }) },
  };
  assert.deepEqual(problems(scenario("s", options)), [{
    where: `${WHERE}: options.workloads.again.run.port`,
    message: 'udp port 7000 on host "server" is already taken by workload "echo"',
  }]);
});
