import assert from "node:assert/strict";
import {
  cgroup2Mounts,
  cgroupProcesses,
  isRunCgroupPath,
  joinCgroupPrefix,
  ProgramCgroup,
  systemCgroup2Mounts,
} from "./program_cgroup.ts";

Deno.test("cgroup2Mounts() finds cgroup2 mount points in mountinfo, unescaping them", () => {
  const mountinfo = [
    "25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
    "30 25 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate",
    "31 25 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu",
    "41 31 0:38 / /mnt/my\\040cgroups rw,relatime - cgroup2 none rw",
  ].join("\n");
  assert.deepEqual(cgroup2Mounts(mountinfo), ["/sys/fs/cgroup", "/mnt/my cgroups"]);
  assert.deepEqual(cgroup2Mounts(""), []);
});

Deno.test("isRunCgroupPath() accepts only squall-<run id>-<pid> right under a cgroup2 mount", () => {
  const mounts = ["/sys/fs/cgroup"];
  assert.ok(isRunCgroupPath("/sys/fs/cgroup/squall-1a2b3c-42", "1a2b3c", mounts));
  assert.ok(!isRunCgroupPath("/sys/fs/cgroup/squall-4d5e6f-42", "1a2b3c", mounts));
  assert.ok(!isRunCgroupPath("/sys/fs/cgroup/x/squall-1a2b3c-42", "1a2b3c", mounts));
  assert.ok(!isRunCgroupPath("/tmp/squall-1a2b3c-42", "1a2b3c", mounts));
  assert.ok(!isRunCgroupPath("/sys/fs/cgroup/squall-1a2b3c-42/..", "1a2b3c", mounts));
  assert.ok(!isRunCgroupPath("/sys/fs/cgroup/squall-1a2b3c-", "1a2b3c", mounts));
  assert.ok(!isRunCgroupPath("/sys/fs/cgroup/squall-1a2b3c-42", ".*", mounts), "a plain run id");
});

Deno.test("ProgramCgroup.create() makes nothing and says null without a writable mount", () => {
  const recorded: string[] = [];
  const dir = Deno.makeTempDirSync({ prefix: "squall_cgroup_test_" });
  try {
    const missing = `${dir}/no/such/mount`;
    assert.equal(ProgramCgroup.create("1a2b3c", (p) => recorded.push(p), [missing]), null);
    assert.deepEqual(recorded, [`${missing}/squall-1a2b3c-${Deno.pid}`]);
    assert.equal(ProgramCgroup.create("1a2b3c", () => {}, []), null);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a process that joins the run's cgroup keeps its pid, and close() ends it and all it forked", async () => {
  const recorded: string[] = [];
  const cgroup = ProgramCgroup.create("c0ffee", (p) => recorded.push(p));
  assert.ok(cgroup, `a writable cgroup2 mount (${systemCgroup2Mounts().join(", ")})`);
  assert.deepEqual(recorded, [cgroup.path]);
  const [sh, ...args] = joinCgroupPrefix(cgroup.path);
  const child = new Deno.Command(sh!, {
    args: [...args, "/bin/sh", "-c", "setsid sleep 60 & sleep 60 & exec sleep 60"],
    stdin: "null",
    stdout: "null",
  }).spawn();
  try {
    // Until each has exec'd, a process shows as sh or setsid.
    const settled = () => {
      const inside = cgroupProcesses(cgroup.path);
      return inside.length === 3 && inside.every((p) => p.program === "sleep");
    };
    for (let i = 0; i < 100 && !settled(); i++) await new Promise((r) => setTimeout(r, 20));
    const inside = cgroupProcesses(cgroup.path);
    assert.equal(inside.length, 3, JSON.stringify(inside));
    assert.ok(inside.some((p) => p.pid === child.pid), "the joined process kept its pid");
    assert.ok(inside.every((p) => p.program === "sleep"), JSON.stringify(inside));

    const ended = await cgroup.close();
    assert.deepEqual(ended.map((p) => p.pid).sort(), inside.map((p) => p.pid).sort());
    assert.equal((await child.status).signal, "SIGKILL");
    assert.throws(() => Deno.statSync(cgroup.path), Deno.errors.NotFound, "the cgroup is gone");
    assert.deepEqual(await cgroup.close(), ended, "a second close() changes nothing");
  } finally {
    await cgroup.close().catch(() => {});
    await child.status;
  }
});

Deno.test("close() removes cgroups a program made under its own, deepest first", async () => {
  const cgroup = ProgramCgroup.create("deadbe", () => {});
  assert.ok(cgroup, "a writable cgroup2 mount");
  try {
    const own = cgroup.programCgroup(3);
    assert.equal(own, `${cgroup.path}/program-3`);
    Deno.mkdirSync(`${own}/made/by/it`, { recursive: true });
    const [sh, ...args] = joinCgroupPrefix(`${own}/made/by/it`);
    const child = new Deno.Command(sh!, {
      args: [...args, "/bin/sleep", "60"],
      stdin: "null",
      stdout: "null",
    }).spawn();
    for (let i = 0; i < 100 && cgroupProcesses(`${own}/made/by/it`).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const ended = await cgroup.close();
    assert.deepEqual(ended.map((p) => p.pid), [child.pid]);
    assert.equal((await child.status).signal, "SIGKILL");
    assert.throws(() => Deno.statSync(cgroup.path), Deno.errors.NotFound);
  } finally {
    await cgroup.close().catch(() => {});
  }
});
