// The floor plan of harness/, checked: folders are layers, imports run one way (down),
// `_name.ts` is private to its folder, the agent's import closure holds nothing of the
// runner, the CLI or the renderers, and the FFI workers load only harness/native.

import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const HARNESS = join(ROOT, "harness");

/** The layers, highest first: a folder may import its own and those below it. */
export const LAYERS = [
  "cli",
  "render",
  "runner",
  "scenario",
  "workloads",
  "agent",
  "kernel",
  "native",
  "measure",
  "core",
] as const;

const IMPORT = /^\s*(?:import|export)\s[^;]*?\sfrom\s+"(\.[^"]+)"|^\s*import\s+"(\.[^"]+)"/gm;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) out.push(...sourceFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** The relative imports of a file, resolved to absolute paths (comments are skipped). */
function importsOf(file: string): string[] {
  const text = Deno.readTextFileSync(file);
  return [...text.matchAll(IMPORT)].map((m) => normalize(join(dirname(file), m[1] ?? m[2]!)));
}

function layerOf(file: string): string | undefined {
  const rel = relative(HARNESS, file);
  return rel.startsWith("..") ? undefined : rel.split("/")[0];
}

Deno.test("harness/ has exactly the layer folders, at most two levels deep", () => {
  const entries = [...Deno.readDirSync(HARNESS)];
  assert.deepEqual(
    entries.filter((e) => !e.isDirectory).map((e) => e.name),
    [],
    "no loose files in harness/",
  );
  assert.deepEqual(entries.map((e) => e.name).sort(), [...LAYERS].sort());
  for (const layer of LAYERS) {
    for (const entry of Deno.readDirSync(join(HARNESS, layer))) {
      assert.ok(!entry.isDirectory, `harness/${layer}/${entry.name} is a third level`);
    }
  }
});

Deno.test("imports in harness/ run down the layers only", () => {
  const problems: string[] = [];
  for (const file of sourceFiles(HARNESS)) {
    if (file.endsWith("_test.ts")) continue;
    const from = LAYERS.indexOf(layerOf(file) as typeof LAYERS[number]);
    for (const target of importsOf(file)) {
      const layer = layerOf(target);
      if (layer === undefined) continue;
      const to = LAYERS.indexOf(layer as typeof LAYERS[number]);
      if (to < from) problems.push(`${relative(ROOT, file)} imports ${relative(ROOT, target)}`);
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("a _private file is imported only from its own folder", () => {
  const files = [
    ...sourceFiles(HARNESS),
    ...sourceFiles(join(ROOT, "tests")),
    ...sourceFiles(join(ROOT, "scenarios")),
    join(ROOT, "mod.ts"),
  ];
  const problems: string[] = [];
  for (const file of files) {
    for (const target of importsOf(file)) {
      const name = target.split("/").pop()!;
      if (!target.startsWith(HARNESS) || !name.startsWith("_")) continue;
      if (dirname(target) !== dirname(file)) {
        problems.push(`${relative(ROOT, file)} imports ${relative(ROOT, target)}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

/**
 * The local modules a module loads at run time: `deno info --json`, walked along code
 * imports only (`import type` is erased and never loaded).
 */
async function closure(entry: string): Promise<string[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--no-config", entry],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    roots: string[];
    modules: { specifier: string; dependencies?: { code?: { specifier: string } }[] }[];
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const queue = [...info.roots];
  while (queue.length > 0) {
    const specifier = queue.pop()!;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    for (const dep of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (dep.code) queue.push(dep.code.specifier);
    }
  }
  return [...seen]
    .filter((s) => s.startsWith("file://"))
    .map((s) => relative(ROOT, fileURLToPath(s)))
    .sort();
}

Deno.test("the agent's import closure holds nothing of the runner, the CLI or the renderers", async () => {
  const modules = await closure(join(HARNESS, "agent", "main.ts"));
  assert.ok(modules.length > 5, `closure found: ${modules.join(", ")}`);
  const above = modules.filter((m) => /^harness\/(cli|render|runner|scenario)\//.test(m));
  assert.deepEqual(above, []);
  assert.deepEqual(modules.filter((m) => !m.startsWith("harness/")), []);
});

Deno.test("the FFI workers load only harness/native, the one folder an agent may read", async () => {
  const workers = [...Deno.readDirSync(join(HARNESS, "native"))]
    .filter((e) => e.name.endsWith("_worker.ts"))
    .map((e) => join(HARNESS, "native", e.name));
  assert.ok(workers.length >= 1);
  for (const worker of workers) {
    const outside = (await closure(worker)).filter((m) => !m.startsWith("harness/native/"));
    assert.deepEqual(outside, [], `${relative(ROOT, worker)} loads files outside harness/native`);
  }
});
