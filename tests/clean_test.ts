// `squall clean` ends exactly the processes crashed runs recorded, and nothing else:
// a recorded process still running with its recorded start time is killed; a recorded
// pid whose start time differs (the pid was reused) is not; the run record of a run whose
// runner still runs is left alone. Run records live in a temporary directory given by
// SQUALL_RUN_DIR, so real run records are never touched.

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bootId, processInfo, RUN_RECORD_VERSION } from "../harness/runner/run_record.ts";
import {
  cgroupName,
  cgroupProcesses,
  joinCgroupPrefix,
  systemCgroup2Mounts,
} from "../harness/runner/program_cgroup.ts";
import { isAlive, SQUALL_CLI } from "./_processes.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A `sleep 60` of ours, killed and reaped when disposed. */
interface Sleeper extends AsyncDisposable {
  pid: number;
  startTime: number;
  child: Deno.ChildProcess;
}

function sleeper(): Sleeper {
  const child = new Deno.Command("sleep", { args: ["60"], stdin: "null", stdout: "null" })
    .spawn();
  const info = processInfo(child.pid);
  assert.ok(info, "sleep started");
  return {
    pid: child.pid,
    startTime: info.startTime,
    child,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already ended.
      }
      await child.status;
    },
  };
}

/** A pid that no process has now: one of ours that has ended and been reaped. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true", { stdin: "null", stdout: "null" }).spawn();
  await child.status;
  assert.equal(isAlive(child.pid), false);
  return child.pid;
}

/** Writes a run record file as RunRecord does: a header line, then one line per process. */
async function writeRunRecord(
  dir: string,
  runId: string,
  runner: { pid: number; startTime: number },
  processes: ({ pid: number; startTime: number; role: string } | { cgroup: string })[],
  boot: string | null = bootId(),
): Promise<string> {
  const path = join(dir, `${runId}-${runner.pid}.jsonl`);
  const header = {
    squallRunLedger: RUN_RECORD_VERSION,
    runId,
    bootId: boot,
    runner,
    startedAt: new Date().toISOString(),
  };
  const lines = [header, ...processes].map((l) => JSON.stringify(l) + "\n").join("");
  await Deno.writeTextFile(path, lines);
  return path;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function squallClean(dir: string, ...args: string[]): Promise<{ code: number; out: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...SQUALL_CLI, "clean", ...args],
    cwd: ROOT,
    env: { SQUALL_RUN_DIR: dir, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    out: decoder.decode(output.stdout) + decoder.decode(output.stderr),
  };
}

