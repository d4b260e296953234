/**
 * The worker side of a scenario module loaded by `squall run` or `squall list`: the
 * worker imports the module with only the permissions the user granted (see
 * grants.ts), sends its scenario's declaration to the CLI, and runs its scenario
 * function when the run starts, with a `t` whose methods are calls to the runner's.
 * Also what scenario code does to its worker (a promise rejected with nobody
 * listening, an exception from a timer, `Deno.exit()`) is told to the CLI, which
 * makes it an error of the run.
 *
 * This module is the worker's entry: its handlers are in place before the scenario's
 * module is imported (dynamically, so a module that cannot be imported is an error
 * here, not the worker's; that import reads files, so the worker may read squall's own
 * files besides the scenario's folder).
 *
 * @module
 */

import {
  exitMessage,
  rejectionMessage,
  scenarioFrame,
  uncaughtMessage,
} from "../runner/scenario_guard.ts";
import { isScenario, type ScenarioContext, type ScenarioFunction } from "../scenario/scenario.ts";
import {
  awaitAnswer,
  fromWire,
  type FromWorker,
  type RunStart,
  SYMBOL_METHODS,
  toWire,
  type ToWorker,
  type WireError,
  type WireValue,
} from "./_worker_protocol.ts";

type Phase = "importing" | "loaded";
let phase: Phase = "importing";
let fn: ScenarioFunction | undefined;
let shared: SharedArrayBuffer | undefined;
let nextCall = 1;
const pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
/** Errors first thrown by the runner, by the id it knows them by. */
const origins = new WeakMap<object, number>();
const controller = new AbortController();

/** This worker's scope (the module is type-checked with the window's lib). */
const scope = self as unknown as Worker;

function send(message: FromWorker): void {
  scope.postMessage(message);
}

/** A failure while importing: the module is bad input; after, the run's error. */
function failed(messageWhileImporting: string, messageInRun: string): void {
  if (phase === "importing") send({ type: "failed", message: messageWhileImporting });
  else send({ type: "uncaught", message: messageInRun });
}

addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  // While importing, a promise of the module's top-level code rejected with nobody
  // listening before the import finished: the module is bad input. (Its evaluation
  // failing is the import's rejection, caught in load().)
  failed(describeImportFailure(event.reason), rejectionMessage(event.reason));
});

addEventListener("error", (event) => {
  event.preventDefault();
  failed(describeImportFailure(event.error), uncaughtMessage(event.error));
});

(Deno as { exit: typeof Deno.exit }).exit = (code?: number): never => {
  const error = new Error(exitMessage(code));
  failed(`the module called Deno.exit(${code ?? ""}) while it was imported`, error.message);
  throw error;
};

/** An error of the module's top-level code, with where in the module it happened. */
function describeImportFailure(error: unknown): string {
  if (!(error instanceof Error)) return `it threw ${String(error)}`;
  const lines = error.message.split("\n").map((l) => l.trim()).filter(Boolean);
  // Deno puts the location of a syntax error on a line "at file:///...:3:5".
  const location = lines.find((l) => l.startsWith("at file://")) ?? scenarioFrame(error);
  const where = location ? ` (${location.replace(/^at /, "").replace(/^.*\((.*)\)$/, "$1")})` : "";
  // A syntax error arrives as a TypeError whose message starts "SyntaxError: ...".
  const head = /^\w+Error: /.test(lines[0] ?? "") ? lines[0] : `${error.name}: ${lines[0] ?? ""}`;
  return `${head}${where}`;
}

/** Imports the scenario module at `url` and serves its scenario. */
async function load(url: string, where: string): Promise<void> {
  let module: Record<string, unknown>;
  try {
    module = await import(url);
  } catch (error) {
    send({ type: "failed", message: describeImportFailure(error) });
    return;
  }
  serve(module, where);
}

/**
 * Serves the scenario a module exports: sends its declaration (validated by the CLI,
 * which may look at the machine), or why it cannot; then waits for the run.
 */
