// The example GitHub Actions workflow (scenarios/_examples/github-actions.yml) is held to
// what it documents: it installs what squall needs at run time, runs squall the README's
// way with the README's Deno, uses only flags that `squall help <command>` lists, and
// uploads and publishes exactly the reports it asked squall to write. Renaming a flag,
// changing the README's command or version, or adding a required tool makes this fail.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { assess } from "../harness/cli/doctor.ts";
import { parseYaml, type YamlMapping, type YamlValue } from "./_yaml.ts";

const root = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, root));
const workflow = mappingOf(parseYaml(read("scenarios/_examples/github-actions.yml")), "workflow");
const readme = read("README.md");
const denoJson = JSON.parse(read("deno.json")) as { tasks: Record<string, string> };

/** A step of the job, with the fields this test reads. */
interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with: YamlMapping;
}

/** One `... task squall <command> ...` line of a step, split into words. */
interface SquallCall {
  step: string;
  words: string[];
  command: string;
  args: string[];
}

function mappingOf(value: YamlValue | undefined, what: string): YamlMapping {
  assert.ok(
    typeof value === "object" && value !== null && !Array.isArray(value),
    `${what} is a mapping`,
  );
  return value;
}

function stringOf(value: YamlValue | undefined, what: string): string {
  assert.equal(typeof value, "string", `${what} is a string`);
  return value as string;
}

/** The one job of the workflow. */
function theJob(): YamlMapping {
  const jobs = mappingOf(workflow.jobs, "jobs");
  const names = Object.keys(jobs);
  assert.equal(names.length, 1, `one job, got ${names.join(", ")}`);
  return mappingOf(jobs[names[0]!], `job ${names[0]}`);
}

function steps(): Step[] {
  const list = theJob().steps;
  assert.ok(Array.isArray(list) && list.length > 0, "the job has steps");
  return list.map((value, i) => {
    const s = mappingOf(value, `step ${i + 1}`);
    const field = (key: string) =>
      s[key] === undefined ? {} : { [key]: stringOf(s[key], `step ${i + 1} ${key}`) };
    return {
      ...field("name"),
      ...field("uses"),
      ...field("run"),
      ...field("if"),
      with: s.with === undefined ? {} : mappingOf(s.with, `step ${i + 1} with`),
    } as Step;
  });
}

function stepUsing(action: string): Step {
  const found = steps().filter((s) => s.uses?.startsWith(`${action}@`));
  assert.equal(found.length, 1, `one step uses ${action}`);
  return found[0]!;
}

/** Splits a shell command line into words: quotes removed, no expansion. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (const c of line) {
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= "";
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? "") + c;
  }
  assert.equal(quote, undefined, `unbalanced quote in ${JSON.stringify(line)}`);
  if (word !== undefined) words.push(word);
  return words;
}

/** The lines of a `run:` script, with backslash-newline continuations joined. */
function scriptLines(run: string): string[] {
  return run.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

function squallCalls(): SquallCall[] {
  const calls: SquallCall[] = [];
  for (const step of steps()) {
    for (const line of scriptLines(step.run ?? "")) {
      const words = shellWords(line);
      const task = words.findIndex((w, i) => w === "task" && words[i + 1] === "squall");
      if (task < 0) continue;
      calls.push({
        step: step.name ?? "(unnamed)",
        words,
        command: words[task + 2] ?? "",
        args: words.slice(task + 3),
      });
    }
  }
  return calls;
}

/** The Deno version the README's "Two commands" pin with `npx -y deno@...`. */
function readmeDenoVersion(): string {
  const section = /^## Two commands\n([\s\S]*?)^## /m.exec(readme)?.[1];
  assert.ok(section, 'README has a "Two commands" section');
  const pinned = [...section.matchAll(/npx -y deno@(\S+) task (\w+)/g)];
  assert.deepEqual(pinned.map((m) => m[2]), ["demo", "test"], "README's two commands");
  assert.equal(pinned[0]![1], pinned[1]![1], "both of the README's commands pin one Deno");
  return pinned[0]![1]!;
}

/** `squall help <command>`, run as deno.json's `squall` task runs squall. */
async function squallHelp(command: string): Promise<string> {
  const [deno, ...args] = denoJson.tasks.squall!.split(" ");
  assert.equal(deno, "deno", "the squall task runs deno");
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...args, "help", command],
    cwd: fileURLToPath(root),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `squall help ${command}: ${stderr}`);
  return new TextDecoder().decode(output.stdout);
}

