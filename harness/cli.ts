/**
 * The `squall` command line: `run`, `list`, `help`. {@linkcode main} returns the exit
 * code instead of exiting, so the CLI can run inside a test.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { checkEnvironment } from "./environment.ts";
import { EnvironmentError, formatProblems, type Problem, SquallError } from "./errors.ts";
import { ExitCode } from "./exit_codes.ts";
import {
  REPORT_SCHEMA_VERSION,
  type RunReport,
  type ScenarioReport,
  SQUALL_VERSION,
} from "./report.ts";
import { runScenario } from "./runner.ts";
import { linkEnds } from "./topology.ts";
import { isScenario, type Scenario, validateScenario, type ValidScenario } from "./scenario.ts";
import {
  formatEvent,
  formatScenarioReport,
  formatSummary,
  type TextOptions,
} from "./text_report.ts";

/** Where the CLI writes, and whether it may colour and handle signals. */
export interface CliIo {
  /** Writes a line of normal output. */
  out(line: string): void;
  /** Writes a line of diagnostics. */
  err(line: string): void;
  /** Use ANSI colours. */
  color: boolean;
  /** Install SIGINT/SIGTERM handlers that interrupt the run (off inside tests). */
  handleSignals: boolean;
}

const USAGE = `Usage:
  squall run <file|dir>... [--json FILE] [--quiet] [--no-color]
  squall list <file|dir>...
  squall help`;

const OPTIONS = ["--json FILE", "--quiet", "--no-color", "--help", "--version"];

/** The help text. */
export const HELP = `squall: a scriptable network test harness

${USAGE}

Commands:
  run    Run scenarios (a scenario module's default export) and report loss and latency.
         Directories are searched for .ts files, except *_test.ts and _*.ts.
  list   Validate scenarios and list them with their hosts and workloads; creates nothing.
  help   Show this text.

Options:
  --json FILE   Also write the report as JSON (schema version ${REPORT_SCHEMA_VERSION}).
  --quiet       Print only the results, not the run header.
  --no-color    Never colour the output (colour is used only on a terminal).
  -h, --help    Show this text.
  -V, --version Show the version.

Exit codes:
  0    every scenario passed
  1    a check or threshold failed, or a workload failed
  2    bad input: an invalid scenario or option; nothing was created
  3    environment: not root, or a tool is missing (a one-line hint says what to do)
  130  interrupted (Ctrl-C); what was measured is still reported

Examples:
  sudo deno task squall run scenarios/udp_echo.ts
  deno task squall run scenarios/loopback.ts --json out/report.json
  deno task squall list scenarios/`;

/** How often a long run prints a progress line per running probe. */
const PROGRESS_INTERVAL_MS = 5000;

interface Loaded {
  file: string;
  scenario: Scenario;
  valid: ValidScenario;
}

/** Runs the CLI with `args`; resolves with the exit code. */
export async function main(args: string[], io: CliIo = defaultIo()): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        json: { type: "string" },
        quiet: { type: "boolean" },
        "no-color": { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
    });
  } catch (error) {
    io.err(`squall: ${describeArgsError(error)}\nRun "squall help" for usage.`);
    return ExitCode.BadInput;
  }
  const { values, positionals } = parsed;
  const text: TextOptions = { color: io.color && !values["no-color"] };
  if (values.version) {
    io.out(`squall ${SQUALL_VERSION} (deno ${Deno.version.deno})`);
    return ExitCode.Pass;
  }
  const [command, ...paths] = positionals;
  if (values.help || command === "help") {
    io.out(HELP);
    return ExitCode.Pass;
  }
  if (command === undefined) {
    io.err(`${USAGE}\nRun "squall help" for commands, options and exit codes.`);
    return ExitCode.BadInput;
  }
  if (command !== "run" && command !== "list") {
    io.err(`squall: unknown command "${command}"\nRun "squall help" for usage.`);
    return ExitCode.BadInput;
  }
  if (paths.length === 0) {
    io.err(
      `squall ${command}: give at least one scenario file or directory\nRun "squall help" for usage.`,
    );
    return ExitCode.BadInput;
  }

  const problems: Problem[] = [];
  if (command === "list" && values.json !== undefined) {
    problems.push({ where: "--json", message: "list writes no report: --json goes with run" });
  } else if (values.json !== undefined) problems.push(...checkOutputPath(values.json, "--json"));
  const loaded = await loadScenarios(paths, problems);
  if (problems.length > 0) {
    io.err(formatProblems(problems).replace("Invalid scenario", "Invalid input"));
    io.err("Nothing was created.");
    return ExitCode.BadInput;
  }
  if (command === "list") {
    for (const l of loaded) io.out(describeScenario(l));
    return ExitCode.Pass;
  }

  try {
    for (const network of new Set(loaded.map((l) => l.valid.network))) checkEnvironment(network);
  } catch (error) {
    if (error instanceof EnvironmentError) {
      io.err(`squall: ${error.message}\nhint: ${error.hint}`);
      return error.exitCode;
    }
    throw error;
  }
  return await runAll(loaded, values.json, values.quiet ?? false, text, io);
}

