// The squall command line, end to end: exit codes, every problem of bad input listed
// with where it is, and proof that bad input creates nothing. The proof: the CLI runs
// as a subprocess whose PATH starts with wrappers of setpriv, unshare, ip and nsenter
// that log each call before running the real tool; after bad input the log is empty,
// and a positive control shows that a real run does fill it.

import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { type CliIo, main } from "../harness/cli/main.ts";
import { COMMAND_HELP, HELP } from "../harness/cli/help.ts";
import { CLEAR_LINE } from "../harness/cli/live_line.ts";
import { SQUALL_VERSION } from "../harness/runner/report.ts";
import { SQUALL_CLI } from "./_processes.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const WRAPPED_TOOLS = ["setpriv", "unshare", "ip", "nsenter"] as const;
const ORIGINAL_PATH = Deno.env.get("PATH") ?? "";
const SUBPROCESS_TIMEOUT_MS = 60_000;

/** A bad fixture's path as the CLI prints it (relative to the repository root). */
function bad(name: string): string {
  return `tests/fixtures/bad/${name}`;
}

/** Finds the real executable, before any wrapper is put in front of it. */
function realTool(name: string): string {
  const dirs = [...ORIGINAL_PATH.split(":"), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  for (const dir of dirs.filter(Boolean)) {
    try {
      const info = Deno.statSync(`${dir}/${name}`);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return `${dir}/${name}`;
    } catch {
      // Not in this directory.
    }
  }
  throw new Error(`Cannot find "${name}" for the wrappers: not on PATH nor in /usr/sbin, /sbin`);
}

/** A directory of logging wrappers; removed when disposed. */
interface WrappedTools extends AsyncDisposable {
  /** The directory to put first on PATH. */
  bin: string;
  /** Every wrapped call so far, one line each: the tool's name and its arguments. */
  calls(): Promise<string[]>;
}

async function wrappedTools(): Promise<WrappedTools> {
  const dir = await Deno.makeTempDir({ prefix: "squall_cli_test_" });
  const bin = join(dir, "bin");
  const log = join(dir, "calls.log");
  await Deno.mkdir(bin);
  await Deno.writeTextFile(log, "");
  for (const name of WRAPPED_TOOLS) {
    const script = [
      "#!/bin/sh",
      `printf '%s\\n' "${name} $*" >> '${log}'`,
      `exec '${realTool(name)}' "$@"`,
      "",
    ].join("\n");
    await Deno.writeTextFile(join(bin, name), script, { mode: 0o755 });
  }
  return {
    bin,
    async calls() {
      return (await Deno.readTextFile(log)).split("\n").filter(Boolean);
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** What a subprocess run of the CLI did. */
interface SquallRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Calls of setpriv, unshare, ip and nsenter it made. */
  calls: string[];
}

/** Runs `squall <args>` as a subprocess from the repository root, with logging wrappers. */
async function squall(args: string[]): Promise<SquallRun> {
  await using tools = await wrappedTools();
  const child = new Deno.Command(Deno.execPath(), {
    args: [...SQUALL_CLI, ...args],
    cwd: ROOT,
    env: { PATH: `${tools.bin}:${ORIGINAL_PATH}`, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), SUBPROCESS_TIMEOUT_MS);
  try {
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
      calls: await tools.calls(),
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Asserts that a run was rejected as bad input: exit 2, exactly the expected problems
 * (each a line starting with its where, `file: field`, and containing a fragment of its
 * message), "Nothing was created", and no call of any namespace or link tool.
 */
function assertBadInput(run: SquallRun, expected: [where: string, fragment: string][]): void {
  const shown = `stderr:\n${run.stderr}\nstdout:\n${run.stdout}`;
  assert.equal(run.code, 2, `exit code 2 for bad input\n${shown}`);
  const noun = expected.length === 1 ? "problem" : "problems";
  assert.match(run.stderr, new RegExp(`^Invalid input: ${expected.length} ${noun}$`, "m"), shown);
  const lines = run.stderr.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.slice(2));
  assert.equal(lines.length, expected.length, `one line per problem\n${shown}`);
  for (const [where, fragment] of expected) {
    assert.ok(
      lines.some((l) => l.startsWith(`${where}: `) && l.includes(fragment)),
      `a problem at "${where}" that says "${fragment}"\n${shown}`,
    );
  }
  assert.match(run.stderr, /^Nothing was created\.$/m, shown);
  assert.equal(run.stdout, "", "bad input prints nothing on stdout");
  assert.deepEqual(run.calls, [], "bad input runs no setpriv, unshare, ip or nsenter");
}

/** An in-process CliIo that keeps what was written. */
function capture(): CliIo & { out: (line: string) => void; lines: string[]; text(): string } {
  const lines: string[] = [];
  return {
    lines,
    out: (line) => lines.push(line),
    err: (line) => lines.push(line),
    color: false,
    handleSignals: false,
    text: () => lines.join("\n"),
  };
}

// Bad scenarios: exit 2, every problem with its file and field, nothing created.

Deno.test("run rejects a scenario path that does not exist, and creates nothing", async () => {
  const run = await squall(["run", "tests/fixtures/bad/no_such_scenario.ts"]);
  assertBadInput(run, [["tests/fixtures/bad/no_such_scenario.ts", "no such file or directory"]]);
});

Deno.test("run rejects modules whose default export is missing or not made by scenario()", async () => {
  const run = await squall(["run", bad("no_default.ts"), bad("not_a_scenario.ts")]);
  assertBadInput(run, [
    [bad("no_default.ts"), "does not export a scenario as default"],
    [bad("not_a_scenario.ts"), "does not export a scenario as default"],
  ]);
});

Deno.test("run rejects a module that throws when imported, with its error message", async () => {
  const run = await squall(["run", bad("throws_on_import.ts")]);
  assertBadInput(run, [
    [
      bad("throws_on_import.ts"),
      "cannot import the module: Error: SQUALL_FIXTURE_PORT is not set (file://",
    ],
  ]);
});

Deno.test("run rejects a link to an unknown host, naming the link and the known hosts", async () => {
  const run = await squall(["run", bad("unknown_link_host.ts")]);
  assertBadInput(run, [
    [
      `${bad("unknown_link_host.ts")}: options.links[0]`,
      'unknown host "sever" (hosts: client, server)',
    ],
  ]);
});

Deno.test("run rejects a duplicate host name at the index of the duplicate", async () => {
  const run = await squall(["run", bad("duplicate_host.ts")]);
  assertBadInput(run, [
    [`${bad("duplicate_host.ts")}: options.hosts[2]`, 'duplicate host name "client"'],
  ]);
});

Deno.test("run rejects a probe rate of zero and a negative one, each at its workload", async () => {
  const run = await squall(["run", bad("bad_rate.ts")]);
  assertBadInput(run, [
    [`${bad("bad_rate.ts")}: options.workloads.zero.run.rate`, "got 0"],
    [`${bad("bad_rate.ts")}: options.workloads.negative.run.rate`, "got -5"],
  ]);
});

Deno.test("run rejects a probe with neither count nor duration", async () => {
  const run = await squall(["run", bad("no_count_or_duration.ts")]);
  assertBadInput(run, [
    [
      `${bad("no_count_or_duration.ts")}: options.workloads.probe.run`,
      "give either count or duration",
    ],
  ]);
});

Deno.test("run rejects ports outside 1-65535 on an echo and in a probe target", async () => {
  const run = await squall(["run", bad("bad_port.ts")]);
  assertBadInput(run, [
    [`${bad("bad_port.ts")}: options.workloads.echo.run.port`, "got 0"],
    [`${bad("bad_port.ts")}: options.workloads.probe.run.target`, "got 65536"],
  ]);
});

Deno.test("run rejects timeouts that are not durations, on the scenario and on a probe", async () => {
  const run = await squall(["run", bad("bad_timeout.ts")]);
  assertBadInput(run, [
    [`${bad("bad_timeout.ts")}: options.timeout`, 'got "soon"'],
    [`${bad("bad_timeout.ts")}: options.workloads.probe.run.timeout`, 'got "5 seconds"'],
  ]);
});

Deno.test("run rejects malformed thresholds: a value that is no comparison, a key with no metric", async () => {
  const run = await squall(["run", bad("malformed_threshold.ts")]);
  assertBadInput(run, [
    [`${bad("malformed_threshold.ts")}: options.thresholds["probe.loss"]`, 'got "less than 1%"'],
    [`${bad("malformed_threshold.ts")}: options.thresholds["probe"]`, '"<workload>.<metric>"'],
  ]);
});

Deno.test("run rejects a threshold on an unknown metric and suggests close names", async () => {
  const run = await squall(["run", bad("unknown_metric.ts")]);
  assertBadInput(run, [
    [
      `${bad("unknown_metric.ts")}: options.thresholds["probe.rtt.p95"]`,
      '"probe" is a udpProbe, which has no metric "rtt.p95"; did you mean "rtt.p50" or "rtt.p90" or "rtt.p99"?',
    ],
  ]);
});

Deno.test("run lists every problem of a file that has several at once", async () => {
  const file = bad("many_problems.ts");
  const run = await squall(["run", file]);
  assertBadInput(run, [
    [`${file}: options.timeout`, 'got "later"'],
    [`${file}: options.workloads.echo.run.port`, "got 70000"],
    [`${file}: options.workloads.probe.on`, 'unknown host "nowhere"'],
    [`${file}: options.workloads.probe.run`, "give either count or duration"],
    [`${file}: options.workloads.probe.run.rate`, "got 0"],
    [`${file}: options.thresholds["probe.rtt.p95"]`, 'no metric "rtt.p95"'],
    [`${file}: options.thresholds["probe.loss"]`, 'got "about 1%"'],
  ]);
});

Deno.test("run rejects faults that cannot be applied, every one, before anything is created", async () => {
  const file = bad("bad_faults.ts");
  const run = await squall(["run", file]);
  assertBadInput(run, [
    [`${file}: options.links[5]`, 'unknown host "nowhere"'],
  ]);
  // Fault problems are found once the topology itself is valid.
  const fixed = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    const source = await Deno.readTextFile(file);
    await Deno.writeTextFile(
      fixed,
      source.replace(
        '"../../../mod.ts"',
        JSON.stringify(new URL("../mod.ts", import.meta.url).href),
      )
        .replace(/\n.*"nowhere".*\n/, "\n"),
    );
    const again = await squall(["run", fixed]);
    assertBadInput(again, [
      [`${fixed}: options.links[0].faults[0].rate`, "rate must be a probability 0-1, got 1.5"],
      [`${fixed}: options.links[1].faults[0]`, "burst parameters make no chain"],
      [`${fixed}: options.links[2].faults[0].ports`, "port range is upside down: [9000, 8000]"],
      [`${fixed}: options.links[3].faults[0].from`, '"server" is not an end of this link'],
      [`${fixed}: options.links[4].faults[0].for`, 'got "soon"'],
    ]);
  } finally {
    await Deno.remove(fixed);
  }
});

Deno.test("run lists the problems of two bad files given together", async () => {
  const run = await squall(["run", bad("bad_rate.ts"), bad("unknown_link_host.ts")]);
  assertBadInput(run, [
    [`${bad("bad_rate.ts")}: options.workloads.zero.run.rate`, "got 0"],
    [`${bad("bad_rate.ts")}: options.workloads.negative.run.rate`, "got -5"],
    [`${bad("unknown_link_host.ts")}: options.links[0]`, 'unknown host "sever"'],
  ]);
});

Deno.test("run does not start a good scenario when another one given with it is bad", async () => {
  const run = await squall(["run", "scenarios/loopback.ts", bad("no_count_or_duration.ts")]);
  assertBadInput(run, [
    [
      `${bad("no_count_or_duration.ts")}: options.workloads.probe.run`,
      "give either count or duration",
    ],
  ]);
});

Deno.test("run rejects --json into a directory that does not exist, and writes no file", async () => {
  const missing = join(await Deno.makeTempDir({ prefix: "squall_cli_test_" }), "missing");
  try {
    const target = join(missing, "report.json");
    const run = await squall(["run", "scenarios/loopback.ts", "--json", target]);
    assertBadInput(run, [["--json", `directory "${missing}" does not exist`]]);
    await assert.rejects(Deno.stat(missing), Deno.errors.NotFound, "the directory was not made");
  } finally {
    await Deno.remove(join(missing, ".."), { recursive: true });
  }
});

Deno.test("list reports the problems of a bad scenario with exit 2, like run", async () => {
  const run = await squall(["list", "scenarios/", bad("unknown_link_host.ts")]);
  assertBadInput(run, [
    [`${bad("unknown_link_host.ts")}: options.links[0]`, 'unknown host "sever"'],
  ]);
});

// Usage: commands, help, version, list.

Deno.test("an unknown command exits 2 with a hint to run help", async () => {
  const run = await squall(["frobnicate"]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /unknown command "frobnicate"/);
  assert.match(run.stderr, /Run "squall help" for usage\./);
  assert.equal(run.stdout, "");
  assert.deepEqual(run.calls, []);
});

Deno.test("an unknown option exits 2, names the option and creates nothing", async () => {
  const run = await squall(["run", "--jsn", "out.json", "scenarios/loopback.ts"]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /unknown option "--jsn" \(options: --json FILE, /);
  assert.match(run.stderr, /Run "squall help" for usage\./);
  assert.equal(run.stdout, "");
  assert.deepEqual(run.calls, []);
});

// The help gives --json for `run` only; an option that cannot be honoured is bad input.
Deno.test({
  name: "list rejects --json, which it cannot honour, instead of ignoring it",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "squall_cli_test_" });
    try {
      const target = join(dir, "list.json");
      const run = await squall(["list", "scenarios/", "--json", target]);
      assertBadInput(run, [["--json", "list"]]);
      await assert.rejects(Deno.stat(target), Deno.errors.NotFound);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("no arguments at all exit 2 and show the usage on stderr", async () => {
  const run = await squall([]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /^Usage:$/m);
  assert.match(run.stderr, /squall run <file\|dir>/);
  assert.equal(run.stdout, "");
  assert.deepEqual(run.calls, []);
});

Deno.test("help, --help and -h exit 0 and print the help text on stdout", async () => {
  for (const args of [["help"], ["--help"], ["-h"]]) {
    const run = await squall(args);
    assert.equal(run.code, 0, `squall ${args.join(" ")}`);
    assert.equal(run.stdout, HELP + "\n", `squall ${args.join(" ")}`);
    assert.equal(run.stderr, "");
    assert.deepEqual(run.calls, []);
  }
});

Deno.test("--version and -V print squall's and deno's versions and exit 0", async () => {
  for (const flag of ["--version", "-V"]) {
    const run = await squall([flag]);
    assert.equal(run.code, 0, flag);
    assert.equal(run.stdout, `squall ${SQUALL_VERSION} (deno ${Deno.version.deno})\n`, flag);
    assert.equal(run.stderr, "");
  }
});

Deno.test("list scenarios/ lists both example scenarios, exits 0 and creates nothing", async () => {
  const run = await squall(["list", "scenarios/"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^scenarios\/loopback\.ts: udp echo on loopback \(loopback\)$/m);
  assert.match(
    run.stdout,
    /^scenarios\/udp_echo\.ts: udp echo between two namespaces \(namespaces\)$/m,
  );
  assert.equal(run.stderr, "");
  assert.deepEqual(run.calls, [], "list runs no setpriv, unshare, ip or nsenter");
});

// The positive control: the wrappers do see a real run.

Deno.test("a real loopback run goes through the logging wrappers (control for the nothing-created tests)", async () => {
  const run = await squall(["run", "scenarios/loopback.ts", "--quiet"]);
  assert.equal(run.code, 0, run.stderr + run.stdout);
  assert.ok(
    run.calls.some((call) => call.startsWith("setpriv --pdeathsig KILL -- ")),
    `the agent was started through the setpriv wrapper; calls: ${JSON.stringify(run.calls)}`,
  );
});

// Runs in process.

Deno.test("main() runs the loopback scenario, prints the flow table and writes a JSON report", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_cli_test_" });
  try {
    const jsonPath = join(dir, "report.json");
    const io = capture();
    const scenarioPath = relative(Deno.cwd(), join(ROOT, "scenarios/loopback.ts"));
    const code = await main(["run", scenarioPath, "--json", jsonPath], io);
    const text = io.text();
    assert.equal(code, 0, text);
    assert.match(
      text,
      /^\s*flow\s+sent\s+delivered\s+lost\s+out\/back\s+late\s/m,
      "flow table header",
    );
    assert.match(text, /PASSED udp echo on loopback/);
    assert.match(text, /scenarios: 1 passed, 0 failed/);

    const report = JSON.parse(await Deno.readTextFile(jsonPath));
    assert.equal(report.schemaVersion, 1);
    assert.equal(report.exitCode, 0);
    assert.equal(report.summary.passed, 1);
    assert.equal(report.summary.total, 1);
    const [scenario] = report.scenarios;
    assert.equal(scenario.status, "passed");
    const probe = scenario.workloads.find((w: { name: string }) => w.name === "probe");
    assert.ok(probe, "the report has the probe workload");
    const r = probe.result;
    assert.equal(r.kind, "udpProbe");
    assert.ok(r.sent > 0, "the probe sent datagrams");
    assert.equal(r.sent, r.delivered + r.lost + r.late, "sent == delivered + lost + late");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main() exits 1 and says why when a threshold fails", async () => {
  const io = capture();
  const fixture = relative(Deno.cwd(), join(ROOT, "tests/fixtures/cli/failing_threshold.ts"));
  const code = await main(["run", fixture], io);
  const text = io.text();
  assert.equal(code, 1, text);
  assert.match(text, /✗ probe\.rtt\.p50 < 1us/);
  assert.match(
    text,
    /probe\.rtt\.p50 is \S+, expected < 1us/,
    "the reason names the measured value",
  );
  assert.match(text, /FAILED impossible threshold/);
  assert.match(text, /scenarios: 0 passed, 1 failed/);
});

Deno.test("run rejects bad TCP workloads, storms, churns and programs, every one, creating nothing", async () => {
  const file = bad("bad_tcp_workloads.ts");
  const run = await squall(["run", file]);
  assertBadInput(run, [
    [`${file}: options.workloads.echo.run.port`, "got 0"],
    [`${file}: options.workloads.probe.run.connectTimeout`, 'got "soon"'],
    [`${file}: options.workloads.storm.run.clients`, "got 0"],
    [`${file}: options.workloads.storm.run.cycles`, "got 0"],
    [`${file}: options.workloads.churn.run.port`, "got 70000"],
    [`${file}: options.workloads.missing.run.command`, 'program "./no-such-server" does not exist'],
  ]);
});

// Reports for people and for CI: --junit, --html, progress, and the new commands' usage.

/** Where a test writes the JSON, JUnit and HTML reports, in `dir`. */
function reportPaths(dir: string): { json: string; junit: string; html: string } {
  return {
    json: join(dir, "report.json"),
    junit: join(dir, "junit.xml"),
    html: join(dir, "report.html"),
  };
}

Deno.test("main() writes a JUnit XML and an HTML report next to the JSON one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_cli_test_" });
  try {
    const paths = reportPaths(dir);
    const io = capture();
    const scenarioPath = relative(Deno.cwd(), join(ROOT, "scenarios/loopback.ts"));
    const code = await main([
      "run",
      scenarioPath,
      "--quiet",
      "--json",
      paths.json,
      "--junit",
      paths.junit,
      "--html",
      paths.html,
    ], io);
    const text = io.text();
    assert.equal(code, 0, text);
    assert.match(text, new RegExp(`^JUnit XML report written to ${paths.junit}$`, "m"));
    assert.match(text, new RegExp(`^HTML report written to ${paths.html}$`, "m"));
    const report = JSON.parse(await Deno.readTextFile(paths.json));
    const xml = await Deno.readTextFile(paths.junit);
    assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="squall" /);
    assert.match(
      xml,
      /<testsuite name="udp echo on loopback" tests="4" failures="0" errors="0" /,
      "the scenario, its check and its two thresholds",
    );
    assert.match(
      xml,
      /<testcase classname="scenarios\/loopback\.ts" name="threshold probe\.loss &lt; 1%"/,
    );
    const embedded = /<system-out><!\[CDATA\[([\s\S]*?)\]\]><\/system-out>/.exec(xml)?.[1];
    assert.deepEqual(JSON.parse(embedded ?? "null"), report.scenarios[0]);
    const html = await Deno.readTextFile(paths.html);
    assert.match(html, /^<!doctype html>/i);
    assert.match(html, /udp echo on loopback/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run rejects --junit and --html into a missing directory, and two outputs in one file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_cli_test_" });
  try {
    const missing = join(dir, "missing");
    const run = await squall([
      "run",
      "scenarios/loopback.ts",
      "--junit",
      join(missing, "junit.xml"),
      "--html",
      join(missing, "report.html"),
    ]);
    assertBadInput(run, [
      ["--junit", `directory "${missing}" does not exist`],
      ["--html", `directory "${missing}" does not exist`],
    ]);
    const same = join(dir, "out");
    const twice = await squall(["run", "scenarios/loopback.ts", "--json", same, "--junit", same]);
    assertBadInput(twice, [["--junit", `"${same}" is also given to --json`]]);
    const asDir = await squall(["run", "scenarios/loopback.ts", "--html", dir]);
    assertBadInput(asDir, [["--html", `"${dir}" is a directory`]]);
    await assert.rejects(Deno.stat(same), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("list and run say which module did not finish importing in time, and which path is a symbolic link loop", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_cli_test_" });
  try {
    await Deno.symlink(join(dir, "b"), join(dir, "a"));
    await Deno.symlink(join(dir, "a"), join(dir, "b"));
    for (const command of ["list", "run"]) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--unstable-net",
          "tests/fixtures/misuse/_cli_quick_import.ts",
          command,
          "tests/fixtures/misuse/never_imports.ts",
          join(dir, "a"),
        ],
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 2, text);
      assert.match(
        text,
        /tests\/fixtures\/misuse\/never_imports\.ts: cannot import the module: the module had not finished importing after 300ms/,
      );
      assert.match(text, /\/a: cannot read it: too many levels of symbolic links/);
      assert.match(text, /Nothing was created\./);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a scenario whose options getter throws is bad input naming the file, not a crash", async () => {
  const io = capture();
  const code = await main(["list", "tests/fixtures/misuse/throwing_getter.ts"], io);
  assert.equal(code, 2, io.text());
  assert.match(
    io.text(),
    /tests\/fixtures\/misuse\/throwing_getter\.ts: reading the scenario threw: RangeError: options are not ready/,
  );
});

Deno.test("run rejects a FIFO, a device and an over-long file name as report paths, before the run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_cli_test_" });
  try {
    const fifo = join(dir, "fifo");
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success);
    const long = join(dir, `${"r".repeat(300)}.json`);
    const run = await squall([
      "run",
      "scenarios/loopback.ts",
      "--json",
      fifo,
      "--junit",
      "/dev/null",
      "--html",
      long,
    ]);
    assertBadInput(run, [
      ["--json", `cannot write "${fifo}": it is a FIFO; reports are written to regular files`],
      ["--junit", `cannot write "/dev/null": it is a device`],
      ["--html", "its file name is 305 bytes, more than the 255 a file name may have"],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run rejects --json, --junit and --html into places that cannot be written, before the run, and leaves nothing behind", async () => {
  // No one may create a file in /sys nor in /proc/sys, nor open /sys/kernel/uevent_seqnum
  // for writing, not even root.
  const run = await squall([
    "run",
    "scenarios/loopback.ts",
    "--json",
    "/sys/squall-report.json",
    "--junit",
    "/proc/sys/squall-junit.xml",
    "--html",
    "/sys/kernel/uevent_seqnum",
  ]);
  assertBadInput(run, [
    [
      "--json",
      'cannot write "/sys/squall-report.json": cannot create a file in directory "/sys" (permission denied)',
    ],
    ["--junit", 'cannot write "/proc/sys/squall-junit.xml": cannot create a file in directory'],
    [
      "--html",
      'cannot write "/sys/kernel/uevent_seqnum": the file cannot be opened for writing (permission denied)',
    ],
  ]);
  await assert.rejects(Deno.stat("/sys/squall-report.json"), Deno.errors.NotFound);
  await assert.rejects(Deno.stat("/proc/sys/squall-junit.xml"), Deno.errors.NotFound);

  // The outputs that can be written are checked too, and left as they were: a file that
  // exists is not truncated, and the check's own file is gone.
  const dir = await Deno.makeTempDir({ prefix: "squall_cli_test_" });
  try {
    const kept = join(dir, "kept.json");
    await Deno.writeTextFile(kept, "kept");
    const again = await squall([
      "run",
      "scenarios/loopback.ts",
      "--json",
      kept,
      "--junit",
      join(dir, "junit.xml"),
      "--html",
      "/sys/squall-report.html",
    ]);
    assertBadInput(again, [["--html", 'cannot create a file in directory "/sys"']]);
    assert.equal(await Deno.readTextFile(kept), "kept");
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir), (e) => e.name), ["kept.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("list rejects --junit and --html, which it cannot honour", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_cli_test_" });
  try {
    const run = await squall([
      "list",
      "scenarios/loopback.ts",
      "--junit",
      join(dir, "j.xml"),
      "--html",
      join(dir, "r.html"),
    ]);
    assertBadInput(run, [["--junit", "list"], ["--html", "list"]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--junit and --html without a value exit 2 and say which option", async () => {
  for (const option of ["--junit", "--html"]) {
    const run = await squall(["run", "scenarios/loopback.ts", option]);
    assert.equal(run.code, 2, option);
    assert.match(run.stderr, new RegExp(`option "${option}" needs a value`));
    assert.deepEqual(run.calls, []);
  }
});

Deno.test("every command has a help: squall help <command> and squall <command> --help", async () => {
  for (const command of ["run", "list", "doctor", "clean", "help"] as const) {
    const io = capture();
    assert.equal(await main(["help", command], io), 0);
    assert.equal(io.text(), COMMAND_HELP[command]);
    assert.match(io.text(), new RegExp(`^Usage: squall ${command}`));
    if (command === "help") continue;
    const flag = capture();
    assert.equal(await main([command, "--help"], flag), 0, command);
    assert.equal(flag.text(), COMMAND_HELP[command], `squall ${command} --help`);
  }
  for (const text of [HELP, COMMAND_HELP.run]) {
    assert.match(text, /--junit FILE/);
    assert.match(text, /--html FILE/);
  }
  assert.match(HELP, /^ {2}squall doctor \[--json\]$/m);
  assert.match(HELP, /^ {2}squall clean \[--dry-run\]$/m);
  assert.match(COMMAND_HELP.clean, /SQUALL_RUN_DIR/);
  const unknown = capture();
  assert.equal(await main(["help", "frobnicate"], unknown), 2);
  assert.match(
    unknown.text(),
    /unknown command "frobnicate" \(commands: run, list, doctor, clean, help\)/,
  );
});

Deno.test("the help's examples write their reports where a fresh checkout can: into directories that exist", () => {
  const examples = [HELP, ...Object.values(COMMAND_HELP)].flatMap((text) =>
    text.split("\n").filter((line) => /^ {2}(sudo )?deno task squall /.test(line))
  );
  const outputs = examples.flatMap((line) =>
    [...line.matchAll(/--(?:json|junit|html) (\S+)/g)].map((m) => m[1]!)
  );
  assert.ok(outputs.length >= 3, `the examples write reports: ${examples.join("\n")}`);
  for (const output of outputs) {
    const dir = join(ROOT, output, "..");
    let exists = false;
    try {
      exists = Deno.statSync(dir).isDirectory;
    } catch {
      // Missing: the example fails with exit 2 on a fresh checkout.
    }
    assert.ok(
      exists && relative(ROOT, dir).split("/")[0] !== "..",
      `"${output}": its directory exists in the repository`,
    );
  }
});

Deno.test("run and list search directories exactly as the help says", async () => {
  const skipped = "files and directories whose name starts with _ or a dot";
  assert.match(
    HELP.replace(/\s+/g, " "),
    new RegExp(`skipped: \\*_test\\.ts files, and ${skipped}`),
  );
  assert.match(
    COMMAND_HELP.run.replace(/\s+/g, " "),
    new RegExp(
      `searched, with their subdirectories, for \\.ts files; skipped: \\*_test\\.ts files, and ${skipped}`,
    ),
  );
  const dir = await Deno.makeTempDir({ prefix: "squall_cli_test_" });
  try {
    const mod = JSON.stringify(new URL("../mod.ts", import.meta.url).href);
    const found = (name: string) =>
      `import { scenario } from ${mod};\nexport default scenario("${name}", { network: "loopback", hosts: ["local"] });\n`;
    const skippedFile = 'throw new Error("this file must be skipped");\n';
    const files: Record<string, string> = {
      "top.ts": found("top"),
      "sub/deeper/nested.ts": found("nested"),
      "top_test.ts": skippedFile,
      "_helper.ts": skippedFile,
      ".hidden.ts": skippedFile,
      "_private/inside.ts": skippedFile,
      ".git/inside.ts": skippedFile,
      "sub/_inner/inside.ts": skippedFile,
      "notes.md": skippedFile,
    };
    for (const [name, text] of Object.entries(files)) {
      await Deno.mkdir(join(dir, name, ".."), { recursive: true });
      await Deno.writeTextFile(join(dir, name), text);
    }
    const io = capture();
    assert.equal(await main(["list", dir], io), 0, io.text());
    const listed = io.lines.map((l) => l.split("\n")[0]!.replace(/:.*/, ""));
    assert.deepEqual(listed, [join(dir, "sub/deeper/nested.ts"), join(dir, "top.ts")]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the help of clean says it also empties and removes the cgroups crashed runs recorded", () => {
  assert.match(
    HELP.replace(/\s+/g, " "),
    /clean End the processes [^.]*, empty and remove the cgroups they recorded for their programs under test, and remove those run records\./,
  );
  assert.match(
    COMMAND_HELP.clean.replace(/\s+/g, " "),
    /and the cgroup it makes for its programs under test, in a run record/,
  );
  assert.match(
    COMMAND_HELP.clean.replace(/\s+/g, " "),
    /kills everything still in the recorded cgroup and removes it/,
  );
});

Deno.test("the help of run gives the exit codes of report files as run does them", () => {
  const text = COMMAND_HELP.run.replace(/\s+/g, " ");
  assert.match(text, /2 bad input \(also a report file that cannot be written\)/);
  assert.match(
    text,
    /3 environment \(also a report write that still fails after the run, e\.g\. disk full\)/,
  );
  assert.doesNotMatch(text, /or a report file could not be written/);
});

Deno.test("doctor and clean reject arguments and options that are not theirs with exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [["doctor", "scenarios/"], /squall doctor: takes no arguments, got "scenarios\/"/],
    [
      ["doctor", "--junit", "x.xml"],
      /unknown option "--junit" \(options: --json, --no-color, --help\)/,
    ],
    [["doctor", "--json=out.json"], /option "--json" takes no value/],
    [["clean", "--json"], /unknown option "--json" \(options: --dry-run, --help\)/],
  ];
  for (const [args, message] of cases) {
    const io = capture();
    assert.equal(await main(args, io), 2, args.join(" "));
    assert.match(io.text(), message, args.join(" "));
    assert.match(io.text(), new RegExp(`Run "squall help ${args[0]}" for usage\\.`));
  }
});

/**
 * A fake terminal: what the CLI writes (lines through out/err, raw text through the
 * terminal) goes through a tiny emulator of `\r`, `\x1b[K` and `\n`, so the test sees
 * the screen a person would see.
 */
function fakeTerminal(columns: number) {
  const screen: string[] = [];
  let line = "";
  let col = 0;
  const raw: string[] = [];
  const outLines: string[] = [];
  /** Lines printed while part of a live line was still on the screen. */
  const garbled: string[] = [];
  const feed = (text: string) => {
    for (let i = 0; i < text.length; i++) {
      if (text.startsWith("\x1b[K", i)) {
        line = line.slice(0, col);
        i += 2;
      } else if (text[i] === "\r") col = 0;
      else if (text[i] === "\n") {
        screen.push(line);
        line = "";
        col = 0;
      } else {
        line = line.slice(0, col) + text[i] + line.slice(col + 1);
        col++;
      }
    }
  };
  const print = (text: string) => {
    if (line !== "" || col !== 0) garbled.push(`${JSON.stringify(line)} then ${text}`);
    outLines.push(text);
    feed(text + "\n");
  };
  const io: CliIo = {
    out: print,
    err: print,
    color: false,
    handleSignals: false,
    terminal: {
      write(text) {
        raw.push(text);
        feed(text);
      },
      columns: () => columns,
    },
  };
  return { io, screen, raw, outLines, garbled, current: () => line };
}

Deno.test("on a terminal, run redraws one live progress line in place and never mixes it with other lines", async () => {
  const term = fakeTerminal(100);
  const scenarioPath = relative(Deno.cwd(), join(ROOT, "scenarios/loopback.ts"));
  const code = await main(["run", scenarioPath], term.io);
  assert.equal(code, 0, term.outLines.join("\n"));
  const draws = term.raw.filter((t) => t.length > CLEAR_LINE.length);
  assert.ok(draws.length >= 2, `the live line was drawn and redrawn: ${JSON.stringify(term.raw)}`);
  for (const draw of draws) {
    assert.ok(draw.startsWith(CLEAR_LINE), "each draw starts by going back and erasing the line");
    assert.match(
      draw.slice(CLEAR_LINE.length),
      /^ {2}⋯ +\d+\.\ds udp echo on loopback {2}probe: sent \d+, loss \d+\.\d\d%, p99 (\S+)/,
    );
    assert.ok(!draw.includes("\n"), "a live line is one line");
    assert.ok([...draw.slice(CLEAR_LINE.length)].length < 100, "cut to the terminal's width");
  }
  assert.deepEqual(term.garbled, [], "every line was printed on a cleared line");
  assert.equal(term.current(), "", "the live line is gone at the end");
  assert.ok(!term.screen.some((l) => l.includes("⋯")), "no live line is left on the screen");
  assert.ok(
    !term.outLines.some((l) => l.includes("  …")),
    "no plain progress lines on a terminal",
  );
  for (const line of term.outLines.flatMap((l) => l.split("\n"))) {
    assert.ok(term.screen.includes(line), `printed line intact on the screen: ${line}`);
  }
  assert.ok(term.screen.some((l) => /PASSED udp echo on loopback/.test(l)));
});

Deno.test("off a terminal, run prints plain progress lines and no control characters", async () => {
  const io = { ...capture(), progressIntervalMs: 200 };
  const scenarioPath = relative(Deno.cwd(), join(ROOT, "scenarios/loopback.ts"));
  const code = await main(["run", scenarioPath], io);
  const text = io.text();
  assert.equal(code, 0, text);
  const progress = text.split("\n").filter((l) => l.startsWith("  …"));
  assert.ok(progress.length >= 2, `plain progress lines:\n${text}`);
  for (const line of progress) {
    assert.match(
      line,
      /^ {2}… *\S+ {2}(probe|big) on local: sent \d+, delivered \d+, loss \d+\.\d\d%, p99 \S+$/,
    );
  }
  assert.ok(!text.includes("\r") && !text.includes("\x1b"), "no \\r nor escape sequence");
});

Deno.test("progress covers TCP probes, reconnect storms and bind churns too", async () => {
  const io = { ...capture(), progressIntervalMs: 300 };
  const code = await main(["run", "tests/fixtures/cli/progress_kinds.ts"], io);
  const text = io.text();
  assert.equal(code, 0, text);
  const lines = text.split("\n").filter((l) => l.startsWith("  …"));
  const figures = {
    requests:
      /^ {2}… *\S+ {2}requests on client: requests (\d+), answered (\d+), failed (\d+\.\d\d)%, p99 \S+$/,
    storm:
      /^ {2}… *\S+ {2}storm on client: attempts (\d+), connected (\d+), failed (\d+\.\d\d)%, connect p99 \S+$/,
    churn:
      /^ {2}… *\S+ {2}churn on churner: binds (\d+), bound (\d+), failed (\d+\.\d\d)%, rebind p99 \S+$/,
  };
  for (const [name, pattern] of Object.entries(figures)) {
    const seen = lines.map((l) => pattern.exec(l)).filter((m) => m !== null);
    assert.ok(seen.length >= 2, `at least two progress lines of ${name}:\n${text}`);
    const sent = seen.map((m) => Number(m[1]));
    assert.ok(sent.at(-1)! > sent[0]!, `${name}'s count grows: ${sent}`);
    assert.ok(seen.every((m) => Number(m[2]) <= Number(m[1])), `${name}: ok <= attempts`);
  }
});

Deno.test("--quiet on a terminal draws no live line", async () => {
  const term = fakeTerminal(80);
  const scenarioPath = relative(Deno.cwd(), join(ROOT, "scenarios/loopback.ts"));
  assert.equal(await main(["run", scenarioPath, "--quiet"], term.io), 0);
  assert.deepEqual(term.raw, []);
});

Deno.test("a report whose write fails after the run (disk full) is said on stderr, the others are still written, and the exit code is 3", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_cli_test_" });
  try {
    const jsonPath = join(dir, "report.json");
    const io = capture();
    const scenarioPath = relative(Deno.cwd(), join(ROOT, "scenarios/loopback.ts"));
    // A 4 KiB tmpfs: the JUnit file opens for writing, so it passes the checks before the
    // run, but the report does not fit, as on a full disk.
    const full = join(dir, "full");
    await Deno.mkdir(full);
    const mounted = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=4k", "tmpfs", full],
    }).output();
    assert.ok(mounted.success, new TextDecoder().decode(mounted.stderr));
    const junit = join(full, "junit.xml");
    try {
      await Deno.writeTextFile(junit, "x".repeat(4096)); // fill it
      const code = await main(
        ["run", scenarioPath, "--quiet", "--junit", junit, "--json", jsonPath],
        io,
      );
      const text = io.text();
      assert.equal(code, 3, text);
      assert.match(
        text,
        /^squall: cannot write the JUnit XML report to ".*junit\.xml": No space left on device/m,
      );
    } finally {
      await new Deno.Command("umount", { args: [full] }).output();
    }
    assert.equal(JSON.parse(await Deno.readTextFile(jsonPath)).exitCode, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run --skip-unavailable skips, and says so, scenarios that need iptables on a machine without it", async () => {
  // A PATH with every tool but iptables, as on a fresh Debian machine.
  const bin = await Deno.makeTempDir({ prefix: "squall_cli_test_" });
  try {
    for (const tool of ["setpriv", "setsid", "ip", "unshare", "nsenter", "ss"]) {
      const which = await new Deno.Command("sh", {
        args: ["-c", `command -v ${tool}`],
        stdout: "piped",
      }).output();
      await Deno.symlink(new TextDecoder().decode(which.stdout).trim(), join(bin, tool));
    }
    const run = (...extra: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          ...SQUALL_CLI,
          "run",
          "scenarios/jitter.ts",
          "scenarios/udp_echo.ts",
          "--quiet",
          ...extra,
        ],
        cwd: ROOT,
        env: { PATH: bin, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const decode = (o: Deno.CommandOutput) =>
      new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);
    const stopped = await run();
    assert.equal(stopped.code, 3, decode(stopped));
    assert.match(decode(stopped), /"iptables" \(.*\) not found on PATH/);
    const skipping = await run("--skip-unavailable");
    const text = decode(skipping);
    assert.equal(skipping.code, 0, text);
    assert.match(
      text,
      /squall: skipped scenarios\/jitter\.ts: "iptables" \(.*\) not found on PATH; apt-get install iptables/,
    );
    assert.match(text, /PASSED udp echo between two namespaces/);
    assert.match(text, /squall: 1 scenario skipped/);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("a scenario that cannot run here stops the run with its exit code, and the reports still hold the scenarios that ran", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_cli_test_" });
  try {
    const paths = reportPaths(dir);
    // The first scenario passes, then takes every tool off PATH: the second cannot run.
    const first = "tests/fixtures/cli/then_no_tools.ts";
    const run = await squall([
      "run",
      first,
      "scenarios/loopback.ts",
      "--allow-env=PATH", // Scenario code may not change squall's environment otherwise.
      "--quiet",
      "--json",
      paths.json,
      "--junit",
      paths.junit,
      "--html",
      paths.html,
    ]);
    const shown = `stderr:\n${run.stderr}\nstdout:\n${run.stdout}`;
    assert.equal(run.code, 3, `the EnvironmentError's exit code\n${shown}`);
    assert.match(
      run.stderr,
      /^squall: Cannot run a loopback scenario: "setpriv" \(every agent and program is started through it\), "setsid" \(agents run in a session of their own\).* not found on PATH\nhint: /m,
      shown,
    );
    assert.match(run.stdout, /PASSED passes, then the tools are gone/, shown);
    assert.doesNotMatch(run.stdout, /^scenarios: /m, "no summary of a run that was cut short");
    for (
      const [what, path] of [
        ["JSON report", paths.json],
        ["JUnit XML report", paths.junit],
        ["HTML report", paths.html],
      ]
    ) {
      assert.match(run.stdout, new RegExp(`^${what} written to ${path}$`, "m"), shown);
    }
    const report = JSON.parse(await Deno.readTextFile(paths.json));
    assert.equal(report.exitCode, 3, "the report's exit code is the run's");
    assert.deepEqual(
      report.scenarios.map((s: { file: string; status: string }) => [s.file, s.status]),
      [[first, "passed"]],
    );
    assert.match(
      await Deno.readTextFile(paths.junit),
      /<testsuite name="passes, then the tools are gone" tests="2" failures="0" errors="0" /,
    );
    assert.match(await Deno.readTextFile(paths.html), /passes, then the tools are gone/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
