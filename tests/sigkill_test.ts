// Nothing outlives a run: SIGKILL the runner in the middle of a scenario, then prove
// that no agent process, namespace, interface or file of the run is left.

import assert from "node:assert/strict";
import { readLines } from "../harness/agent/protocol.ts";
import { systemCgroup2Mounts } from "../harness/runner/program_cgroup.ts";
import { loadedPrograms, programsHeldBy } from "./_truth_bpf.ts";
import {
  allNetns,
  eventually,
  filesNamed,
  hostInterfaces,
  isAlive,
  namedNetns,
  netnsOf,
  SQUALL_CLI,
  squallClean,
} from "./_processes.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("SIGKILL of the runner mid-scenario leaves no agent, namespace, link or file", async () => {
  const run = await startRun("tests/fixtures/long_probe.ts", "start  probe");
  const { runId, agentPids } = run;
  assert.equal(agentPids.length, 2, "the run header names both agents");

  // While the scenario runs: each agent is in a namespace of its own, not the host's.
  const hostNs = netnsOf(Deno.pid);
  const agentNs = agentPids.map((pid) => netnsOf(pid));
  for (const ns of agentNs) {
    assert.ok(ns && ns !== hostNs, "agents run in their own network namespace");
  }
  assert.notEqual(agentNs[0], agentNs[1]);
  assert.equal((await hostInterfaces()).filter((n) => n.includes(runId)).length, 0);
  await new Promise((r) => setTimeout(r, 500));

  assert.equal((await killRunner(run)).signal, "SIGKILL");

  assert.ok(await eventually(() => agentPids.every((pid) => !isAlive(pid)), 5000), "agents exited");
  assert.ok(
    await eventually(() => {
      const live = allNetns();
      return agentNs.every((ns) => !live.has(ns!));
    }, 5000),
    "the agents' namespaces are gone",
  );
  assert.deepEqual((await hostInterfaces()).filter((n) => n.includes(runId)), []);
  assert.deepEqual(
    (await namedNetns()).filter((n) => n.includes(runId) || n.startsWith("sq-")),
    [],
  );
  // The one thing left is the run's record, which says what the run started; squall
  // clean finds every recorded process already gone and removes it.
  const runRecords = filesNamed(runId, ["/tmp", "/run", "/dev/shm", "/sys/fs/bpf"]);
  assert.equal(runRecords.length, 1, `the run's record is left: ${runRecords}`);
  assert.match(runRecords[0]!, new RegExp(`/squall(-runs)?/${runId}-\\d+\\.jsonl$`));
  assert.match(await squallClean(), new RegExp(`removed run ${runId}: 0 processes still running`));
  assert.deepEqual(filesNamed(runId, ["/tmp", "/run", "/dev/shm", "/sys/fs/bpf"]), []);
});

Deno.test("SIGKILL of the runner leaves no program under test and no bind watch program", async () => {
  const run = await startRun("tests/fixtures/long_program.ts", "start  server");
  const agentPid = run.agentPids[0] ?? 0;
  assert.ok(agentPid > 0, "the run header names the agent");
  const agentNs = netnsOf(agentPid)!;
  // The program runs in the agent's namespace; the runner holds the bind watch.
  const programs = [...allProcessesIn(agentNs)].filter((pid) => pid !== agentPid);
  assert.equal(programs.length, 1, "one program in the host's namespace");
  const watch = programsHeldBy(run.runner.pid);
  const names = new Map(loadedPrograms().map((p) => [p.id, p.name]));
  assert.deepEqual([...watch].map((id) => names.get(id)).sort(), ["bind_enter", "bind_exit"]);

  await killRunner(run);
  assert.ok(await eventually(() => !isAlive(programs[0]!) && !isAlive(agentPid), 5000));
  assert.ok(await eventually(() => !allNetns().has(agentNs), 5000), "the namespace is gone");
  assert.ok(
    await eventually(() => {
      const loaded = new Set(loadedPrograms().map((p) => p.id));
      return [...watch].every((id) => !loaded.has(id));
    }, 5000),
    "the bind watch programs were unloaded",
  );
  assert.match(
    await squallClean(),
    new RegExp(`removed run ${run.runId}: 0 processes still running`),
  );
});

Deno.test("SIGKILL of the runner leaves nothing a program under test forked, even in a session of its own", async () => {
  const run = await startRun("tests/fixtures/forking_program.ts", "start  server");
  const { runId } = run;
  const agentPid = run.agentPids[0] ?? 0;
  assert.ok(agentPid > 0, "the run header names the agent");
  const agentNs = netnsOf(agentPid)!;
  // The program (sleep) and the two children its shell forked, one of them in a session
  // of its own: a parent-death signal reaches none of the children.
  // (The child calls setsid() on its own time: it may not have yet when "ready" comes.)
  let forked: number[] = [];
  assert.ok(
    await eventually(() => {
      forked = [...allProcessesIn(agentNs)].filter((pid) => pid !== agentPid);
      return forked.length === 3 && new Set(forked.map(sessionOf)).size === 2;
    }, 5000),
    `the program and its two children run in the namespace, one child in a session of its own: ${
      forked.map((pid) => `${pid} (session ${sessionOf(pid)})`)
    }`,
  );
  const cgroups = filesNamed(`squall-${runId}-`, systemCgroup2Mounts());
  assert.equal(cgroups.length, 1, "the run made one cgroup for its programs");

  await killRunner(run);
  assert.ok(
    await eventually(() => forked.every((pid) => !isAlive(pid)), 5000),
    "the program and everything it forked are gone",
  );
  assert.ok(await eventually(() => !allNetns().has(agentNs), 5000), "the namespace is gone");
  assert.ok(
    await eventually(
      () => filesNamed(`squall-${runId}-`, systemCgroup2Mounts()).length === 0,
      5000,
    ),
    "the cgroup was removed",
  );
  assert.match(await squallClean(), new RegExp(`removed run ${runId}: 0 processes still running`));
});

