// What scenario code can do to the process it runs in, caught while a run goes on: a
// promise rejected with nobody listening (a forgotten `await`), an exception thrown from
// a timer or another callback, and `Deno.exit()`. Each becomes an error of every run
// going on in this process (it cannot be told which started it), which is then torn down
// and reported as usual, instead of the process dying without its teardown.

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