/** The options a command's help lists, and whether each takes a value (`--json FILE`). */
function optionsOf(help: string): Map<string, boolean> {
  const options = new Map<string, boolean>();
  for (const m of help.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z-]*)( [A-Z]+)?(?= |$)/gm)) {
    options.set(m[1]!, m[2] !== undefined);
  }
  // Deno's syntax for permissions: a value only after "=" (--allow-run[=PROGRAM,...]).
  for (const m of help.matchAll(/^ {2}(--allow-[a-z]+)(\[=[A-Z]+,\.\.\.\])?(?= |$)/gm)) {
    options.set(m[1]!, false);
  }
  return options;
}

/** A call's arguments read as squall reads them; fails on an option its help does not list. */
async function parseCall(
  call: SquallCall,
): Promise<{ options: Map<string, string | true>; positionals: string[] }> {
  const known = optionsOf(await squallHelp(call.command));
  assert.ok(known.size > 0, `squall help ${call.command} lists options`);
  const options = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < call.args.length; i++) {
    const given = call.args[i]!;
    if (!given.startsWith("-")) {
      positionals.push(given);
      continue;
    }
    const [arg, granted] = given.startsWith("--allow-") && given.includes("=")
      ? [given.slice(0, given.indexOf("=")), given.slice(given.indexOf("=") + 1)]
      : [given, undefined];
    if (granted !== undefined) {
      assert.ok(known.has(arg), `${call.step}: squall ${call.command} has no option ${arg}`);
      options.set(arg, granted);
      continue;
    }
    assert.ok(
      known.has(arg),
      `${call.step}: squall ${call.command} has no option ${arg} (it has ${
        [...known.keys()].join(", ")
      })`,
    );
    if (!known.get(arg)) {
      options.set(arg, true);
      continue;
    }
    const value = call.args[++i];
    assert.ok(value !== undefined && !value.startsWith("-"), `${call.step}: ${arg} has a value`);
    options.set(arg, value);
  }
  return { options, positionals };
}

function runCall(): SquallCall {
  const runs = squallCalls().filter((c) => c.command === "run");
  assert.equal(runs.length, 1, "one step runs `squall run`");
  return runs[0]!;
}

Deno.test("the example workflow is a workflow with triggers, on an Ubuntu runner", () => {
  assert.equal(typeof workflow.name, "string");
  const on = mappingOf(workflow.on, "on");
  assert.ok(
    Object.hasOwn(on, "push") && Object.hasOwn(on, "pull_request"),
    "it runs on pushes and pull requests",
  );
  assert.match(stringOf(theJob()["runs-on"], "runs-on"), /^ubuntu-/);
  const permissions = mappingOf(workflow.permissions, "permissions");
  assert.equal(permissions.checks, "write", "the JUnit check run needs checks: write");
  for (const step of steps()) assert.ok(step.name, `every step has a name: ${step.uses ?? ""}`);
});

Deno.test("the example workflow checks out, installs, then runs, then reports", () => {
  const all = steps();
  const index = (test: (s: Step) => boolean, what: string) => {
    const i = all.findIndex(test);
    assert.ok(i >= 0, `a step that ${what}`);
    return i;
  };
  const checkout = index((s) => s.uses?.startsWith("actions/checkout@") ?? false, "checks out");
  const install = index((s) => s.run?.includes("apt-get install") ?? false, "installs packages");
  const run = index((s) => s.run?.includes("task squall run") ?? false, "runs squall");
  const upload = index((s) => s.uses?.startsWith("actions/upload-artifact@") ?? false, "uploads");
  const junit = index((s) => s.uses?.startsWith("mikepenz/action-junit-report@") ?? false, "junit");
  assert.ok(checkout < install && install < run && run < upload && run < junit);
});

