/**
 * What scenario code can do to the process it runs in, caught while a run goes on: a
 * promise rejected with nobody listening (a forgotten `await`), an exception thrown from
 * a timer or another callback, and `Deno.exit()`. Each becomes an error of every run
 * going on in this process (it cannot be told which started it), which is then torn down
 * and reported as usual, instead of the process dying without its teardown. Scenario
 * code in a worker (the CLI's) is caught there, and its worker tells the runs here
 * through {@linkcode scenarioCodeFailed}, in the same words. And how an error thrown by
 * scenario code is shown in the report.
 *
 * @module
 */

import { EnvironmentError, SquallError } from "../core/errors.ts";

type OnError = (message: string) => void;

const runs = new Set<OnError>();
let realExit: typeof Deno.exit | undefined;

/** A thrown value as an error line shows it: an Error's stack, or the value. */
export function describeValue(value: unknown): string {
  if (value instanceof Error) return value.stack ?? `${value.name}: ${value.message}`;
  if (value === null || value === undefined) return `a thrown ${value}`;
  try {
    return typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The error of a promise rejected with nobody listening. */
export function rejectionMessage(reason: unknown): string {
  return `Unhandled promise rejection in scenario code (a missing await?): ${
    describeValue(reason)
  }`;
}

/** The error of an exception thrown from a timer or another callback. */
export function uncaughtMessage(error: unknown): string {
  return `Uncaught exception in scenario code (a timer or callback): ${describeValue(error)}`;
}

/** The error of a `Deno.exit(code)` called by scenario code. */
export function exitMessage(code: number | undefined): string {
  return `Deno.exit(${
    code ?? ""
  }) was called by scenario code while a run went on: the run is torn down and reported instead`;
}

/**
 * Tells every run going on in this process that its scenario code failed, as `message`
 * says (one of the messages above): each records it as an error and is torn down. For
 * scenario code that runs elsewhere, in a worker. Returns whether a run heard it.
 */
export function scenarioCodeFailed(message: string): boolean {
  for (const run of runs) run(message);
  return runs.size > 0;
}

function onRejection(event: PromiseRejectionEvent): void {
  event.preventDefault();
  scenarioCodeFailed(rejectionMessage(event.reason));
}

function onUncaught(event: ErrorEvent): void {
  event.preventDefault();
  scenarioCodeFailed(uncaughtMessage(event.error));
}

function guardedExit(code?: number): never {
  const error = new Error(exitMessage(code));
  scenarioCodeFailed(error.message);
  throw error;
}

/**
 * Catches what scenario code does to the process until the returned handle is disposed;
 * `onError` hears of each.
 */
export function guardScenarioCode(onError: OnError): Disposable {
  if (runs.size === 0) {
    addEventListener("unhandledrejection", onRejection);
    addEventListener("error", onUncaught);
    realExit = Deno.exit;
    (Deno as { exit: typeof Deno.exit }).exit = guardedExit;
  }
  runs.add(onError);
  return {
    [Symbol.dispose]() {
      if (!runs.delete(onError) || runs.size > 0) return;
      removeEventListener("unhandledrejection", onRejection);
      removeEventListener("error", onUncaught);
      if (realExit) (Deno as { exit: typeof Deno.exit }).exit = realExit;
    },
  };
}

const HARNESS_DIR = new URL("..", import.meta.url).href;

/**
 * Where in scenario code (not squall's) an error was thrown: the first frame of its
 * stack outside harness/, as the stack writes it ("at fn (file:///...:3:5)"); undefined
 * when it has none.
 */
export function scenarioFrame(error: Error): string | undefined {
  return (error.stack ?? "").split("\n").map((l) => l.trim())
    .find((l) => l.startsWith("at ") && l.includes("file://") && !l.includes(HARNESS_DIR));
}

/**
 * An error as the report shows it: its message and, for an error thrown by scenario
 * code (not by squall), where in that code it was thrown; a thrown non-Error says so.
 */
export function describeThrown(error: unknown): string {
  if (!(error instanceof Error)) {
    let shown: string;
    try {
      shown = JSON.stringify(error) ?? String(error);
    } catch {
      shown = String(error);
    }
    return `The scenario threw ${shown}, not an Error (no message, no stack)`;
  }
  // A machine that lacks something, found during the run: its hint too, as before one.
  if (error instanceof EnvironmentError) return `${error.message}\nhint: ${error.hint}`;
  if (error instanceof SquallError) return error.message;
  const frame = scenarioFrame(error);
  return frame ? `${error.message} (${frame})` : error.message;
}
