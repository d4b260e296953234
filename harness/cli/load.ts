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
import { formatDuration } from "../core/duration.ts";
import { describeWorkload } from "../workloads/kinds.ts";
import { linkEnds } from "../scenario/topology.ts";
import {
  isScenario,
  type Scenario,
  validateScenario,
  type ValidScenario,
} from "../scenario/scenario.ts";

/**
 * How long a scenario module may take to import (its top-level code, a top-level await)
 * before it is bad input: importing a scenario should only declare it.
 */
export const IMPORT_TIMEOUT_MS = 10_000;

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
export async function loadScenarios(
  paths: string[],
  problems: Problem[],
  importTimeoutMs: number = IMPORT_TIMEOUT_MS,
): Promise<Loaded[]> {
  const files: string[] = [];
  for (const path of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      problems.push({ where: path, message: statFailure(error, path) });
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
  // Imported all at once, so that several slow ones cost one timeout, not one each.
  const imports = files.map((file) =>
    importWithin(pathToFileURL(resolve(file)).href, importTimeoutMs)
  );
  imports.forEach((i) => i.catch(() => {}));
  for (const [i, file] of files.entries()) {
    const where = file;
    let module: Record<string, unknown>;
    try {
      module = await imports[i]!;
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
    let checked: ReturnType<typeof validateScenario>;
    try {
      checked = validateScenario(s, where);
    } catch (error) {
      // A getter of the scenario's own that throws (options, a workload's fields).
      problems.push({
        where,
        message: `reading the scenario threw: ${
          error instanceof Error ? `${error.name}: ${error.message}` : String(error)
        }`,
      });
      continue;
    }
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
/** `import(url)`, or a rejection saying it had not finished after `ms`. */
async function importWithin(url: string, ms: number): Promise<Record<string, unknown>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new Error(
          `the module had not finished importing after ${
            formatDuration(ms)
          } (a top-level await that never settles, or top-level code that keeps running?)`,
        ),
      );
    }, ms);
  });
  try {
    return await Promise.race([import(url), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Why a path given on the command line cannot be read, as the system says. */
function statFailure(error: unknown, path: string): string {
  if (path.includes("\uFFFD")) {
    // Deno's arguments are strings: bytes that are not UTF-8 arrive as U+FFFD.
    return "the name is not valid UTF-8 (shown with \uFFFD), and squall can open only UTF-8 paths: rename the file";
  }
  if (error instanceof Deno.errors.NotFound) return "no such file or directory";
  const message = error instanceof Error ? error.message : String(error);
  // "Too many levels of symbolic links (os error 40), stat '...'": the reason only.
  const reason = message.replace(/ \(os error \d+\)[\s\S]*$/, "");
  return `cannot read it: ${reason.charAt(0).toLowerCase()}${reason.slice(1)}`;
}

function describeImportError(error: unknown, file: string): string {
  if (error instanceof Error && error.message.startsWith("the module had not finished")) {
    return error.message;
  }
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