Deno.test("clean kills exactly the recorded process of a dead runner, not a reused pid, and removes the run record", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_clean_test_" });
  try {
    await using recorded = sleeper();
    await using reused = sleeper();
    await using liveRunnersChild = sleeper();
    const self = processInfo(Deno.pid)!;
    // Run 1a2b3c: its runner is gone; it recorded a sleep (to be killed) and a pid that
    // belongs now to another process (its start time differs: to be left alone).
    const crashed = await writeRunRecord(dir, "1a2b3c", { pid: await deadPid(), startTime: 42 }, [
      { pid: recorded.pid, startTime: recorded.startTime, role: "agent server" },
      { pid: reused.pid, startTime: reused.startTime + 1, role: "agent client" },
    ]);
    // Run 4d5e6f: its runner is this test process, still running: left alone.
    const live = await writeRunRecord(dir, "4d5e6f", { pid: Deno.pid, startTime: self.startTime }, [
      { pid: liveRunnersChild.pid, startTime: liveRunnersChild.startTime, role: "agent server" },
    ]);

    const run = await squallClean(dir);
    assert.equal(run.code, 0, run.out);
    assert.match(
      run.out,
      new RegExp(
        `^removed run 1a2b3c: 1 process still running \\(killed pid ${recorded.pid} agent server\\), run record file$`,
        "m",
      ),
    );
    assert.match(
      run.out,
      new RegExp(`^  pid ${reused.pid} agent client: that pid is now another process`, "m"),
    );
    assert.match(
      run.out,
      new RegExp(`^left run 4d5e6f alone: its runner \\(pid ${Deno.pid}\\) is still running`, "m"),
    );

    const status = await recorded.child.status;
    assert.equal(status.signal, "SIGKILL", "the recorded process was killed");
    assert.ok(isAlive(reused.pid), "the reused pid was not touched");
    assert.ok(isAlive(liveRunnersChild.pid), "the live run's process was not touched");
    assert.equal(await exists(crashed), false, "the crashed run's record was removed");
    assert.equal(await exists(live), true, "the live run's record is still there");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("clean treats a runner pid now used by another process as a dead runner", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_clean_test_" });
  try {
    await using recorded = sleeper();
    const self = processInfo(Deno.pid)!;
    const path = await writeRunRecord(dir, "abcdef", {
      pid: Deno.pid,
      startTime: self.startTime - 1,
    }, [{ pid: recorded.pid, startTime: recorded.startTime, role: "program server/web" }]);
    const run = await squallClean(dir);
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /^removed run abcdef: 1 process still running/m);
    assert.equal((await recorded.child.status).signal, "SIGKILL");
    assert.equal(await exists(path), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("clean --dry-run says what it would do and does nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_clean_test_" });
  try {
    await using recorded = sleeper();
    const path = await writeRunRecord(dir, "0f0f0f", { pid: await deadPid(), startTime: 7 }, [
      { pid: recorded.pid, startTime: recorded.startTime, role: "agent server" },
      { pid: await deadPid(), startTime: 9, role: "agent client" },
    ]);
    const run = await squallClean(dir, "--dry-run");
    assert.equal(run.code, 0, run.out);
    assert.equal(
      run.out.trim(),
      `would remove run 0f0f0f: 1 process still running (would kill pid ${recorded.pid} agent server), run record file`,
    );
    assert.ok(isAlive(recorded.pid), "nothing was killed");
    assert.equal(await exists(path), true, "nothing was removed");

    const again = await squallClean(dir);
    assert.match(again.out, /^removed run 0f0f0f: 1 process still running/m);
    assert.equal((await recorded.child.status).signal, "SIGKILL");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("clean kills nothing of a run record written before a reboot (another boot id)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_clean_test_" });
  try {
    await using recorded = sleeper();
    const path = await writeRunRecord(
      dir,
      "b007ed",
      { pid: await deadPid(), startTime: 7 },
      [{ pid: recorded.pid, startTime: recorded.startTime, role: "agent server" }],
      "00000000-0000-0000-0000-000000000000",
    );
    const run = await squallClean(dir);
    assert.match(run.out, /^removed run b007ed: 0 processes still running, run record file$/m);
    assert.ok(isAlive(recorded.pid), "a process of another boot is not ours to kill");
    assert.equal(await exists(path), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("clean with no run records says so, and leaves an unreadable run record alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_clean_test_" });
  try {
    const empty = await squallClean(dir);
    assert.equal(empty.code, 0);
    assert.equal(empty.out.trim(), `No run records in ${dir}: nothing to clean.`);

    const junk = join(dir, "junk-1.jsonl");
    await Deno.writeTextFile(junk, "not a run record\n");
    const run = await squallClean(dir);
    assert.equal(run.code, 0);
    assert.match(run.out, /^left .*junk-1\.jsonl alone: Cannot read run record/m);
    assert.equal(await exists(junk), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("clean rejects arguments and unknown options with exit 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_clean_test_" });
  try {
    const extra = await squallClean(dir, "everything");
    assert.equal(extra.code, 2);
    assert.match(extra.out, /squall clean: takes no arguments, got "everything"/);
    const option = await squallClean(dir, "--force");
    assert.equal(option.code, 2);
    assert.match(option.out, /unknown option "--force" \(options: --dry-run, --help\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("clean empties and removes a crashed run's recorded cgroup, and no other", async () => {
  const mount = systemCgroup2Mounts()[0];
  assert.ok(mount, "this machine has a cgroup2 mount (squall doctor)");
  const dir = await Deno.makeTempDir({ prefix: "squall_clean_test_" });
  const runner = { pid: await deadPid(), startTime: 7 };
  const ours = `${mount}/${cgroupName("c9c9c9", runner.pid)}`;
  const foreign = `${mount}/squall_clean_test_${Deno.pid}`;
  await Deno.mkdir(ours);
  await Deno.mkdir(foreign);
  // In each: a shell that joins the cgroup, as a program under test does, and forks a
  // child into a session of its own before it sleeps.
  const start = (cgroup: string) =>
    new Deno.Command(joinCgroupPrefix(cgroup)[0]!, {
      args: [...joinCgroupPrefix(cgroup).slice(1), "sh", "-c", "setsid sleep 60 & exec sleep 60"],
      stdin: "null",
      stdout: "null",
    }).spawn();
  const inOurs = start(ours);
  const inForeign = start(foreign);
  try {
    // Until each has exec'd, a process shows as sh or setsid.
    const settled = (cgroup: string) => {
      const inside = cgroupProcesses(cgroup);
      return inside.length === 2 && inside.every((p) => p.program === "sleep");
    };
    const joined = () => settled(ours) && settled(foreign);
    for (let i = 0; i < 100 && !joined(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(joined(), "both shells and their children are in their cgroups");
    const pids = cgroupProcesses(ours).map((p) => p.pid);
    await writeRunRecord(dir, "c9c9c9", runner, [{ cgroup: ours }, { cgroup: foreign }]);

    const run = await squallClean(dir);
    assert.equal(run.code, 0, run.out);
    assert.match(
      run.out,
      new RegExp(
        `^removed run c9c9c9: 0 processes still running, cgroup ${ours} \\(killed pid \\d+ sleep, pid \\d+ sleep\\), run record file$`,
        "m",
      ),
    );
    assert.match(run.out, new RegExp(`^  cgroup ${foreign}: not one squall makes`, "m"));
    assert.equal(await exists(ours), false, "the run's cgroup was removed");
    assert.ok(pids.every((pid) => !isAlive(pid)), "everything in it was killed");
    assert.equal((await inOurs.status).signal, "SIGKILL");
    assert.equal(cgroupProcesses(foreign).length, 2, "the other cgroup was not touched");
  } finally {
    for (const pid of cgroupProcesses(foreign).map((p) => p.pid)) Deno.kill(pid, "SIGKILL");
    await inForeign.status;
    await inOurs.status;
    for (let i = 0; i < 100; i++) {
      try {
        await Deno.remove(foreign);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await Deno.remove(ours).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs `sh -c script` as the unprivileged user nobody (uid 65534), as a local user would. */
async function asNobody(script: string): Promise<void> {
  const output = await new Deno.Command("setpriv", {
    args: ["--reuid=65534", "--regid=65534", "--clear-groups", "--", "sh", "-c", script],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
}

Deno.test("clean refuses run records another user could have written, and kills nothing they name", async () => {
  await using victim = sleeper();
  const dead = { pid: await deadPid(), startTime: 1 };
  const victimLine = { pid: victim.pid, startTime: victim.startTime, role: "agent x" };
  const parent = await Deno.makeTempDir({ prefix: "squall-clean-trust-" });
  try {
    Deno.chmodSync(parent, 0o1777); // like /tmp: anyone may make a directory in it
    // 1. A directory of records made and owned by nobody, as ${TMPDIR}/squall-runs could be.
    const planted = join(parent, "planted");
    const header = JSON.stringify({
      squallRunLedger: RUN_RECORD_VERSION,
      runId: "evil01",
      bootId: bootId(),
      runner: dead,
      startedAt: new Date().toISOString(),
    });
    await asNobody(
      `mkdir -m 700 ${planted} && printf '%s\\n%s\\n' '${header}' '${
        JSON.stringify(victimLine)
      }' > ${planted}/evil01-${dead.pid}.jsonl`,
    );
    let { code, out } = await squallClean(planted);
    assert.equal(code, 1, out);
    assert.match(out, /refused .*planted: owned by uid 65534, not by root/);
    assert.ok(isAlive(victim.pid), "the process the planted record names is alive");

    // 2. Our own directory, but a record file in it owned by nobody.
    const ours = join(parent, "ours");
    await Deno.mkdir(ours, { mode: 0o755 });
    const path = await writeRunRecord(ours, "evil02", dead, [victimLine]);
    Deno.chownSync(path, 65534, 65534);
    ({ code, out } = await squallClean(ours));
    assert.equal(code, 1, out);
    assert.match(out, /refused .*evil02-\d+\.jsonl: owned by uid 65534, not by root/);
    assert.ok(isAlive(victim.pid));

    // 3. A directory anyone may write to.
    Deno.chownSync(path, 0, 0);
    Deno.chmodSync(ours, 0o777);
    ({ code, out } = await squallClean(ours));
    assert.equal(code, 1, out);
    assert.match(out, /refused .*ours: writable by others \(mode 777\)/);
    assert.ok(isAlive(victim.pid));

    // The same record in a directory only root can write is acted on.
    Deno.chmodSync(ours, 0o700);
    ({ code, out } = await squallClean(ours));
    assert.equal(code, 0, out);
    assert.match(out, /removed run evil02: 1 process still running \(killed pid \d+ agent x\)/);
    assert.equal((await victim.child.status).signal, "SIGKILL", "clean killed it");
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("a run record is written only to a directory squall made private, never under a missing parent", async () => {
  const parent = await Deno.makeTempDir({ prefix: "squall-record-dir-" });
  try {
    const { RunRecord } = await import("../harness/runner/run_record.ts");
    const openRunRecord = (id: string, o: { dir: string }) => RunRecord.open(id, o);
    // A missing parent (a $TMPDIR that does not exist) is not created.
    assert.throws(
      () => openRunRecord("abc123", { dir: join(parent, "no", "such") }),
      /No such file/,
    );
    assert.equal(await exists(join(parent, "no")), false);
    // A directory that exists but others may write to is refused.
    const open = join(parent, "open");
    await Deno.mkdir(open);
    Deno.chmodSync(open, 0o777);
    assert.throws(() => openRunRecord("abc123", { dir: open }), /writable by others/);
    // A new one is made 0700.
    const fresh = join(parent, "fresh");
    using record = openRunRecord("abc123", { dir: fresh });
    assert.equal((Deno.statSync(fresh).mode ?? 0) & 0o777, 0o700);
    assert.ok(record.path.startsWith(fresh));
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
