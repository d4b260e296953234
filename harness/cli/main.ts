/**
 * The `squall` command line: `run`, `list`, `doctor`, `clean`, `help`.
 * {@linkcode main} returns the exit code instead of exiting, so the CLI can run inside
 * a test.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { describeWorkload } from "../workloads/workloads.ts";
import { checkEnvironment } from "../runner/environment.ts";
import { EnvironmentError, formatProblems, type Problem, SquallError } from "../core/errors.ts";
import { ExitCode } from "../core/exit_codes.ts";
import {
  REPORT_SCHEMA_VERSION,
  type RunReport,
  runReport,
  type ScenarioReport,
  SQUALL_VERSION,
} from "../runner/report.ts";
import { runScenario } from "../runner/run.ts";
import { cleanRuns, formatClean } from "./clean.ts";
import { assess, doctorReport, formatDoctor, gatherFacts } from "./doctor.ts";
import { renderHtml } from "../render/html.ts";
import { toJUnit } from "../render/junit.ts";
import { formatLiveProgress, LiveLine, type LiveTerminal } from "./live_line.ts";
import { runRecordDirs } from "../runner/run_record.ts";
import { linkEnds } from "../scenario/topology.ts";
import {
  isScenario,
  type Scenario,
  validateScenario,
  type ValidScenario,
} from "../scenario/scenario.ts";
import {
  formatEvent,
  formatScenarioReport,
  formatSummary,
  type TextOptions,
} from "../render/text.ts";

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
  /**
   * The terminal stdout is, when it is one: `run` then shows a live progress line,
   * redrawn in place. Without it, progress comes as plain lines every few seconds.
   */
  terminal?: LiveTerminal;
  /**
   * How often `run` reports progress, in ms.
   * @default {250 on a terminal, else 5000}
   */
  progressIntervalMs?: number;
}

const USAGE = `Usage:
  squall run <file|dir>... [--json FILE] [--junit FILE] [--html FILE] [--quiet] [--no-color]
  squall list <file|dir>...
  squall doctor [--json]
  squall clean [--dry-run]
  squall help [command]`;

/** The options of each command, as the usage error lists them. */
const OPTIONS = {
  run: [
    "--json FILE",
    "--junit FILE",
    "--html FILE",
    "--quiet",
    "--no-color",
    "--help",
    "--version",
  ],
  doctor: ["--json", "--no-color", "--help"],
  clean: ["--dry-run", "--help"],
} as const;

/** The help text. */
export const HELP = `squall: a scriptable network test harness

${USAGE}

Commands:
  run     Run scenarios (a scenario module's default export) and report loss and latency.
          Directories are searched, with their subdirectories, for .ts files; skipped:
          *_test.ts files, and files and directories whose name starts with _ or a dot.
  list    Validate scenarios and list them with their hosts and workloads; creates nothing.
  doctor  Check what this machine supports (privileges, namespaces, veth, XDP, libbpf,
          tools), and for anything missing, what fails without it and how to fix it.
  clean   End the processes that crashed runs left behind, as their run records list
          them (by pid and start time), empty and remove the cgroups they recorded for
          their programs under test, and remove those run records.
  help    Show this text, or a command's: squall help doctor.

Options:
  --json FILE   Also write the report as JSON (schema version ${REPORT_SCHEMA_VERSION}).
  --junit FILE  Also write the report as JUnit XML, for CI (a testsuite per scenario).
  --html FILE   Also write the report as one self-contained HTML page.
  --quiet       Print only the results, not the run header nor progress.
  --no-color    Never colour the output (colour is used only on a terminal).
  -h, --help    Show this text.
  -V, --version Show the version.

Exit codes:
  0    every scenario passed
  1    a check or threshold failed, or a workload failed
  2    bad input: an invalid scenario or option, or a report file that cannot be
       written; nothing was created
  3    environment: not root, or a tool is missing (a one-line hint says what to do);
       a report write that still fails after the run (e.g. disk full);
       for doctor: a required item is missing
  130  interrupted (Ctrl-C); what was measured is still reported

Examples:
  sudo deno task squall run scenarios/udp_echo.ts
  deno task squall run scenarios/loopback.ts --json report.json
  deno task squall run scenarios/ --junit junit.xml --html report.html
  deno task squall list scenarios/
  sudo deno task squall doctor`;