async function runAll(
  loaded: Loaded[],
  jsonPath: string | undefined,
  quiet: boolean,
  text: TextOptions,
  io: CliIo,
): Promise<number> {
  const controller = new AbortController();
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals === 1) {
      io.err("\nInterrupted: stopping workloads and tearing down (again to quit at once)");
      controller.abort();
    } else Deno.exit(ExitCode.Interrupted);
  };
  if (io.handleSignals) {
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
  }
  const startedAt = new Date().toISOString();
  const start = performance.now();
  const reports: ScenarioReport[] = [];
  try {
    for (const l of loaded) {
      if (controller.signal.aborted) break;
      const report = await runScenario(l.scenario, {
        file: l.file,
        signal: controller.signal,
        progressIntervalMs: quiet ? 0 : PROGRESS_INTERVAL_MS,
        onEvent: (event) => {
          if (quiet) return;
          const line = formatEvent(event, text);
          if (line !== undefined) io.out(line);
        },
      });
      reports.push(report);
      io.out(formatScenarioReport(report, text));
    }
  } catch (error) {
    if (!(error instanceof SquallError)) throw error;
    io.err(
      `squall: ${error.message}${error instanceof EnvironmentError ? `\nhint: ${error.hint}` : ""}`,
    );
    return error.exitCode;
  } finally {
    if (io.handleSignals) {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    }
  }
  const run = runReport(reports, startedAt, performance.now() - start, controller.signal.aborted);
  io.out(formatSummary(run, text));
  if (jsonPath !== undefined) {
    await Deno.writeTextFile(jsonPath, JSON.stringify(run, null, 2) + "\n");
    io.out(`JSON report written to ${jsonPath}`);
  }
  return run.exitCode;
}

/** Builds the report of a whole run from its scenario reports. */
export function runReport(
  scenarios: ScenarioReport[],
  startedAt: string,
  durationMs: number,
  interrupted: boolean,
): RunReport {
  const summary = { total: scenarios.length, passed: 0, failed: 0, error: 0, interrupted: 0 };
  for (const s of scenarios) summary[s.status]++;
  const codes = scenarios.map((s) => s.exitCode);
  let exitCode: RunReport["exitCode"] = ExitCode.Pass;
  if (codes.includes(ExitCode.Failed)) exitCode = ExitCode.Failed;
  if (codes.includes(ExitCode.BadInput)) exitCode = ExitCode.BadInput;
  if (codes.includes(ExitCode.Environment)) exitCode = ExitCode.Environment;
  if (interrupted || codes.includes(ExitCode.Interrupted)) exitCode = ExitCode.Interrupted;
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    tool: { name: "squall", version: SQUALL_VERSION, deno: Deno.version.deno },
    startedAt,
    durationMs,
    exitCode,
    summary,
    scenarios,
  };
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

function checkOutputPath(path: string, option: string): Problem[] {
  const dir = dirname(resolve(path));
  try {
    const info = Deno.statSync(dir);
    if (!info.isDirectory) return [{ where: option, message: `"${dir}" is not a directory` }];
  } catch {
    return [{
      where: option,
      message: `cannot write "${path}": directory "${dir}" does not exist`,
    }];
  }
  try {
    const info = Deno.statSync(resolve(path));
    if (info.isDirectory) return [{ where: option, message: `"${path}" is a directory` }];
  } catch {
    // Does not exist yet: fine.
  }
  return [];
}

function describeScenario(l: Loaded): string {
  const v = l.valid;
  const lines = [`${l.file}: ${v.scenario.name} (${v.network})`];
  lines.push(`  hosts: ${v.hosts.join(", ")}`);
  if (v.links.length > 0) {
    lines.push(`  links: ${v.links.map((l) => linkEnds(l).join(" ↔ ")).join(", ")}`);
  }
  for (const w of v.workloads) {
    lines.push(`  workload ${w.name} on ${w.placement.on}: ${w.placement.run.kind}`);
  }
  for (const t of v.thresholds) lines.push(`  threshold ${t.key} ${t.expression}`);
  if (v.scenario.fn) lines.push("  + a scenario function");
  return lines.join("\n");
}

function describeArgsError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown option "${unknown[1]}" (options: ${OPTIONS.join(", ")})`;
  const missing = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(message);
  if (missing) return `option "${missing[1]}" needs a value`;
  return message.split(". ")[0]!;
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

function defaultIo(): CliIo {
  return {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    color: Deno.stdout.isTerminal() && Deno.env.get("NO_COLOR") === undefined,
    handleSignals: true,
  };
}

if (import.meta.main) Deno.exit(await main(Deno.args));