Deno.test("SIGKILL of the runner while delay lines hold packets leaves no line, queue or rule", async () => {
  const run = await startRun("tests/fixtures/long_delay_probe.ts", "start  probe");
  const { runId, agentPids } = run;
  assert.equal(agentPids.length, 2);
  const agentNs = agentPids.map((pid) => netnsOf(pid)!);
  // While it runs: each agent's namespace has its queues bound and the rules feeding them
  // (the server: the delay and the rate limit; the client: the delay of the way back).
  await new Promise((r) => setTimeout(r, 500));
  for (const [i, pid] of agentPids.entries()) {
    const queues = Deno.readTextFileSync(`/proc/${pid}/net/netfilter/nfnetlink_queue`).trim();
    assert.equal(queues.split("\n").length, i === 0 ? 1 : 2, `queues of agent ${pid}: ${queues}`);
    const rules = await iptablesRules(pid);
    assert.ok(rules.some((r) => r.includes("NFQUEUE")), `rules in agent ${pid}: ${rules}`);
  }
  const hostRules = await iptablesRules(Deno.pid);

  await killRunner(run);
  assert.ok(await eventually(() => agentPids.every((pid) => !isAlive(pid)), 5000), "agents exited");
  assert.ok(
    await eventually(() => agentNs.every((ns) => !allNetns().has(ns)), 5000),
    "the namespaces, and their queues and rules with them, are gone",
  );
  // Nothing was ever put in the host's namespace.
  assert.deepEqual(await iptablesRules(Deno.pid), hostRules);
  assert.ok(!hostRules.some((r) => r.includes(runId)));
  assert.deepEqual((await hostInterfaces()).filter((n) => n.includes(runId)), []);
  assert.match(await squallClean(), new RegExp(`removed run ${runId}: 0 processes still running`));
});

/** The raw and mangle rules in the network namespace of `pid`, as iptables -S lists them. */
async function iptablesRules(pid: number): Promise<string[]> {
  const rules: string[] = [];
  for (const table of ["raw", "mangle"]) {
    const out = await new Deno.Command("nsenter", {
      args: ["-t", String(pid), "-n", "iptables", "-w", "5", "-t", table, "-S"],
      stdout: "piped",
      stderr: "null",
    }).output();
    rules.push(
      ...new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => `${table} ${l}`),
    );
  }
  return rules;
}

/** A `squall run` of a fixture, read up to the line that says `marker`. */
interface StartedRun {
  runner: Deno.ChildProcess;
  /** The rest of its output, to drain after it is killed. */
  lines: AsyncGenerator<string>;
  /** The run id from its header. */
  runId: string;
  /** The agent pids from its header, in order. */
  agentPids: number[];
}

async function startRun(fixture: string, marker: string): Promise<StartedRun> {
  const runner = new Deno.Command(Deno.execPath(), {
    args: [...SQUALL_CLI, "run", fixture, "--allow-run"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const agentPids: number[] = [];
  let runId = "";
  const lines = readLines(runner.stdout);
  // Not for-await with break: that would close the generator before the drain.
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    const run = /\(run ([0-9a-f]{6}),/.exec(next.value);
    if (run) runId = run[1]!;
    const agent = /agent pid (\d+)/.exec(next.value);
    if (agent) agentPids.push(Number(agent[1]));
    if (next.value.includes(marker)) break;
  }
  assert.match(runId, /^[0-9a-f]{6}$/, "the run header names the run id");
  return { runner, lines, runId, agentPids };
}

/** SIGKILLs the runner and drains what it wrote before it died. */
async function killRunner({ runner, lines }: StartedRun): Promise<Deno.CommandStatus> {
  runner.kill("SIGKILL");
  const status = await runner.status;
  for await (const _ of lines) { /* drain */ }
  return status;
}

/** The session id of a process (field 6 of /proc/<pid>/stat), or -1 when it is gone. */
function sessionOf(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
  } catch {
    return -1;
  }
}

/** Pids of the processes in a network namespace. */
function allProcessesIn(ns: string): Set<number> {
  const pids = new Set<number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (/^\d+$/.test(entry.name) && netnsOf(Number(entry.name)) === ns) {
      pids.add(Number(entry.name));
    }
  }
  return pids;
}