function serve(module: Record<string, unknown>, where: string): void {
  const problem = (message: string) => send({ type: "invalid", problems: [{ where, message }] });
  try {
    const s = module.default;
    if (!isScenario(s)) {
      problem("the module does not export a scenario as default (export default scenario(...))");
      return;
    }
    const loaded = {
      type: "loaded" as const,
      name: s.name,
      options: s.options,
      hasFunction: typeof s.fn === "function",
    };
    try {
      send(loaded);
    } catch (error) {
      if (!(error instanceof DOMException && error.name === "DataCloneError")) throw error;
      problem(
        `the scenario's options are not plain data, as a declaration must be (${error.message})`,
      );
      return;
    }
    fn = s.fn;
    phase = "loaded";
  } catch (error) {
    // A getter of the scenario's own that throws (options, a workload's fields).
    problem(
      `reading the scenario threw: ${
        error instanceof Error ? `${error.name}: ${error.message}` : String(error)
      }`,
    );
  }
}

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "load":
      load(message.url, message.where);
      break;
    case "run":
      shared = message.shared;
      run(message.context);
      break;
    case "reply": {
      const call = pending.get(message.id);
      pending.delete(message.id);
      if (message.ok) call?.resolve(received(message.value));
      else call?.reject(rebuild(message.error));
      break;
    }
    case "abort":
      controller.abort(rebuild(message.reason));
      break;
  }
};

function run(context: RunStart): void {
  const t: ScenarioContext = {
    name: context.name,
    signal: controller.signal,
    hosts: context.hosts as ScenarioContext["hosts"],
    link: (a, b) => callSync(0, "link", [a, b]) as ReturnType<ScenarioContext["link"]>,
    address: (host) => callSync(0, "address", [host]) as string,
    start: (name, placement) => callAsync(0, "start", [name, placement]) as never,
    workload: (name) => callSync(0, "workload", [name]) as ReturnType<ScenarioContext["workload"]>,
    program: (name) => callSync(0, "program", [name]) as ReturnType<ScenarioContext["program"]>,
    sleep: (duration) => callAsync(0, "sleep", [duration]) as Promise<void>,
    check: (name, ok, detail) => {
      // Answered, but nobody waits: the answer is `ok`.
      post(0, "check", detail === undefined ? [name, ok] : [name, ok, detail], false);
      return ok;
    },
    log: (message) => {
      post(0, "log", [message], false);
    },
  };
  Promise.resolve()
    .then(() => fn?.(t))
    .then(
      () => send({ type: "done" }),
      (error) => send({ type: "threw", error: wireOf(error) }),
    );
}

/** A thrown value for the CLI: the runner's own errors by id, so it gets them back. */
function wireOf(error: unknown): WireError {
  const id = typeof error === "object" && error !== null ? origins.get(error) : undefined;
  return toWire(error, id);
}

function rebuild(wire: WireError): unknown {
  const error = fromWire(wire);
  if (wire.kind === "error" && wire.id !== undefined && typeof error === "object" && error) {
    origins.set(error, wire.id);
  }
  return error;
}

/** Posts a call; `id` 0 when no answer is awaited. */
function post(target: number, method: string, args: unknown[], sync: boolean, id = 0): void {
  try {
    send({ type: "call", id, target, method, args, sync });
  } catch (error) {
    // DataCloneError: a function or another value that cannot leave the worker.
    throw new TypeError(
      `Cannot pass the arguments of ${method}() to the runner: they must be data, as scenario code runs in a worker (${
        error instanceof Error ? error.message : String(error)
      })`,
    );
  }
}

function callAsync(target: number, method: string, args: unknown[]): Promise<unknown> {
  const id = nextCall++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    try {
      post(target, method, args, false, id);
    } catch (error) {
      pending.delete(id);
      reject(error);
    }
  });
}

function callSync(target: number, method: string, args: unknown[]): unknown {
  if (shared === undefined) throw new Error(`Cannot call ${method}() before the run starts`);
  post(target, method, args, true, nextCall++);
  const reply = awaitAnswer(shared) as
    | { ok: true; value: WireValue }
    | { ok: false; error: WireError };
  if (!reply.ok) throw rebuild(reply.error);
  return received(reply.value);
}

/** A call's result: the data, or for a reference, an object whose methods call it. */
function received(value: WireValue): unknown {
  if (value.kind === "data") return value.value;
  const object: Record<string | symbol, unknown> = { ...value.props };
  for (const method of value.methods) {
    object[SYMBOL_METHODS[method] ?? method] = (...args: unknown[]) =>
      callAsync(value.ref, method, args);
  }
  return object;
}

// Ready for the module: the import's time bound starts now, not while the worker
// itself was started (and, under deno test, type-checked).
send({ type: "started" });
