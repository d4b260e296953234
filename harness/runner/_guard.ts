// What scenario code can do to the process it runs in, caught while a run goes on: a
// promise rejected with nobody listening (a forgotten `await`), an exception thrown from
// a timer or another callback, and `Deno.exit()`. Each becomes an error of every run
// going on in this process (it cannot be told which started it), which is then torn down
// and reported as usual, instead of the process dying without its teardown. And how an
// error thrown by scenario code is shown in the report.

import { EnvironmentError, SquallError } from "../core/errors.ts";

type OnError = (message: string) => void;

const runs = new Set<OnError>();
let realExit: typeof Deno.exit | undefined;

function describe(value: unknown): string {
  if (value instanceof Error) return value.stack ?? `${value.name}: ${value.message}`;
  if (value === null || value === undefined) return `a thrown ${value}`;
  try {
    return typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function onRejection(event: PromiseRejectionEvent): void {
  event.preventDefault();
  for (const run of runs) {
    run(
      `Unhandled promise rejection in scenario code (a missing await?): ${describe(event.reason)}`,
    );
  }
}

function onUncaught(event: ErrorEvent): void {
  event.preventDefault();
  for (const run of runs) {
    run(`Uncaught exception in scenario code (a timer or callback): ${describe(event.error)}`);
  }
}

function guardedExit(code?: number): never {
  const error = new Error(
    `Deno.exit(${
      code ?? ""
    }) was called by scenario code while a run went on: the run is torn down and reported instead`,
  );
  for (const run of runs) run(error.message);
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
  const frame = (error.stack ?? "").split("\n").map((l) => l.trim())
    .find((l) => l.startsWith("at ") && l.includes("file://") && !l.includes(HARNESS_DIR));
  return frame ? `${error.message} (${frame})` : error.message;
}