/** The help of each command: `squall help <command>`, `squall <command> --help`. */
export const COMMAND_HELP: Readonly<Record<Command, string>> = {
  run:
    `Usage: squall run <file|dir>... [--json FILE] [--junit FILE] [--html FILE] [--quiet] [--no-color]

Runs scenarios, one after the other, and prints their results. Directories are searched,
with their subdirectories, for .ts files; skipped: *_test.ts files, and files and
directories whose name starts with _ or a dot. Every scenario and option is checked
before anything is created, including that each report file can be written (its
directory exists and takes a new file, or the file exists and opens for writing): bad
input exits 2 and creates nothing.

Options:
  --json FILE   Also write the report as JSON (schema version ${REPORT_SCHEMA_VERSION}).
  --junit FILE  Also write the report as JUnit XML: a <testsuite> per scenario, a
                <testcase> for the scenario and one per check and threshold, with the
                scenario's JSON report as its <system-out>.
  --html FILE   Also write the report as one self-contained HTML page.
  --quiet       Print only the results, not the run header nor progress.
  --no-color    Never colour the output.

On a terminal a live line shows each running scenario's probes (packets sent, loss and
p99 so far), redrawn in place; otherwise a progress line is printed every 5 s.

Reports are written when the run ends, also when a later scenario could not run on
this machine: they hold the scenarios that ran.

Exit codes: 0 passed, 1 a check, threshold or workload failed, 2 bad input (also a
report file that cannot be written), 3 environment (also a report write that still
fails after the run, e.g. disk full), 130 interrupted.`,
  list: `Usage: squall list <file|dir>...

Validates scenarios and lists them with their hosts, links, workloads and thresholds.
Creates nothing. Exit codes: 0, or 2 when a scenario is invalid.`,
  doctor: `Usage: squall doctor [--json] [--no-color]

Checks what this machine supports and prints one line per item, ✓ or ✗; for each
missing piece, what fails without it and how to fix it. It tries things for real:
namespaces, a veth pair and XDP (native and generic) inside throwaway network
namespaces that vanish with their processes, the bind watch on the bind syscall
tracepoints, libbpf's version through FFI, and the tools on PATH.

Options:
  --json        Print the report as JSON, for machines.
  --no-color    Never colour the output.

Exit codes: 0 when every required item is there (optional ones may be missing),
3 when a required item is missing.`,
  clean: `Usage: squall clean [--dry-run]

Every run records the processes it starts (agents, programs under test) with their
start times, and the cgroup it makes for its programs under test, in a run record: a
file in /run/squall, or in \${TMPDIR:-/tmp}/squall-runs when /run cannot be written
(SQUALL_RUN_DIR overrides both), removed when the run ends. A run record left behind
means its runner crashed. For each such run record whose runner is gone, clean sends
SIGKILL to every recorded process that still runs with its recorded start time (by
pid, never by name; a pid now used by another process is left alone), kills everything
still in the recorded cgroup and removes it (only a cgroup named as squall names a
run's cgroup, right under a cgroup2 mount; any other is left alone), then removes the
run record.
Run records of runs still going are listed, left alone.

Options:
  --dry-run     Only say what would be done.

Exit codes: 0, or 1 when something recorded could not be removed (its run record is
kept, for another try).`,
  help: `Usage: squall help [command]

Shows the help, or a command's help: squall help run, squall help doctor.`,
};

type Command = "run" | "list" | "doctor" | "clean" | "help";
const COMMANDS: readonly Command[] = ["run", "list", "doctor", "clean", "help"];

/** Options that take a value in `run`, so that the command can be found before parsing. */
const VALUE_OPTIONS = new Set(["--json", "--junit", "--html"]);

