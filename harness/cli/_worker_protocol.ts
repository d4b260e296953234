// The messages between the CLI and the worker that holds a scenario module (see
// scenario_worker.ts and _scenario_host.ts), and how errors cross between them.
//
// The worker imports the module with only the permissions the user granted, sends the
// scenario's declaration (plain data), and, when the run starts, runs the scenario
// function with a `t` whose every method is a call to the real `t` here. An object with
// methods that a call returns (a link, a workload handle, an applied fault) stays here
// and is sent as a reference: the worker calls its methods by reference. Synchronous
// methods (`t.link`, `t.workload`, `t.address`, ...) block the worker on a shared
// buffer until the answer is written there; asynchronous ones get a message.

import type { Problem } from "../core/errors.ts";
import type { ScenarioOptions } from "../scenario/scenario.ts";

/** An error (or any thrown value) on its way between the two sides. */
export type WireError =
  | {
    kind: "error";
    name: string;
    message: string;
    stack: string | undefined;
    /** Set when the error was first thrown on the CLI's side: which one it was. */
    id: number | undefined;
  }
  | { kind: "value"; value: unknown };

/** A call's result: data, or a reference to an object with methods that stays here. */
export type WireValue =
  | { kind: "data"; value: unknown }
  | { kind: "ref"; ref: number; props: Record<string, unknown>; methods: string[] };

/** A call of a method of `t` (reference 0) or of an object a call returned. */
export interface Call {
  type: "call";
  id: number;
  target: number;
  method: string;
  args: unknown[];
  /** The worker waits on the shared buffer for the answer. */
  sync: boolean;
}

/** What the worker sends. */
export type FromWorker =
  | { type: "started" }
  | { type: "loaded"; name: string; options: ScenarioOptions; hasFunction: boolean }
  | { type: "invalid"; problems: Problem[] }
  | { type: "failed"; message: string }
  | Call
  | { type: "done" }
  | { type: "threw"; error: WireError }
  | { type: "uncaught"; message: string };

/** What the view of the run the worker gets at its start holds. */
export interface RunStart {
  name: string;
  hosts: unknown;
}

/** What the CLI sends. */
export type ToWorker =
  | { type: "load"; url: string; where: string }
  | { type: "run"; context: RunStart; shared: SharedArrayBuffer }
  | { type: "reply"; id: number; ok: true; value: WireValue }
  | { type: "reply"; id: number; ok: false; error: WireError }
  | { type: "abort"; reason: WireError };

/** Methods keyed by a symbol (`await using`), by the name they travel under. */
export const SYMBOL_METHODS: Readonly<Record<string, symbol>> = {
  "@@asyncDispose": Symbol.asyncDispose,
};

/** The shared buffer of synchronous answers: a state word, a length, then JSON. */
export const SHARED_BYTES = 256 * 1024;
/** State word values. */
export const WAITING = 0;
export const ANSWERED = 1;
const HEADER_BYTES = 8;

/** Writes a synchronous answer into the shared buffer and wakes the worker. */
export function answer(shared: SharedArrayBuffer, reply: unknown): void {
  const state = new Int32Array(shared, 0, 2);
  let bytes = new TextEncoder().encode(JSON.stringify(reply));
  if (bytes.length > shared.byteLength - HEADER_BYTES) {
    bytes = new TextEncoder().encode(JSON.stringify({
      ok: false,
      error: {
        kind: "error",
        name: "RangeError",
        message: `the answer was ${bytes.length} bytes, more than the ${
          shared.byteLength - HEADER_BYTES
        } a synchronous call can carry`,
        stack: undefined,
        id: undefined,
      },
    }));
  }
  new Uint8Array(shared, HEADER_BYTES).set(bytes);
  Atomics.store(state, 1, bytes.length);
  Atomics.store(state, 0, ANSWERED);
  Atomics.notify(state, 0);
}

/** Waits (blocking this worker) for the synchronous answer, and reads it. */
export function awaitAnswer(shared: SharedArrayBuffer): unknown {
  const state = new Int32Array(shared, 0, 2);
  while (Atomics.wait(state, 0, WAITING, 1000) === "timed-out") {
    // The CLI answers in its event loop; a busy one makes this wait longer, no more.
  }
  const length = Atomics.load(state, 1);
  // TextDecoder does not take a view of a SharedArrayBuffer: copy it out first.
  const bytes = new Uint8Array(shared, HEADER_BYTES, length).slice();
  Atomics.store(state, 0, WAITING);
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** A thrown value for the other side; `id` when this side keeps the original. */
export function toWire(thrown: unknown, id?: number): WireError {
  if (thrown instanceof Error || thrown instanceof DOMException) {
    return {
      kind: "error",
      name: thrown.name,
      message: thrown.message,
      stack: thrown.stack,
      id,
    };
  }
  try {
    return { kind: "value", value: structuredClone(thrown) };
  } catch {
    return { kind: "value", value: String(thrown) };
  }
}

const DOM_EXCEPTIONS = new Set([
  "AbortError",
  "TimeoutError",
  "DataCloneError",
  "NotSupportedError",
]);

/** The error `wire` describes, rebuilt on this side: an Error of the same name and stack. */
export function fromWire(wire: WireError): unknown {
  if (wire.kind === "value") return wire.value;
  const error = DOM_EXCEPTIONS.has(wire.name)
    ? new DOMException(wire.message, wire.name)
    : new Error(wire.message);
  if (!(error instanceof DOMException)) error.name = wire.name;
  if (wire.stack !== undefined) {
    Object.defineProperty(error, "stack", { value: wire.stack, configurable: true });
  }
  return error;
}
