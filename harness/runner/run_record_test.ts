import assert from "node:assert/strict";
import { join } from "node:path";
import {
  isSameProcess,
  listRunRecords,
  processInfo,
  readRunRecord,
  RUN_DIR,
  RunRecord,
  runRecordDirs,
} from "./run_record.ts";

Deno.test("RunRecord records the runner and each process with start times, and close() removes the file", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "squall_run_record_test_" });
  const child = new Deno.Command("sleep", { args: ["60"], stdout: "null" }).spawn();
  try {
    const runRecord = RunRecord.open("1a2b3c", { dir });
    assert.equal(runRecord.path, join(dir, `1a2b3c-${Deno.pid}.jsonl`));
    assert.deepEqual(listRunRecords(dir), [runRecord.path]);
    assert.equal(runRecord.recordProcess(child.pid, "agent server"), true);
    assert.equal(runRecord.recordCgroup("/sys/fs/cgroup/squall-1a2b3c-42"), true);
    const contents = readRunRecord(runRecord.path);
    assert.deepEqual(contents.cgroups, ["/sys/fs/cgroup/squall-1a2b3c-42"]);
    assert.equal(contents.runId, "1a2b3c");
    assert.deepEqual(contents.runner, {
      pid: Deno.pid,
      startTime: processInfo(Deno.pid)!.startTime,
    });
    assert.deepEqual(contents.processes, [
      { pid: child.pid, startTime: processInfo(child.pid)!.startTime, role: "agent server" },
    ]);
    assert.ok(isSameProcess(child.pid, contents.processes[0]!.startTime));
    assert.ok(!isSameProcess(child.pid, contents.processes[0]!.startTime + 1));
    runRecord.close();
    assert.deepEqual(listRunRecords(dir), [], "closing removed the file");
    runRecord.close();
    assert.equal(runRecord.recordProcess(child.pid, "late"), false, "closed: nothing recorded");
    assert.equal(runRecord.recordCgroup("/sys/fs/cgroup/late"), false);
  } finally {
    child.kill("SIGKILL");
    await child.status;
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("RunRecord.recordProcess() records nothing for a process that is already gone", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "squall_run_record_test_" });
  try {
    using runRecord = RunRecord.open("gone", { dir });
    const child = new Deno.Command("true", { stdout: "null" }).spawn();
    await child.status;
    assert.equal(runRecord.recordProcess(child.pid, "agent"), false);
    assert.deepEqual(readRunRecord(runRecord.path).processes, []);
    assert.throws(() => runRecord.recordProcess(1, "init"), RangeError);
    assert.throws(() => runRecord.recordProcess(1.5, "x"), RangeError);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("RunRecord.open() rejects a run id that is no plain name, and says why it cannot write", () => {
  assert.throws(() => RunRecord.open("../etc", { dir: "/tmp" }), TypeError);
  assert.throws(() => RunRecord.open("", { dir: "/tmp" }), TypeError);
  const file = Deno.makeTempFileSync();
  try {
    assert.throws(
      () => RunRecord.open("abc", { dir: join(file, "sub") }),
      /^Error: Cannot open run record of run "abc": ".*\/sub\/abc-\d+\.jsonl": /,
    );
  } finally {
    Deno.removeSync(file);
  }
});

Deno.test("readRunRecord() skips a line cut short by a crash, and rejects a file without a header", () => {
  const dir = Deno.makeTempDirSync({ prefix: "squall_run_record_test_" });
  try {
    const path = join(dir, "x-1.jsonl");
    Deno.writeTextFileSync(
      path,
      '{"squallRunLedger":1,"runId":"x","bootId":null,"runner":{"pid":99999999,"startTime":5},"startedAt":""}\n' +
        '{"pid":1234,"startTime":6,"role":"agent a"}\n{"pid":12',
    );
    const runRecord = readRunRecord(path);
    assert.equal(runRecord.bootId, null);
    assert.deepEqual(runRecord.processes, [{ pid: 1234, startTime: 6, role: "agent a" }]);
    Deno.writeTextFileSync(path, '{"pid":1234,"startTime":6,"role":"agent a"}\n');
    assert.throws(() => readRunRecord(path), SyntaxError);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("processInfo() reads the start time even when the command name holds ') '", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "squall_run_record_test_" });
  const odd = join(dir, "a) b 1");
  Deno.copyFileSync("/bin/sleep", odd);
  Deno.chmodSync(odd, 0o755);
  const child = new Deno.Command(odd, { args: ["60"], stdout: "null" }).spawn();
  try {
    const stat = Deno.readTextFileSync(`/proc/${child.pid}/stat`);
    assert.ok(stat.includes("(a) b 1)"), stat);
    const expected = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    // Just started, the child may still be running its exec rather than sleeping.
    const info = processInfo(child.pid);
    assert.equal(info?.startTime, expected);
    assert.match(info?.state ?? "", /^[SR]$/);
    assert.equal(processInfo(99_999_999), undefined);
  } finally {
    child.kill("SIGKILL");
    await child.status;
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("runRecordDirs() is SQUALL_RUN_DIR alone when set, else /run/squall then $TMPDIR/squall-runs", () => {
  const saved = { run: Deno.env.get("SQUALL_RUN_DIR"), tmp: Deno.env.get("TMPDIR") };
  try {
    Deno.env.set("SQUALL_RUN_DIR", "/tmp/elsewhere");
    assert.deepEqual(runRecordDirs(), ["/tmp/elsewhere"]);
    Deno.env.delete("SQUALL_RUN_DIR");
    Deno.env.set("TMPDIR", "/var/tmp");
    assert.deepEqual(runRecordDirs(), [RUN_DIR, "/var/tmp/squall-runs"]);
    Deno.env.delete("TMPDIR");
    assert.deepEqual(runRecordDirs(), ["/run/squall", "/tmp/squall-runs"]);
  } finally {
    for (const [name, value] of [["SQUALL_RUN_DIR", saved.run], ["TMPDIR", saved.tmp]]) {
      if (value === undefined) Deno.env.delete(name!);
      else Deno.env.set(name!, value);
    }
  }
});