/** How often a long run prints a progress line per running probe, off a terminal. */
const PROGRESS_INTERVAL_MS = 5000;
/** How often the live line is redrawn on a terminal. */
const LIVE_PROGRESS_INTERVAL_MS = 250;

interface Loaded {
  file: string;
  scenario: Scenario;
  valid: ValidScenario;
}

/** What `run` writes besides the terminal report. */
interface Outputs {
  json?: string;
  junit?: string;
  html?: string;
}

/** Runs the CLI with `args`; resolves with the exit code. */
export async function main(args: string[], io: CliIo = defaultIo()): Promise<number> {
  const command = findCommand(args);
  if (command === "doctor") return await doctor(args, io);
  if (command === "clean") return await clean(args, io);
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        json: { type: "string" },
        junit: { type: "string" },
        html: { type: "string" },
        quiet: { type: "boolean" },
        "no-color": { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
    });
  } catch (error) {
    io.err(`squall: ${describeArgsError(error, OPTIONS.run)}\nRun "squall help" for usage.`);
    return ExitCode.BadInput;
  }
  const { values, positionals } = parsed;
  const text: TextOptions = { color: io.color && !values["no-color"] };
  if (values.version) {
    io.out(`squall ${SQUALL_VERSION} (deno ${Deno.version.deno})`);
    return ExitCode.Pass;
  }
  const [, ...paths] = positionals;
  if (command === "help") {
    const topic = paths[0];
    if (topic === undefined) io.out(HELP);
    else if (isCommand(topic)) io.out(COMMAND_HELP[topic]);
    else {
      io.err(`squall help: unknown command "${topic}" (commands: ${COMMANDS.join(", ")})`);
      return ExitCode.BadInput;
    }
    return ExitCode.Pass;
  }
  if (values.help) {
    io.out(command === "run" || command === "list" ? COMMAND_HELP[command] : HELP);
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
  const outputs: Outputs = {};
  const seen = new Map<string, string>();
  for (const kind of ["json", "junit", "html"] as const) {
    const path = values[kind];
    if (path === undefined) continue;
    const option = `--${kind}`;
    if (command === "list") {
      problems.push({ where: option, message: `list writes no report: ${option} goes with run` });
      continue;
    }
    const checked = checkOutputPath(path, option);
    const same = seen.get(resolve(path));
    if (same !== undefined) {
      checked.push({ where: option, message: `"${path}" is also given to ${same}` });
    }
    seen.set(resolve(path), option);
    problems.push(...checked);
    outputs[kind] = path;
  }
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
  return await runAll(loaded, outputs, values.quiet ?? false, text, io);
}

/**
 * The command among `args`: the first argument that is not an option nor the value of
 * one (`squall --json out.json run x.ts` is `run`).
 */
function findCommand(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return args[i + 1];
    if (!arg.startsWith("-") || arg === "-") return arg;
    if (VALUE_OPTIONS.has(arg)) i++;
  }
  return undefined;
}

function isCommand(name: string): name is Command {
  return (COMMANDS as readonly string[]).includes(name);
}

/** Parses the arguments of a command that takes options only, or prints why not. */
function commandArgs<T>(
  command: "doctor" | "clean",
  parse: () => { values: T; positionals: string[] },
  io: CliIo,
): T | undefined {
  let parsed;
  try {
    parsed = parse();
  } catch (error) {
    io.err(
      `squall ${command}: ${
        describeArgsError(error, OPTIONS[command])
      }\nRun "squall help ${command}" for usage.`,
    );
    return undefined;
  }
  // The first positional is the command itself.
  const extra = parsed.positionals.slice(1);
  if (extra.length > 0) {
    io.err(
      `squall ${command}: takes no arguments, got ${
        extra.map((e) => JSON.stringify(e)).join(" ")
      }\nRun "squall help ${command}" for usage.`,
    );
    return undefined;
  }
  return parsed.values;
}

