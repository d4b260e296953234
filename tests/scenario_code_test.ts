// Scenario code without root: `squall run` and `squall list` load each scenario module
// in a worker with only the permissions granted on the command line (reading its own
// folder and squall's files by default). Top-level code and the scenario function
// cannot read /etc/shadow or start a process unless the user says so, and the error
// names the file and the option that would allow it; `t` works across the worker (the
// runner's own errors come back as themselves); what scenario code does to its worker
// (blocking it, Deno.exit) still ends in a torn-down, reported run. Through the CLI, on
// the real kernel.

import assert from "node:assert/strict";
import { join } from "node:path";
import { SQUALL_CLI } from "./_processes.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MOD = JSON.stringify(new URL("../mod.ts", import.meta.url).href);

interface Squall {
  code: number;
  text: string;
  /** What the run record directory held afterwards. */
  records: string[];
}

/** Writes `files` into a new directory, runs `squall <args(dir)>` from the repository. */
async function squall(
  files: Record<string, string>,
  args: (dir: string) => string[],
): Promise<Squall> {
  const dir = await Deno.makeTempDir({ prefix: "squall_scenario_code_" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(join(dir, name), text);
    }
    const records = join(dir, "records");
    await Deno.mkdir(records);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [...SQUALL_CLI, ...args(dir)],
      cwd: ROOT,
      env: { NO_COLOR: "1", SQUALL_RUN_DIR: records },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return { code: out.code, text, records: [...Deno.readDirSync(records)].map((e) => e.name) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const TOP_LEVEL_SHADOW = `import { scenario } from ${MOD};
const secret = await Deno.readTextFile("/etc/shadow");
export default scenario("reads /etc/shadow at top level (" + secret.length + ")", {
  network: "loopback",
  hosts: ["local"],
});
`;

Deno.test("a scenario that reads /etc/shadow at top level fails under list and run, naming the file and the option", async () => {
  for (const command of ["list", "run"]) {
    const r = await squall(
      { "shadow.ts": TOP_LEVEL_SHADOW },
      (dir) => [command, join(dir, "shadow.ts")],
    );
    assert.equal(r.code, 2, r.text);
    assert.match(
      r.text,
      /shadow\.ts: cannot import the module: NotCapable: Requires read access to "\/etc\/shadow": .*add --allow-read=\/etc\/shadow to allow this \(file:\/\/.*shadow\.ts:2:\d+\)/,
    );
    assert.match(r.text, /Nothing was created\./);
    assert.doesNotMatch(r.text, /reads \/etc\/shadow at top level \(\d+\)/, "no secret length");
    assert.deepEqual(r.records, [], "no run record: nothing was created");
  }
  // Granted, it loads.
  const granted = await squall(
    { "shadow.ts": TOP_LEVEL_SHADOW },
    (dir) => ["list", "--allow-read=/etc/shadow", join(dir, "shadow.ts")],
  );
  assert.equal(granted.code, 0, granted.text);
  assert.match(granted.text, /reads \/etc\/shadow at top level \(\d+\)/);
});

Deno.test("top-level code cannot start a process, read the environment or open a socket unless allowed", async () => {
  const module = `import { scenario } from ${MOD};
const what = Deno.args.length; // readable: no permission
${'await new Deno.Command("true").output();'}
export default scenario("starts a process", { network: "loopback", hosts: ["local"] });
`;
  const r = await squall({ "run.ts": module }, (dir) => ["list", join(dir, "run.ts")]);
  assert.equal(r.code, 2, r.text);
  assert.match(r.text, /Requires run access to "true": .*add --allow-run=true to allow this/);
  const env = await squall(
    {
      "env.ts": module.replace('await new Deno.Command("true").output();', 'Deno.env.get("HOME");'),
    },
    (dir) => ["list", join(dir, "env.ts")],
  );
  assert.match(env.text, /Requires env access to "HOME": .*add --allow-env=HOME/);
  const net = await squall(
    {
      "net.ts": module.replace(
        'await new Deno.Command("true").output();',
        'Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }).close();',
      ),
    },
    (dir) => ["list", join(dir, "net.ts")],
  );
  assert.match(
    net.text,
    /Requires net access to "127\.0\.0\.1:0": .*add --allow-net=127\.0\.0\.1:0/,
  );
  const allowed = await squall(
    { "run.ts": module },
    (dir) => ["list", "--allow-run=true", join(dir, "run.ts")],
  );
  assert.equal(allowed.code, 0, allowed.text);
});

const FUNCTION = `import { scenario, udpEcho, udpProbe } from ${MOD};
export default scenario("t across the worker", {
  network: "loopback",
  hosts: ["local"],
  workloads: { echo: { on: "local", run: udpEcho({ port: 17430 }) } },
  thresholds: { "probe.loss": "< 1%" },
}, async (t) => {
  const probe = await t.start("probe", {
    on: "local",
    run: udpProbe({ target: "local:17430", count: 20, rate: 200 }),
  });
  const result = await probe.result();
  t.check("the probe's result crossed as data", result.kind === "udpProbe" && result.sent === 20, String(result.sent));
  t.check("a handle has its name and host", probe.name === "probe" && probe.host === "local");
  t.check("t.workload finds it", t.workload("probe").name === "probe");
  t.check("t.address answers at once", t.address("local") === "127.0.0.1");
  t.log("hosts: " + t.hosts.map((h) => h.name).join(","));
  try {
    t.workload("nobody");
  } catch (error) {
    t.check("a lookup error is the runner's, thrown where called", error instanceof Error && /Cannot find workload "nobody"/.test(error.message), String(error));
  }
  await t.sleep("50ms");
  TAIL
});
`;

Deno.test("the scenario function drives the run from its worker: t's methods, handles, checks and log lines", async () => {
  const r = await squall(
    { "fn.ts": FUNCTION.replace("TAIL", "") },
    (dir) => ["run", join(dir, "fn.ts"), "--json", join(dir, "report.json"), "--quiet"],
  );
  assert.equal(r.code, 0, r.text);
  assert.match(r.text, /✓ check: the probe's result crossed as data \(20\)/);
  assert.match(r.text, /✓ check: a handle has its name and host/);
  assert.match(r.text, /✓ check: t\.workload finds it/);
  assert.match(r.text, /✓ check: t\.address answers at once/);
  assert.match(r.text, /✓ check: a lookup error is the runner's, thrown where called/);
  assert.match(r.text, /PASSED t across the worker/);
  assert.deepEqual(r.records, [], "the run record is gone");
});

Deno.test("the scenario function cannot read /etc/shadow unless allowed: an error naming the file and the option", async () => {
  const files = { "fn.ts": FUNCTION.replace("TAIL", 'await Deno.readTextFile("/etc/shadow");') };
  const r = await squall(files, (dir) => ["run", join(dir, "fn.ts"), "--quiet"]);
  assert.equal(r.code, 1, r.text);
  assert.match(
    r.text,
    /error: Requires read access to "\/etc\/shadow": .*add --allow-read=\/etc\/shadow to allow this \(at file:\/\/.*fn\.ts:\d+:\d+\)/,
  );
  assert.match(r.text, /ERROR {2}t across the worker/);
  assert.deepEqual(r.records, [], "torn down: the run record is gone");
  const allowed = await squall(
    files,
    (dir) => ["run", "--allow-read=/etc/shadow", join(dir, "fn.ts"), "--quiet"],
  );
  assert.equal(allowed.code, 0, allowed.text);
});

Deno.test("an error the runner threw at the function comes back as itself: a bad link rethrown is bad input", async () => {
  const files = { "fn.ts": FUNCTION.replace("TAIL", 't.link("local", "elsewhere");') };
  const r = await squall(files, (dir) => ["run", join(dir, "fn.ts"), "--quiet"]);
  assert.equal(r.code, 2, r.text);
  assert.match(r.text, /t\.link\("local", "elsewhere"\): no link between "local" and "elsewhere"/);
});

Deno.test("a function that blocks its worker past the timeout times out, and Deno.exit() in it does not end squall", async () => {
  const blocking = FUNCTION.replace("TAIL", "while (true) { /* never yields */ }")
    .replace('thresholds: { "probe.loss": "< 1%" },', 'timeout: "2s",');
  const started = performance.now();
  const r = await squall({ "fn.ts": blocking }, (dir) => ["run", join(dir, "fn.ts"), "--quiet"]);
  assert.equal(r.code, 1, r.text);
  assert.match(r.text, /error: Scenario timed out after 2s/);
  assert.ok(performance.now() - started < 30_000, "the worker was ended with the run");
  assert.deepEqual(r.records, []);

  const exiting = FUNCTION.replace("TAIL", "Deno.exit(7);");
  const e = await squall({ "fn.ts": exiting }, (dir) => ["run", join(dir, "fn.ts"), "--quiet"]);
  assert.equal(e.code, 1, e.text);
  assert.match(e.text, /Deno\.exit\(7\) was called by scenario code while a run went on/);
  assert.deepEqual(e.records, []);
});

Deno.test("faults on links are applied and removed from the worker, `await using` included", async () => {
  const module = `import { blackhole, loss, scenario, udpEcho, udpProbe } from ${MOD};
export default scenario("faults from the worker", {
  hosts: ["a", "b"],
  links: [["a", "b"]],
  workloads: { echo: { on: "b", run: udpEcho({ port: 7000 }) } },
}, async (t) => {
  const probe = await t.start("probe", { on: "a", run: udpProbe({ target: "b:7000", duration: "1.5s", rate: 1000 }) });
  {
    await using applied = await t.link("a", "b").apply(loss(0.5));
    t.check("an applied fault has its id", typeof applied.id === "number");
    await t.sleep("300ms");
  }
  await t.link("a", "b").during(blackhole(), "300ms");
  const r = await probe.result();
  t.check("it lost to both", r.lost > 0 && (r.ledger?.total.droppedByFault.length ?? 0) === 2, JSON.stringify(r.ledger?.total.droppedByFault.map((f) => f.packets)));
});
`;
  const r = await squall(
    { "faults.ts": module },
    (dir) => ["run", join(dir, "faults.ts"), "--json", join(dir, "r.json"), "--quiet"],
  );
  assert.equal(r.code, 0, r.text);
  assert.match(r.text, /✓ check: an applied fault has its id/);
  assert.match(r.text, /✓ check: it lost to both/);
});

const PROGRAM = `import { exec, scenario } from ${MOD};
export default scenario("a program under test", {
  network: "loopback",
  hosts: ["local"],
  workloads: { done: { on: "local", run: exec(["/bin/true"], { waitForExit: true }) } },
}, async (t) => {
  START
});
`;

Deno.test("programs under test run as root: run starts only those --allow-run names; list shows them all", async () => {
  const files = { "p.ts": PROGRAM.replace("START", "") };
  const denied = await squall(files, (dir) => ["run", join(dir, "p.ts")]);
  assert.equal(denied.code, 2, denied.text);
  assert.match(
    denied.text,
    /p\.ts: options\.workloads\.done\.run\.command: a program under test runs as root, .*add --allow-run=true to allow "\/bin\/true" \(or --allow-run for any program\)/,
  );
  assert.match(denied.text, /Nothing was created\./);
  assert.deepEqual(denied.records, []);
  const listed = await squall(files, (dir) => ["list", join(dir, "p.ts")]);
  assert.equal(listed.code, 0, listed.text);
  assert.match(
    listed.text,
    /workload done on local: program \/bin\/true.* \(run needs --allow-run=true\)$/m,
  );
  for (const allow of ["--allow-run=true", "--allow-run=/bin/true", "--allow-run"]) {
    const allowed = await squall(files, (dir) => ["run", join(dir, "p.ts"), allow, "--quiet"]);
    assert.equal(allowed.code, 0, `${allow}\n${allowed.text}`);
  }
  const other = await squall(files, (dir) => ["run", join(dir, "p.ts"), "--allow-run=false"]);
  assert.equal(other.code, 2, other.text);
});

Deno.test("a program the scenario function starts must be allowed too: t.start is refused, as bad input", async () => {
  const files = {
    "p.ts": PROGRAM.replace(
      "START",
      'await t.start("cat", { on: "local", run: exec(["cat", "/etc/shadow"], { waitForExit: true }) });',
    ),
  };
  const r = await squall(files, (dir) => ["run", join(dir, "p.ts"), "--allow-run=true"]);
  assert.equal(r.code, 2, r.text);
  assert.match(
    r.text,
    /t\.start\("cat"\): a program under test runs as root, .*add --allow-run=cat to allow "cat"/,
  );
  assert.doesNotMatch(r.text, /start {2}cat on local/, "it never started");
});