Deno.test("the example workflow installs every package squall needs at run time", () => {
  const install = steps().flatMap((s) => scriptLines(s.run ?? "")).map(shellWords)
    .filter((w) => w.includes("apt-get") && w.includes("install"));
  assert.equal(install.length, 1, "one apt-get install");
  const words = install[0]!;
  assert.equal(words[0], "sudo");
  const packages = new Set(words.slice(words.indexOf("install") + 1).filter((w) => !/^-/.test(w)));
  // What `squall doctor` tells a machine with nothing to install, for the items squall
  // run cannot do without.
  const nothing = { ok: false, detail: "missing" };
  const items = assess({
    uid: 0,
    capEff: (1n << 40n) - 1n,
    netns: nothing,
    veth: nothing,
    xdpNative: nothing,
    xdpGeneric: nothing,
    cgroup: nothing,
    tracepoints: nothing,
    netem: nothing,
    libbpf: { path: null, version: null, error: "missing" },
    deno: readmeDenoVersion(),
    tools: {},
  });
  const required = items.filter((i) => i.required)
    .map((i) => /^apt-get install (\S+)/.exec(i.fix ?? "")?.[1])
    .filter((p) => p !== undefined);
  // The README's "iproute2, util-linux" for ip, nsenter, unshare and setpriv, and more.
  assert.ok(required.includes("iproute2") && required.includes("util-linux"), `${required}`);
  for (const p of required) assert.ok(packages.has(p!), `installs ${p} (squall doctor's fix)`);
  // Programs under test of the example scenarios must be there too.
  for (const entry of Deno.readDirSync(new URL("scenarios/", root))) {
    if (!entry.isFile || !entry.name.endsWith(".ts") || entry.name.startsWith("_")) continue;
    const source = read(`scenarios/${entry.name}`);
    if (source.includes('"python3"')) {
      assert.ok(packages.has("python3"), `installs python3, which ${entry.name} runs`);
    }
    if (/\b(delay|rateLimit)\(/.test(source)) {
      assert.ok(packages.has("iptables"), `installs iptables, which ${entry.name}'s delays need`);
    }
  }
});

Deno.test("the example workflow runs squall as the README does, with the README's Deno", async () => {
  const version = readmeDenoVersion();
  const squall = /`deno task squall` is `([^`]+)`/.exec(readme)?.[1];
  assert.equal(squall, denoJson.tasks.squall, "README says what `deno task squall` runs");
  // The demo skips, and says so, what this machine cannot run (iptables for delays); CI
  // installs everything and runs every scenario.
  assert.equal(
    denoJson.tasks.demo,
    `${squall} run scenarios/ --skip-unavailable --allow-run=python3,deno`,
    "the demo task is squall run",
  );
  const calls = squallCalls();
  assert.ok(calls.length > 0);
  for (const call of calls) {
    const npx = call.words.indexOf("npx");
    assert.deepEqual(
      call.words.slice(npx, npx + 5),
      ["npx", "-y", `deno@${version}`, "task", "squall"],
      `${call.step}: npx -y deno@${version} task squall, as in the README`,
    );
    assert.equal(call.words[0], "sudo", `${call.step}: as root (namespaces need it)`);
  }
  const pinned = [...JSON.stringify(workflow).matchAll(/deno@([^\s"\\]+)/g)].map((m) => m[1]);
  assert.deepEqual([...new Set(pinned)], [version], "every deno@ in the workflow");
  const { positionals } = await parseCall(runCall());
  assert.deepEqual(positionals, ["scenarios/"], "it runs every scenario in scenarios/");
  assert.ok(Deno.statSync(new URL("scenarios/", root)).isDirectory);
});

Deno.test("every squall option in the example workflow is in `squall help`", async () => {
  const calls = squallCalls();
  assert.deepEqual(calls.map((c) => c.command).sort(), ["doctor", "run"]);
  for (const call of calls) await parseCall(call);
});

Deno.test("the example workflow uploads and publishes the reports squall writes", async () => {
  const { options } = await parseCall(runCall());
  const report = (option: string) => {
    const path = options.get(option);
    assert.ok(typeof path === "string", `squall run writes a report with ${option} FILE`);
    return path;
  };
  const junitPath = report("--junit");
  const written = [junitPath, report("--json"), report("--html")];
  assert.equal(new Set(written).size, 3, "three different report files");

  const upload = stepUsing("actions/upload-artifact");
  assert.equal(upload.if, "always()", "the reports are uploaded when the run failed too");
  assert.match(upload.uses!, /@v4$/);
  const uploaded = stringOf(upload.with.path, "upload path").split("\n").map((l) => l.trim())
    .filter((l) => l !== "");
  assert.deepEqual(uploaded.sort(), written.sort());

  const junit = stepUsing("mikepenz/action-junit-report");
  assert.equal(junit.if, "always()", "the JUnit results are published when the run failed too");
  assert.equal(junit.with.report_paths, junitPath);
});