async function doctor(args: string[], io: CliIo): Promise<number> {
  const values = commandArgs("doctor", () =>
    parseArgs({
      args,
      allowPositionals: true,
      options: {
        json: { type: "boolean" },
        "no-color": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }), io);
  if (values === undefined) return ExitCode.BadInput;
  if (values.help) {
    io.out(COMMAND_HELP.doctor);
    return ExitCode.Pass;
  }
  const report = doctorReport(assess(await gatherFacts()));
  if (values.json) io.out(JSON.stringify(report, null, 2));
  else io.out(formatDoctor(report, { color: io.color && !values["no-color"] }));
  return report.exitCode;
}

async function clean(args: string[], io: CliIo): Promise<number> {
  const values = commandArgs("clean", () =>
    parseArgs({
      args,
      allowPositionals: true,
      options: {
        "dry-run": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }), io);
  if (values === undefined) return ExitCode.BadInput;
  if (values.help) {
    io.out(COMMAND_HELP.clean);
    return ExitCode.Pass;
  }
  const dryRun = values["dry-run"] ?? false;
  const dirs = runRecordDirs();
  const results = await cleanRuns({ dirs, dryRun });
  io.out(formatClean(results, { dryRun, dirs }));
  // Something recorded that could not be removed: the run record stays, for another try.
  return results.some((r) => r.outcome === "failed" || r.outcome === "refused")
    ? ExitCode.Failed
    : ExitCode.Pass;
}

async function runAll(
  loaded: Loaded[],
  outputs: Outputs,
  quiet: boolean,
  text: TextOptions,
  io: CliIo,
): Promise<number> {
  // On a terminal, one live line is redrawn in place; every other line clears it first.
  const live = io.terminal && !quiet ? new LiveLine(io.terminal, text.color) : undefined;
  const out = (line: string) => {
    live?.clear();
    io.out(line);
  };
  const err = (line: string) => {
    live?.clear();
    io.err(line);
  };
  const progressIntervalMs = quiet
    ? 0
    : io.progressIntervalMs ?? (live ? LIVE_PROGRESS_INTERVAL_MS : PROGRESS_INTERVAL_MS);
  const controller = new AbortController();
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals === 1) {
      err("\nInterrupted: stopping workloads and tearing down (again to quit at once)");
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
  /** What ended the run before its last scenario: a machine that cannot run one. */
  let stopped: SquallError | undefined;
  try {
    for (const l of loaded) {
      if (controller.signal.aborted) break;
      // A progress event can still arrive while the runner returns: draw nothing then.
      let running = true;
      const report = await runScenario(l.scenario, {
        file: l.file,
        signal: controller.signal,
        progressIntervalMs,
        onEvent: (event) => {
          if (quiet) return;
          if (live && event.type === "progress") {
            if (running && event.flows.length > 0) {
              live.show(formatLiveProgress(event.scenario, event.elapsedMs, event.flows));
            }
            return;
          }
          if (event.type === "teardown") live?.clear();
          const line = formatEvent(event, text);
          if (line !== undefined) out(line);
        },
      });
      running = false;
      reports.push(report);
      out(formatScenarioReport(report, text));
    }
  } catch (error) {
    if (!(error instanceof SquallError)) throw error;
    err(
      `squall: ${error.message}${error instanceof EnvironmentError ? `\nhint: ${error.hint}` : ""}`,
    );
    stopped = error;
  } finally {
    live?.clear();
    if (io.handleSignals) {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    }
  }
  const measured = runReport(
    reports,
    startedAt,
    performance.now() - start,
    controller.signal.aborted,
  );
  // A scenario that could not run (e.g. an EnvironmentError from a later one) still
  // leaves the reports of the scenarios that ran before it: CI keeps their results. The
  // run's exit code, in the reports too, is then the error's. No summary: it would count
  // only the scenarios that ran.
  const run = stopped === undefined ? measured : { ...measured, exitCode: stopped.exitCode };
  if (stopped === undefined) io.out(formatSummary(run, text));
  else if (reports.length === 0) return stopped.exitCode;
  const writes: [path: string | undefined, what: string, render: (r: RunReport) => string][] = [
    [outputs.json, "JSON report", (r) => JSON.stringify(r, null, 2) + "\n"],
    [outputs.junit, "JUnit XML report", toJUnit],
    [outputs.html, "HTML report", renderHtml],
  ];
  let written = true;
  for (const [path, what, render] of writes) {
    if (path === undefined) continue;
    try {
      await Deno.writeTextFile(path, render(run));
      io.out(`${what} written to ${path}`);
    } catch (error) {
      // The others are still written; CI must not take a missing report for a pass.
      written = false;
      io.err(
        `squall: cannot write the ${what} to "${path}": ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
  }
  if (stopped !== undefined) return stopped.exitCode;
  return written || run.exitCode !== ExitCode.Pass ? run.exitCode : ExitCode.Environment;
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

/**
 * Checks, before the run, that a report can be written to `path`, leaving nothing
 * behind: a file that exists must open for writing (it is not truncated here); for a new
 * file, a uniquely named file is created in its directory and removed at once. A write
 * that still fails after the run (e.g. the disk is full by then) is exit 3.
 */
function checkOutputPath(path: string, option: string): Problem[] {
  const target = resolve(path);
  const dir = dirname(target);
  try {
    const info = Deno.statSync(dir);
    if (!info.isDirectory) return [{ where: option, message: `"${dir}" is not a directory` }];
  } catch {
    return [{
      where: option,
      message: `cannot write "${path}": directory "${dir}" does not exist`,
    }];
  }
  let existing: Deno.FileInfo | undefined;
  try {
    existing = Deno.statSync(target);
  } catch {
    // Does not exist yet (or is a dangling link): a new file is made in the directory.
  }
  if (existing?.isDirectory) return [{ where: option, message: `"${path}" is a directory` }];
  if (existing !== undefined) {
    // Opening a FIFO would block, and devices are written as they are: only regular files.
    if (!existing.isFile) return [];
    try {
      Deno.openSync(target, { write: true }).close();
    } catch (error) {
      return [{
        where: option,
        message: `cannot write "${path}": the file cannot be opened for writing (${
          osReason(error)
        })`,
      }];
    }
    return [];
  }
  const probe = join(dir, `.squall-write-check-${crypto.randomUUID()}`);
  try {
    Deno.openSync(probe, { write: true, createNew: true }).close();
  } catch (error) {
    return [{
      where: option,
      message: `cannot write "${path}": cannot create a file in directory "${dir}" (${
        osReason(error)
      })`,
    }];
  }
  try {
    Deno.removeSync(probe);
  } catch (error) {
    return [{
      where: option,
      message: `cannot remove the file "${probe}" made to check that "${path}" can be written (${
        osReason(error)
      })`,
    }];
  }
  return [];
}

/** The reason of a system call's error, without the error number and path Deno adds. */
function osReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const reason = message.replace(/ \(os error \d+\)[\s\S]*$/, "");
  return reason.charAt(0).toLowerCase() + reason.slice(1);
}

function describeScenario(l: Loaded): string {
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

function describeArgsError(error: unknown, options: readonly string[]): string {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown option "${unknown[1]}" (options: ${options.join(", ")})`;
  const missing = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(message);
  if (missing) return `option "${missing[1]}" needs a value`;
  const value = /^Option '(?:-\w, )?(--[\w-]+)' does not take an argument/.exec(message);
  if (value) return `option "${value[1]}" takes no value`;
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
  const encoder = new TextEncoder();
  const terminal: LiveTerminal | undefined = Deno.stdout.isTerminal()
    ? {
      write(text) {
        const bytes = encoder.encode(text);
        for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
      },
      columns() {
        try {
          return Deno.consoleSize().columns;
        } catch {
          return 0; // Unknown: LiveLine then assumes DEFAULT_COLUMNS.
        }
      },
    }
    : undefined;
  return {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    color: Deno.stdout.isTerminal() && Deno.env.get("NO_COLOR") === undefined,
    handleSignals: true,
    ...(terminal ? { terminal } : {}),
  };
}

if (import.meta.main) Deno.exit(await main(Deno.args));
