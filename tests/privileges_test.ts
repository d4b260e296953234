// Without root: a namespaces scenario fails at once with exit 3 and a hint, creating
// nothing; a loopback scenario runs and passes as an unprivileged user.

import assert from "node:assert/strict";
import { SQUALL_CLI } from "./_processes.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const NOBODY = "65534";

/** Copies the project and the Deno binary where user nobody can read them. */
async function nobodyCopy(): Promise<{ dir: string; deno: string }> {
  const dir = await Deno.makeTempDir({ prefix: "squall-nobody-" });
  await Deno.chmod(dir, 0o755);
  for (const entry of ["deno.json", "deno.lock", "mod.ts", "harness", "scenarios"]) {
    const cp = await new Deno.Command("cp", { args: ["-r", `${ROOT}/${entry}`, dir] }).output();
    assert.ok(cp.success, `copy ${entry}`);
  }
  const deno = `${dir}/deno`;
  await Deno.copyFile(Deno.execPath(), deno);
  await Deno.chmod(deno, 0o755);
  await Deno.mkdir(`${dir}/home`, { mode: 0o777 });
  await Deno.chmod(`${dir}/home`, 0o777);
  return { dir, deno };
}

async function runAsNobody(
  copy: { dir: string; deno: string },
  scenario: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("setpriv", {
    args: [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      "--clear-groups",
      "--",
      copy.deno,
      ...SQUALL_CLI,
      "run",
      scenario,
    ],
    cwd: copy.dir,
    env: {
      HOME: `${copy.dir}/home`,
      DENO_DIR: `${copy.dir}/home/deno`,
      NO_COLOR: "1",
      PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("without root, squall explains itself and creates nothing", async (t) => {
  const copy = await nobodyCopy();
  try {
    await t.step("a namespaces scenario exits 3 with a one-line error and a hint", async () => {
      const result = await runAsNobody(copy, "scenarios/udp_echo.ts");
      assert.equal(result.code, 3);
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 2, result.stderr);
      assert.match(
        lines[0]!,
        /^squall: Cannot create network namespaces: squall runs as uid 65534, not root$/,
      );
      assert.match(lines[1]!, /^hint: .*network: "loopback"/);
      assert.doesNotMatch(result.stdout, /agent pid/, "no agent was started");
    });
    await t.step("a loopback scenario runs and passes", async () => {
      const result = await runAsNobody(copy, "scenarios/loopback.ts");
      assert.equal(result.code, 0, result.stderr + result.stdout);
      assert.match(result.stdout, /PASSED udp echo on loopback/);
    });
  } finally {
    await Deno.remove(copy.dir, { recursive: true });
  }
});
