// The CLI's side of a scenario module held in a worker (see scenario_worker.ts): starts
// the worker with the permissions granted, turns what it sends into a scenario whose
// function runs there, and answers that function's calls with the real `t`.

import { fileURLToPath, pathToFileURL } from "node:url";
import { type Problem, ScenarioError } from "../core/errors.ts";
import { formatDuration } from "../core/duration.ts";
import { scenarioCodeFailed } from "../runner/scenario_guard.ts";
import {
  type AppliedFault,
  type EchoHandle,
  type LinkHandle,
  type ProgramHandle,
  type Scenario,
  scenario,
  type ScenarioContext,
} from "../scenario/scenario.ts";
import {
  explainDenied,
  type Grants,
  programAllowed,
  programDenied,
  workerPermissions,
} from "./grants.ts";
import {
  answer,
  type Call,
  fromWire,
  type FromWorker,
  SHARED_BYTES,
  SYMBOL_METHODS,
  toWire,
  type ToWorker,
  type WireError,
  type WireValue,
} from "./_worker_protocol.ts";

type MethodsOf<T> = {
  [K in keyof T]-?: T[K] extends (...args: never[]) => unknown ? K : never;
}[keyof T];

/**
 * The methods scenario code may call, on `t` and on what its methods return; the types
 * make a method added to those interfaces a compile error here until it is listed.
 */
const CONTEXT_METHODS: Record<MethodsOf<ScenarioContext>, true> = {
  link: true,
  address: true,
  start: true,
  workload: true,
  program: true,
  sleep: true,
  check: true,
  log: true,
};
const HANDLE_METHODS: Record<
  Exclude<
    | MethodsOf<ProgramHandle>
    | MethodsOf<EchoHandle>
    | MethodsOf<LinkHandle>
    | MethodsOf<AppliedFault>,
    symbol
  >,
  true
> = {
  result: true,
  stop: true,
  snapshot: true,
  stopMember: true,
  restart: true,
  kill: true,
  apply: true,
  during: true,
  remove: true,
};
/** Data of a handle the worker's copy shows. */
const HANDLE_PROPS = ["name", "host", "hosts", "id"];
/** Every method callable on an object a call returned, as the names travel. */
const REF_METHODS = new Set([...Object.keys(HANDLE_METHODS), ...Object.keys(SYMBOL_METHODS)]);

/** A scenario loaded in a worker: its declaration here, its code there. */
export interface WorkerScenario {
  /** The scenario; its function, if it has one, runs in the worker. */
  scenario: Scenario;
  /** Ends the worker (after the scenario's run, or when it will not run). */
  close(): void;
}

/** The outcome of loading: the scenario, or the problems found in it. */
export type WorkerLoad =
  | { ok: true; value: WorkerScenario }
  | { ok: false; problems: Problem[] };

/**
 * Imports the scenario module `file` (shown as `where`) in a worker with the
 * permissions `grants` give, within `timeoutMs`. With `keep` false (to list, not run)
 * the worker ends once the declaration is in: the scenario's function cannot run.
 */
export function loadInWorker(
  file: string,
  where: string,
  grants: Grants,
  timeoutMs: number,
  keep = true,
): Promise<WorkerLoad> {
  const worker = startWorker(file, where, grants);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (load: WorkerLoad) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!load.ok) worker.terminate();
      resolve(load);
    };
    const problem = (message: string) =>
      settle({ ok: false, problems: [{ where, message: `cannot import the module: ${message}` }] });
    // The worker first starts (squall's own modules), then imports the scenario's: the
    // import's time bound runs from then.
    let timer = setTimeout(() => {
      problem(`its worker did not start within ${formatDuration(WORKER_START_MS)}`);
    }, WORKER_START_MS);
    const importing = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        problem(
          `the module had not finished importing after ${
            formatDuration(timeoutMs)
          } (a top-level await that never settles, or top-level code that keeps running?)`,
        );
      }, timeoutMs);
      const load: ToWorker = { type: "load", url: pathToFileURL(file).href, where };
      worker.postMessage(load);
    };
    const host = new ScenarioHost(worker, grants);
    worker.onerror = (event) => {
      // The worker itself failed, while loading or later.
      event.preventDefault();
      if (!settled) problem(describeWorkerError(event.message));
      else host.workerFailed(event.message);
    };
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (settled) {
        host.receive(message);
        return;
      }
      switch (message.type) {
        case "started":
          importing();
          break;
        case "loaded": {
          const fn = message.hasFunction ? (t: ScenarioContext) => host.run(t) : undefined;
          const s = scenario(message.name, message.options, fn);
          if (!fn || !keep) worker.terminate();
          settle({ ok: true, value: { scenario: s, close: () => worker.terminate() } });
          break;
        }
        case "invalid":
          settle({ ok: false, problems: message.problems });
          break;
        case "failed":
        case "uncaught":
          problem(explainDenied(message.message));
          break;
        default:
          problem(`the worker sent "${message.type}" before the scenario`);
      }
    };
  });
}

function startWorker(file: string, where: string, grants: Grants): Worker {
  // Worker permissions need --unstable-worker-options (deno.json's "unstable" list has
  // it): without, Deno itself ends the process, saying so.
  return new Worker(new URL("./scenario_worker.ts", import.meta.url), {
    type: "module",
    name: `scenario ${where}`,
    deno: { permissions: workerPermissions(file, grants, [SQUALL_ROOT]) },
  });
}

/** How long a scenario's worker may take to start, before its module is imported. */
const WORKER_START_MS = 60_000;

