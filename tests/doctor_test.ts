// `squall doctor` on this machine (root, a real kernel): every required item is there,
// it exits 0, its JSON agrees with its text, and it leaves nothing behind in the host's
// namespace. Its probe child refuses to make interfaces in the host's namespace.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { type CliIo, main } from "../harness/cli/main.ts";
import type { DoctorReport } from "../harness/cli/doctor.ts";
import { hostInterfaces, SQUALL_CLI } from "./_processes.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function capture(): CliIo & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    out: (line) => lines.push(line),
    err: (line) => lines.push(line),
    color: false,
    handleSignals: false,
  };
}

Deno.test("doctor passes on this machine: exit 0, every required item ✓", async () => {
  const io = capture();
  const code = await main(["doctor"], io);
  const text = io.lines.join("\n");
  assert.equal(code, 0, text);
  for (
    const name of [
      "root, with CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_BPF",
      "network namespaces (unshare --net)",
      "veth pairs (in a throwaway namespace)",
      "XDP on veth, native mode",
      "libbpf.so.1",
      "Deno",
      "ip (iproute2)",
      "nsenter (util-linux)",
      "unshare (util-linux)",
      "setpriv (util-linux)",
    ]
  ) {
    assert.ok(
      text.split("\n").some((l) => l.startsWith(`✓ ${name} `)),
      `✓ ${name}\n${text}`,
    );
  }
  assert.match(text, /^✓ Deno +2\.9\.6$/m);
  assert.match(text, /^Every required item is here/m);
});

Deno.test("doctor --json gives the same verdict as machine-readable JSON", async () => {
  const child = await new Deno.Command(Deno.execPath(), {
    args: [...SQUALL_CLI, "doctor", "--json"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(child.stdout);
  assert.equal(child.code, 0, new TextDecoder().decode(child.stderr) + stdout);
  const report = JSON.parse(stdout) as DoctorReport;
  assert.equal(report.ok, true);
  assert.equal(report.exitCode, 0);
  assert.ok(report.items.length >= 15);
  for (const item of report.items.filter((i) => i.required)) {
    assert.equal(item.ok, true, `${item.id}: ${item.detail}`);
  }
  const libbpf = report.items.find((i) => i.id === "libbpf");
  assert.match(libbpf?.detail ?? "", /^\d+\.\d+ \(\/.*libbpf\.so\.1\)$/, "version from libbpf");
});

Deno.test("doctor leaves no interface in the host's namespace, and its probe refuses to run there", async () => {
  const before = await hostInterfaces();
  assert.equal(await main(["doctor"], capture()), 0);
  assert.deepEqual(await hostInterfaces(), before);

  const probe = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "harness/cli/_doctor_probe.ts"],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(probe.code, 1);
  assert.match(new TextDecoder().decode(probe.stderr), /refusing to create interfaces here/);
  assert.deepEqual(await hostInterfaces(), before, "nothing was made in the host's namespace");
  assert.ok(!before.some((name) => name.startsWith("sqdoctor")));
});
