/**
 * The `squall` command line: `run`, `list`, `doctor`, `clean`, `help`.
 * {@linkcode main} returns the exit code instead of exiting, so the CLI can run inside
 * a test.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { checkEnvironment, needsOf, unavailableBecause } from "../runner/environment.ts";
import { EnvironmentError, formatProblems, type Problem, SquallError } from "../core/errors.ts";
import { ExitCode } from "../core/exit_codes.ts";
import { runReport, type ScenarioReport, SQUALL_VERSION } from "../runner/report.ts";
import { runScenario } from "../runner/run.ts";
import { runRecordDirs } from "../runner/run_record.ts";
import {
  formatEvent,
  formatScenarioReport,
  formatSummary,
  type TextOptions,
} from "../render/text.ts";
import { cleanRuns, formatClean } from "./clean.ts";
import { assess, doctorReport, formatDoctor } from "./doctor.ts";
import { gatherFacts } from "./doctor_facts.ts";
import { COMMAND_HELP, COMMANDS, HELP, isCommand, OPTIONS, USAGE } from "./help.ts";
import { formatLiveProgress, LiveLine, type LiveTerminal } from "./live_line.ts";
import { deniedPrograms, describeScenario, type Loaded, loadScenarios } from "./load.ts";
import { type Grants, takeGrants } from "./grants.ts";
import { checkOutputs, type Outputs, writeOutputs } from "./output_paths.ts";

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
  /**
   * How long a scenario module may take to import before it is bad input.
   * @default {IMPORT_TIMEOUT_MS (10 s)}
   */
  importTimeoutMs?: number;
}

/** Options that take a value in `run`, so that the command can be found before parsing. */
const VALUE_OPTIONS = new Set(["--json", "--junit", "--html"]);

/** How often a long run prints a progress line per running probe, off a terminal. */
const PROGRESS_INTERVAL_MS = 5000;
/** How often the live line is redrawn on a terminal. */
const LIVE_PROGRESS_INTERVAL_MS = 250;

/** Runs the CLI with `args`; resolves with the exit code. */
export async function main(args: string[], io: CliIo = defaultIo()): Promise<number> {
  const command = findCommand(args);
  if (command === "doctor") return await doctor(args, io);
  if (command === "clean") return await clean(args, io);
  // Deno's syntax (a value only after "="), which parseArgs does not read: taken first.
  const problems: Problem[] = [];
  const { grants, rest } = takeGrants(args, problems);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        json: { type: "string" },
        junit: { type: "string" },
        html: { type: "string" },
        quiet: { type: "boolean" },
        "no-color": { type: "boolean" },
        "skip-unavailable": { type: "boolean" },
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

  const outputs = checkOutputs(values, command, problems);
  const loaded = await loadScenarios(paths, problems, {
    grants,
    toRun: command === "run",
    ...(io.importTimeoutMs === undefined ? {} : { importTimeoutMs: io.importTimeoutMs }),
  });
  // Each scenario module is held in a worker until its run ends, or until now.
  try {
    return await runOrList(command, loaded, { problems, outputs, values, text, grants }, io);
  } finally {
    for (const l of loaded) l.close();
  }
}

/** `squall run` or `squall list` of what loaded, once every file and option is checked. */
async function runOrList(
  command: "run" | "list",
  loaded: Loaded[],
  checked: {
    problems: Problem[];
    outputs: Outputs;
    values: { quiet?: boolean | undefined; "skip-unavailable"?: boolean | undefined };
    text: TextOptions;
    grants: Grants;
  },
  io: CliIo,
): Promise<number> {
  const { problems, outputs, values, text } = checked;
  // Programs under test run as root: a scenario starts only those allowed (list shows
  // them without starting any).
  if (command === "run") problems.push(...loaded.flatMap((l) => deniedPrograms(l, checked.grants)));
  if (problems.length > 0) {
    io.err(formatProblems(problems).replace("Invalid scenario", "Invalid input"));
    io.err("Nothing was created.");
    return ExitCode.BadInput;
  }
  if (command === "list") {
    for (const l of loaded) io.out(describeScenario(l, checked.grants));
    return ExitCode.Pass;
  }

  // With --skip-unavailable, a scenario that needs an optional tool this machine lacks
  // is left out, and said so; anything else missing stops the run as always.
  const skipped: string[] = [];
  const runnable = loaded.filter((l) => {
    const why = values["skip-unavailable"] ? unavailableBecause(needsOf(l.valid)) : undefined;
    if (why !== undefined) skipped.push(`skipped ${l.file}: ${why}`);
    return why === undefined;
  });
  for (const line of skipped) io.err(`squall: ${line}`);
  try {
    for (const l of runnable) checkEnvironment(needsOf(l.valid));
  } catch (error) {
    if (error instanceof EnvironmentError) {
      io.err(`squall: ${error.message}\nhint: ${error.hint}`);
      return error.exitCode;
    }
    throw error;
  }
  const code = await runAll(runnable, outputs, values.quiet ?? false, text, io);
  if (skipped.length > 0) {
    io.err(
      `squall: ${skipped.length} scenario${
        skipped.length === 1 ? "" : "s"
      } skipped (this machine lacks a tool they need; see above)`,
    );
  }
  return code;
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
  // A record another user could have written is refused: worth a look.
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
  const hurry = new AbortController();
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals === 1) {
      err("\nInterrupted: stopping workloads and tearing down (again to stop waiting)");
      controller.abort();
    } else if (signals === 2) {
      err(
        "Not waiting: agents are ended now; the report has what was measured (again to quit at once, leaving the run record to squall clean)",
      );
      hurry.abort();
    } else Deno.exit(ExitCode.Interrupted);
  };
  if (io.handleSignals) {
    // The run's handlers take over from the ones for loading (see the end of this file).
    Deno.removeSignalListener("SIGINT", interruptedBeforeTheRun);
    Deno.removeSignalListener("SIGTERM", interruptedBeforeTheRun);
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
        hurry: hurry.signal,
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
      l.close(); // Its scenario code has nothing more to do.
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
  const measured = runReport(reports, {
    startedAt,
    durationMs: performance.now() - start,
    interrupted: controller.signal.aborted,
  });
  // A scenario that could not run (e.g. an EnvironmentError from a later one) still
  // leaves the reports of the scenarios that ran before it: CI keeps their results. The
  // run's exit code, in the reports too, is then the error's. No summary: it would count
  // only the scenarios that ran.
  const run = stopped === undefined ? measured : { ...measured, exitCode: stopped.exitCode };
  if (stopped === undefined) io.out(formatSummary(run, text));
  else if (reports.length === 0) return stopped.exitCode;
  const written = await writeOutputs(run, outputs, io);
  if (stopped !== undefined) return stopped.exitCode;
  return written || run.exitCode !== ExitCode.Pass ? run.exitCode : ExitCode.Environment;
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

/** The CLI's console: stdout and stderr, and the live line when stdout is a terminal. */
export function defaultIo(): CliIo {
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

/**
 * Until a run installs its own handlers: a Ctrl-C or SIGTERM while scenarios load (before
 * anything is created) ends squall as interrupted, exit 130, not by the signal (143).
 */
function interruptedBeforeTheRun(): void {
  Deno.exit(ExitCode.Interrupted);
}

if (import.meta.main) {
  Deno.addSignalListener("SIGINT", interruptedBeforeTheRun);
  Deno.addSignalListener("SIGTERM", interruptedBeforeTheRun);
  Deno.exit(await main(Deno.args));
}
