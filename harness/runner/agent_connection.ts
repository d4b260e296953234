/**
 * The runner's side of one agent: sends commands, routes the agent's messages to the
 * workloads waiting for them, keeps the tail of its stderr, and ends it by pid.
 *
 * @module
 */

import {
  type AgentMessage,
  type AgentWorkload,
  encodeLine,
  readLines,
  type RunnerMessage,
  type WireError,
} from "../agent/protocol.ts";
import { AgentError, WorkloadError } from "../core/errors.ts";
import type { WorkloadResult } from "../measure/results.ts";

const STDERR_TAIL_LINES = 20;

interface Waiting {
  started: PromiseWithResolvers<string>;
  done: PromiseWithResolvers<WorkloadResult>;
  snapshots: PromiseWithResolvers<WorkloadResult>[];
  name: string;
}

/** A running agent. */
export class AgentConnection {
  /** The host it serves. */
  readonly host: string;
  /** Its process id. */
  readonly pid: number;
  /** Resolves once the agent said it is ready. */
  readonly ready: Promise<void>;
  /** Resolves when the agent process has exited. */
  readonly exited: Promise<Deno.CommandStatus>;
  /**
   * Resolves, with an error naming the host and how it ended, when the agent exits before
   * the runner closed it; never resolves otherwise.
   */
  readonly died: Promise<AgentError>;
  readonly #died = Promise.withResolvers<AgentError>();
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #waiting = new Map<number, Waiting>();
  #calls = new Map<number, PromiseWithResolvers<unknown>>();
  #nextCall = 1;
  #stderr: string[] = [];
  #closing = false;
  #lost: AgentError | undefined;

  constructor(host: string, child: Deno.ChildProcess) {
    this.host = host;
    this.#child = child;
    this.pid = child.pid;
    this.#writer = child.stdin.getWriter();
    const ready = Promise.withResolvers<void>();
    this.ready = ready.promise;
    this.exited = child.status;
    this.died = this.#died.promise;
    this.#readStderr();
    this.#readStdout(ready).finally(async () => {
      const status = await child.status;
      const error = new AgentError(
        `Agent of host "${host}" (pid ${this.pid}) exited ${
          status.signal ? `on ${status.signal}` : `with code ${status.code}`
        }${this.stderrTail() ? `:\n${indent(this.stderrTail())}` : ""}`,
        host,
      );
      this.#lost = error;
      if (!this.#closing) this.#died.resolve(error);
      ready.reject(error);
      for (const waiting of this.#waiting.values()) this.#fail(waiting, error);
      this.#waiting.clear();
      for (const call of this.#calls.values()) call.reject(error);
      this.#calls.clear();
    });
    this.ready.catch(() => {});
  }

  /** The last lines the agent wrote to stderr. */
  stderrTail(): string {
    return this.#stderr.join("\n");
  }

  /**
   * Starts a workload; resolves with its local address once it runs. `done` resolves
   * with its result (or rejects with a {@linkcode WorkloadError}).
   */
  start(
    id: number,
    name: string,
    workload: AgentWorkload,
  ): { started: Promise<string>; done: Promise<WorkloadResult> } {
    const waiting: Waiting = {
      started: Promise.withResolvers(),
      done: Promise.withResolvers(),
      snapshots: [],
      name,
    };
    waiting.started.promise.catch(() => {});
    waiting.done.promise.catch(() => {});
    if (this.#lost) this.#fail(waiting, this.#lost);
    else {
      this.#waiting.set(id, waiting);
      this.#send({ op: "start", id, workload });
    }
    return { started: waiting.started.promise, done: waiting.done.promise };
  }

  /** Calls a method of the agent (its droppers); resolves with the reply. */
  call(method: string, params: unknown): Promise<unknown> {
    if (this.#lost) return Promise.reject(this.#lost);
    const id = this.#nextCall++;
    const reply = Promise.withResolvers<unknown>();
    this.#calls.set(id, reply);
    this.#send({ op: "call", id, method, params });
    return reply.promise;
  }

  /** Asks a workload to stop; its `done` resolves with the result. */
  stop(id: number): void {
    if (this.#waiting.has(id)) this.#send({ op: "stop", id });
  }

  /**
   * What a workload measured so far, or undefined when it has finished. `light`: without
   * the logs of storm attempts and churn failures (for progress output).
   */
  snapshot(id: number, light = false): Promise<WorkloadResult> | undefined {
    const waiting = this.#waiting.get(id);
    if (!waiting) return undefined;
    const request = Promise.withResolvers<WorkloadResult>();
    waiting.snapshots.push(request);
    this.#send(light ? { op: "snapshot", id, light } : { op: "snapshot", id });
    return request.promise;
  }

  /**
   * Closes stdin so the agent stops its workloads and exits; kills it by pid (SIGKILL)
   * if it has not exited after `graceMs`.
   */
  async close(graceMs = 3000): Promise<Deno.CommandStatus> {
    if (!this.#closing) {
      this.#closing = true;
      await this.#writer.close().catch(() => {});
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const outcome = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }
    return await this.exited;
  }

  #send(message: RunnerMessage): void {
    this.#writer.write(encodeLine(message)).catch(() => {});
  }

  async #readStdout(ready: PromiseWithResolvers<void>): Promise<void> {
    for await (const line of readLines(this.#child.stdout)) {
      let message: AgentMessage;
      try {
        message = JSON.parse(line);
      } catch {
        this.#pushStderr(`(stdout) ${line}`);
        continue;
      }
      this.#dispatch(message, ready);
    }
  }

  #dispatch(message: AgentMessage, ready: PromiseWithResolvers<void>): void {
    switch (message.type) {
      case "ready":
        ready.resolve();
        return;
      case "fatal":
        this.#pushStderr(`fatal: ${message.error.name}: ${message.error.message}`);
        return;
      case "reply":
        this.#calls.get(message.id)?.resolve(message.value);
        this.#calls.delete(message.id);
        return;
      case "error":
        this.#calls.get(message.id)?.reject(
          new AgentError(`Agent of host "${this.host}": ${message.error.message}`, this.host),
        );
        this.#calls.delete(message.id);
        return;
    }
    const waiting = this.#waiting.get(message.id);
    if (!waiting) return;
    switch (message.type) {
      case "started":
        waiting.started.resolve(message.address);
        break;
      case "snapshot":
        waiting.snapshots.shift()?.resolve(message.result);
        break;
      case "result":
        for (const s of waiting.snapshots) s.resolve(message.result);
        waiting.done.resolve(message.result);
        this.#waiting.delete(message.id);
        break;
      case "failed":
        this.#fail(waiting, workloadError(waiting.name, this.host, message.error));
        this.#waiting.delete(message.id);
        break;
    }
  }

  #fail(waiting: Waiting, error: Error): void {
    waiting.started.reject(error);
    waiting.done.reject(error);
    for (const s of waiting.snapshots) s.reject(error);
  }

  async #readStderr(): Promise<void> {
    for await (const line of readLines(this.#child.stderr)) this.#pushStderr(line);
  }

  #pushStderr(line: string): void {
    this.#stderr.push(line);
    if (this.#stderr.length > STDERR_TAIL_LINES) this.#stderr.shift();
  }
}

function workloadError(name: string, host: string, error: WireError): WorkloadError {
  return new WorkloadError(
    `Workload "${name}" on host "${host}" failed: ${error.name}: ${error.message}`,
    name,
  );
}

function indent(text: string): string {
  return text.split("\n").map((line) => `  | ${line}`).join("\n");
}
