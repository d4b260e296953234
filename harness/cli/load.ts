/**
 * Scenario loading for the `squall` command line: the scenario files under the paths
 * given (directories searched with their subdirectories), each imported and validated,
 * and `squall list`'s description of each.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Problem } from "../core/errors.ts";
import { describeWorkload } from "../workloads/kinds.ts";
import { linkEnds } from "../scenario/topology.ts";
import {
  isScenario,
  type Scenario,
  validateScenario,
  type ValidScenario,
} from "../scenario/scenario.ts";

/** A scenario module that was imported and is valid. */
export interface Loaded {
  /** The file, as given or as found in a directory. */
  file: string;
  /** The module's default export. */
  scenario: Scenario;
  /** The scenario, validated. */
  valid: ValidScenario;
}

/** Finds, imports and validates every scenario under `paths`; adds problems as found. */
export async function loadScenarios(paths: string[], problems: Problem[]): Promise<Loaded[]> {
  const files: string[] = [];
  for (const path of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch {
      problems.push({ where: path, message: "no such file or directory" });
      continue;
    }
    if (info.isDirectory) {
      const found = await findScenarioFiles(path);
      if (found.length === 0) {
        problems.push({ where: path, message: "no scenario files (.ts) in this directory" });
      }
      files.push(...found);
    } else files.push(path);
  }
  const loaded: Loaded[] = [];
  for (const file of files) {
    const where = file;
    let module: Record<string, unknown>;
    try {
      module = await import(pathToFileURL(resolve(file)).href);
    } catch (error) {
      problems.push({
        where,
        message: `cannot import the module: ${describeImportError(error, file)}`,
      });
      continue;
    }
    const s = module.default;
    if (!isScenario(s)) {
      problems.push({
        where,
        message: "the module does not export a scenario as default (export default scenario(...))",
      });
      continue;
    }
    const checked = validateScenario(s, where);
    if (!checked.ok) problems.push(...checked.problems);
    else loaded.push({ file: where, scenario: s, valid: checked.value });
  }
  return loaded;
}

/**
 * The scenario files in a directory and its subdirectories, sorted: .ts files but
 * *_test.ts, skipping names that start with _ or a dot.
 */
async function findScenarioFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.name.startsWith(".") || entry.name.startsWith("_")) continue;
    if (entry.isDirectory) found.push(...await findScenarioFiles(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) found.push(path);
  }
  return found.sort();
}

/** An import error's message, with where in the scenario file it happened when known. */
function describeImportError(error: unknown, file: string): string {
  if (!(error instanceof Error)) return String(error);
  const lines = error.message.split("\n").map((l) => l.trim()).filter(Boolean);
  // Deno puts the location of a syntax error on a line "at file:///...:3:5".
  const location = lines.find((l) => l.startsWith("at file://")) ??
    error.stack?.split("\n").map((l) => l.trim()).find((l) =>
      l.startsWith("at ") && l.includes(pathToFileURL(resolve(file)).href)
    );
  const where = location ? ` (${location.replace(/^at /, "").replace(/^.*\((.*)\)$/, "$1")})` : "";
  // A syntax error arrives as a TypeError whose message starts "SyntaxError: ...".
  const head = /^\w+Error: /.test(lines[0] ?? "") ? lines[0] : `${error.name}: ${lines[0]}`;
  return `${head}${where}`;
}

/** `squall list`'s lines for a scenario: its hosts, links, workloads and thresholds. */
export function describeScenario(l: Loaded): string {
  const v = l.valid;
  const lines = [`${l.file}: ${v.scenario.name} (${v.network})`];
  lines.push(`  hosts: ${v.hosts.join(", ")}`);
  if (v.links.length > 0) {
    lines.push(`  links: ${v.links.map((l) => linkEnds(l).join(" ↔ ")).join(", ")}`);
  }
  for (const w of v.workloads) {
    lines.push(`  workload ${w.name} on ${w.placement.on}: ${describeWorkload(w.placement.run)}`);
  }
  for (const t of v.thresholds) lines.push(`  threshold ${t.key} ${t.expression}`);
  if (v.scenario.fn) lines.push("  + a scenario function");
  return lines.join("\n");
}
