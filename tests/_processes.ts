// What tests need to prove that nothing outlives a run: which processes and network
// namespaces exist, read from /proc.

/**
 * Deno's arguments that run the squall CLI from the repository root, as deno.json's
 * `squall` task does (`deno task squall` is `deno <these>`): give them to
 * `new Deno.Command(Deno.execPath(), { args: [...SQUALL_CLI, "run", file], cwd: root })`.
 */
export const SQUALL_CLI: readonly string[] = (() => {
  const config = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url)));
  const [deno, ...args] = (config.tasks.squall as string).split(" ");
  if (deno !== "deno") throw new Error(`deno.json's squall task does not run deno: ${deno}`);
  return args;
})();

/** The network namespace of a process (`net:[4026532...]`), or undefined when it is gone. */
export function netnsOf(pid: number): string | undefined {
  try {
    return Deno.readLinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

/** Whether a process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Every network namespace some process is in. */
export function allNetns(): Set<string> {
  const found = new Set<string>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const ns = netnsOf(Number(entry.name));
    if (ns) found.add(ns);
  }
  return found;
}

/** Names of the interfaces in the host's namespace. */
export async function hostInterfaces(): Promise<string[]> {
  const out = await new Deno.Command("ip", { args: ["-j", "link", "show"], stdout: "piped" })
    .output();
  return (JSON.parse(new TextDecoder().decode(out.stdout)) as { ifname: string }[]).map((l) =>
    l.ifname
  );
}

/** Names listed by `ip netns list`. */
export async function namedNetns(): Promise<string[]> {
  const out = await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.split(" ")[0]!).filter(
    Boolean,
  );
}

/** Polls `condition` every 50 ms until it holds or `ms` pass; returns whether it held. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  ms: number,
): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return await condition();
}

/** Paths under `dirs` (two levels deep) whose name contains `text`. */
export function filesNamed(text: string, dirs: string[]): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      const path = `${dir}/${e.name}`;
      if (e.name.includes(text)) found.push(path);
      if (e.isDirectory && depth > 0) walk(path, depth - 1);
    }
  };
  for (const dir of dirs) walk(dir, 1);
  return found;
}

/**
 * Runs `squall clean`, as a user would after a crash: it removes the run records of runs
 * whose runner is gone. Returns what it printed; throws if it did not exit 0.
 */
export async function squallClean(): Promise<string> {
  const root = new URL("..", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...SQUALL_CLI, "clean"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const said = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  if (output.code !== 0) throw new Error(`squall clean exited with ${output.code}:\n${said}`);
  return said;
}
