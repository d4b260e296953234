/**
 * Scenario loading for the `squall` command line: the scenario files under the paths
 * given (directories searched with their subdirectories), each imported in a worker
 * with only the permissions granted (see grants.ts) and validated, and `squall list`'s
 * description of each.
 *
 * @module
 */

import { join, resolve } from "node:path";
import type { Problem } from "../core/errors.ts";
import { describeWorkload } from "../workloads/kinds.ts";
import { linkEnds } from "../scenario/topology.ts";
import { type Scenario, validateScenario, type ValidScenario } from "../scenario/scenario.ts";
import { allowRunOption, type Grants, NO_GRANTS, programAllowed, programDenied } from "./grants.ts";
import { loadInWorker } from "./_scenario_host.ts";

/**
 * How long a scenario module may take to import (its top-level code, a top-level await)
 * before it is bad input: importing a scenario should only declare it.
 */
export const IMPORT_TIMEOUT_MS = 10_000;

/** A scenario module that was imported and is valid. */
export interface Loaded {
  /** The file, as given or as found in a directory. */
  file: string;
  /** The module's default export, as the CLI holds it: its function runs in the worker. */
  scenario: Scenario;
  /** The scenario, validated. */
  valid: ValidScenario;
  /** Ends the worker that holds the module (after its run, or when it will not run). */
  close(): void;
}

/**
 * Finds, imports and validates every scenario under `paths`, each in a worker of its
 * own with the permissions `grants` give; adds problems as found. Close what it returns.
 * Not `toRun` (to list them), the workers end once the declarations are in.
 */
export async function loadScenarios(
  paths: string[],
  problems: Problem[],
  options: { grants?: Grants; importTimeoutMs?: number; toRun?: boolean } = {},
): Promise<Loaded[]> {
  const { grants = NO_GRANTS, importTimeoutMs = IMPORT_TIMEOUT_MS, toRun = true } = options;
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
  // Imported all at once, so that several slow ones cost one timeout, not one each.
  const loads = await Promise.all(
    files.map((file) => loadInWorker(resolve(file), file, grants, importTimeoutMs, toRun)),
  );
  const loaded: Loaded[] = [];
  for (const [i, load] of loads.entries()) {
    const file = files[i]!;
    if (!load.ok) {
      problems.push(...load.problems);
      continue;
    }
    // The declaration, as it crossed from the worker: plain data, validated again here.
    const checked = validateScenario(load.value.scenario, file);
    if (!checked.ok) {
      problems.push(...checked.problems);
      load.value.close();
      continue;
    }
    loaded.push({
      file,
      scenario: load.value.scenario,
      valid: checked.value,
      close: load.value.close,
    });
  }
  return loaded;
}

/**
 * The programs under test a loaded scenario declares that the grants do not let it
 * start (squall starts them as root), each a problem at its workload.
 */
export function deniedPrograms(l: Loaded, grants: Grants): Problem[] {
  const file = l.file;
  return l.valid.workloads.flatMap(({ name, placement: { run } }) =>
    run.kind === "exec" && !programAllowed(run.command[0]!, grants)
      ? [{
        where: `${file}: options.workloads.${name}.run.command`,
        message: programDenied(run.command[0]!),
      }]
      : []
  );
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

/**
 * `squall list`'s lines for a scenario: its hosts, links, workloads and thresholds, and
 * for a program under test the grants do not allow, the option `run` needs for it.
 */
export function describeScenario(l: Loaded, grants: Grants = NO_GRANTS): string {
  const v = l.valid;
  const lines = [`${l.file}: ${v.scenario.name} (${v.network})`];
  lines.push(`  hosts: ${v.hosts.join(", ")}`);
  if (v.links.length > 0) {
    lines.push(`  links: ${v.links.map((l) => linkEnds(l).join(" ↔ ")).join(", ")}`);
  }
  for (const w of v.workloads) {
    const run = w.placement.run;
    // A program under test runs as root: say what squall run would need to start it.
    const needs = run.kind === "exec" && !programAllowed(run.command[0]!, grants)
      ? ` (run needs ${allowRunOption(run.command[0]!)})`
      : "";
    lines.push(`  workload ${w.name} on ${w.placement.on}: ${describeWorkload(run)}${needs}`);
  }
  for (const t of v.thresholds) lines.push(`  threshold ${t.key} ${t.expression}`);
  if (v.scenario.fn) lines.push("  + a scenario function");
  return lines.join("\n");
}