/** squall's own files (mod.ts and harness/), which every scenario imports. */
const SQUALL_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** An error of the worker itself, as one line. */
function describeWorkerError(message: string): string {
  const head = message.split("\n")[0]!.trim().replace(/^Uncaught (\(in promise\) )?/, "");
  return explainDenied(head);
}

/** Answers the calls of one worker's scenario function with the real `t`. */
class ScenarioHost {
  #worker: Worker;
  #refs = new Map<number, object>();
  #nextRef = 1;
  #errors = new Map<number, unknown>();
  #nextError = 1;
  #shared = new SharedArrayBuffer(SHARED_BYTES);
  #settle: { resolve(): void; reject(error: unknown): void } | undefined;
  /** Failures of scenario code between loading and the run, told when it starts. */
  #held: string[] = [];

  #grants: Grants;

  constructor(worker: Worker, grants: Grants) {
    this.#worker = worker;
    this.#grants = grants;
  }

  /** The scenario function, run in the worker against `t`. */
  run(t: ScenarioContext): Promise<void> {
    this.#refs.set(0, t);
    const hosts = t.hosts;
    this.#send({ type: "run", context: { name: t.name, hosts }, shared: this.#shared });
    const onAbort = () => this.#send({ type: "abort", reason: this.#wire(t.signal.reason) });
    if (t.signal.aborted) onAbort();
    else t.signal.addEventListener("abort", onAbort, { once: true });
    for (const message of this.#held.splice(0)) scenarioCodeFailed(message);
    return new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
  }

  /** A message of the worker after it loaded. */
  receive(message: FromWorker): void {
    switch (message.type) {
      case "call":
        this.#call(message);
        break;
      case "done":
        this.#settle?.resolve();
        break;
      case "threw":
        this.#settle?.reject(this.#thrown(message.error));
        break;
      case "uncaught":
        this.#failed(explainDenied(message.message));
        break;
    }
  }

  /** The worker itself failed after loading (an error its own handlers did not take). */
  workerFailed(message: string): void {
    this.#failed(`The worker of the scenario's code failed: ${explainDenied(message)}`);
  }

  #failed(message: string): void {
    if (this.#settle === undefined || !scenarioCodeFailed(message)) this.#held.push(message);
  }

  #send(message: ToWorker): void {
    this.#worker.postMessage(message);
  }

  /** An error of the runner's for the worker, kept here so a rethrow gets it back. */
  #wire(error: unknown): WireError {
    const id = this.#nextError++;
    this.#errors.set(id, error);
    return toWire(error, id);
  }

  /** What the scenario function threw: the runner's own error, or one rebuilt. */
  #thrown(wire: WireError): unknown {
    if (wire.kind === "error" && wire.id !== undefined && this.#errors.has(wire.id)) {
      return this.#errors.get(wire.id);
    }
    if (wire.kind === "error" && wire.name === "NotCapable") {
      return fromWire({
        ...wire,
        message: explainDenied(wire.message),
        stack: wire.stack?.replace(wire.message, explainDenied(wire.message)),
      });
    }
    return fromWire(wire);
  }

  #call(call: Call): void {
    const reply = (result: { ok: true; value: WireValue } | { ok: false; error: WireError }) => {
      if (call.sync) answer(this.#shared, result);
      else if (call.id !== 0) this.#send({ type: "reply", id: call.id, ...result });
    };
    const fail = (error: unknown) => reply({ ok: false, error: this.#wire(error) });
    const target = this.#refs.get(call.target);
    const allowed = call.target === 0
      ? Object.hasOwn(CONTEXT_METHODS, call.method)
      : REF_METHODS.has(call.method);
    const key = SYMBOL_METHODS[call.method] ?? call.method;
    const method = target && allowed
      ? (target as Record<string | symbol, unknown>)[key]
      : undefined;
    if (typeof method !== "function") {
      fail(new TypeError(`Cannot call ${call.method}(): scenario code has no such method here`));
      return;
    }
    let result: unknown;
    try {
      if (call.target === 0 && call.method === "start") this.#mayStart(call.args);
      result = method.apply(target, call.args);
    } catch (error) {
      fail(error);
      return;
    }
    if (call.sync) {
      reply({ ok: true, value: this.#value(result) });
      return;
    }
    Promise.resolve(result).then((value) => {
      try {
        reply({ ok: true, value: this.#value(value) });
      } catch (error) {
        fail(error); // A result that cannot be sent (not data): the call's error, not the run's.
      }
    }, fail);
  }

  /** Throws unless the grants allow the program under test `t.start(name, placement)` starts. */
  #mayStart([name, placement]: unknown[]): void {
    const run = (placement as { run?: { kind?: unknown; command?: unknown } } | null)?.run;
    if (run?.kind !== "exec" || !Array.isArray(run.command)) return;
    const program = String(run.command[0]);
    if (programAllowed(program, this.#grants)) return;
    throw new ScenarioError([{
      where: `t.start(${JSON.stringify(name)})`,
      message: programDenied(program),
    }]);
  }

  /** A result for the worker: data as it is, an object with methods by reference. */
  #value(value: unknown): WireValue {
    if (typeof value !== "object" || value === null) return { kind: "data", value };
    const record = value as Record<string | symbol, unknown>;
    const methods = [...REF_METHODS]
      .filter((m) => typeof record[SYMBOL_METHODS[m] ?? m] === "function");
    if (methods.length === 0) return { kind: "data", value };
    const ref = this.#nextRef++;
    this.#refs.set(ref, value);
    const props: Record<string, unknown> = {};
    for (const prop of HANDLE_PROPS) {
      if (prop in record && typeof record[prop] !== "function") props[prop] = record[prop];
    }
    return { kind: "ref", ref, props, methods };
  }
}
