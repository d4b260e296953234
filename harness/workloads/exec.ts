/**
 * The program-under-test workload kind (`exec`): its options, spec, factory, validation,
 * description and conversion to the settings the runner starts it with.
 *
 * @module
 */

import { type Duration, parseDuration } from "../core/duration.ts";
import { EnvironmentError } from "../core/errors.ts";
import { isPort } from "../core/addresses.ts";
import { resolve } from "node:path";
import type { ExecSettings, ReadySpec } from "../agent/protocol.ts";
import type { Checks, ResolveContext } from "./_kind.ts";

/**
 * When a program under test is ready: listening on a port, or a line on its stdout.
 *
 * @example
 * ```ts
 * import { exec, type ReadyCondition } from "./exec.ts";
 * const conditions: ReadyCondition[] = [{ tcp: 8000 }, { udp: 5353 }, { stdout: /listening/ }];
 * const servers = conditions.map((ready) => exec(["./server"], { ready }));
 * console.assert(servers.every((s) => s.ready !== null));
 * ```
 */
export type ReadyCondition = { tcp: number } | { udp: number } | { stdout: RegExp };

/**
 * Options of {@linkcode exec}.
 *
 * @example
 * ```ts
 * import { exec, type ExecOptions } from "./exec.ts";
 * const options: ExecOptions = {
 *   ready: { stdout: /listening on/ },
 *   readyTimeout: "5s",
 *   env: { LOG_LEVEL: "debug" },
 * };
 * console.assert(exec(["./server", "--port", "9000"], options).readyTimeout === "5s");
 * ```
 */
export interface ExecOptions {
  /** When it is ready; without one, it is ready once started. */
  ready?: ReadyCondition;
  /**
   * How long to wait for `ready`.
   * @default {"10s"}
   */
  readyTimeout?: Duration;
  /** Environment variables, added to a minimal environment (PATH, HOME, LANG). */
  env?: Record<string, string>;
  /** Working directory; relative paths are from where squall runs. */
  cwd?: string;
  /**
   * Wait for it to exit on its own (a client), instead of running until stopped (a
   * server). A non-zero exit then fails the workload.
   * @default {false}
   */
  waitForExit?: boolean;
  /**
   * On stop: SIGTERM, then SIGKILL if it is still running after this long.
   * @default {"2s"}
   */
  stopTimeout?: Duration;
}

/**
 * A program under test, started with Deno.Command inside a host's namespace. The fields
 * it shares with its agent's {@linkcode ExecSettings} are declared there.
 *
 * @example
 * ```ts
 * import { exec, type ExecSpec } from "./exec.ts";
 * // A client that ends by itself: a non-zero exit fails the workload.
 * const client: ExecSpec = exec(["curl", "-sf", "http://198.18.0.2:8000/"], {
 *   waitForExit: true,
 * });
 * console.assert(client.waitForExit && client.stopTimeout === "2s" && client.cwd === null);
 * ```
 */
export interface ExecSpec extends Pick<ExecSettings, "command" | "ready" | "env"> {
  /** Always `"exec"`. */
  kind: "exec";
  /** The raw ready timeout. */
  readyTimeout: Duration;
  /** Working directory, or null for squall's own. */
  cwd: string | null;
  /** Wait for it to exit on its own. */
  waitForExit: boolean;
  /** The raw stop timeout. */
  stopTimeout: Duration;
}

/**
 * A program under test: `command` started inside the host's namespace. Its agent may
 * run exactly this program (`--allow-run` for its path), nothing else.
 *
 * @example
 * ```ts
 * import { exec } from "./exec.ts";
 * const server = exec(["python3", "-m", "http.server", "8000"], { ready: { tcp: 8000 } });
 * console.assert(server.kind === "exec");
 * ```
 */
export function exec(command: string[], options: ExecOptions = {}): ExecSpec {
  const ready = options?.ready;
  return {
    kind: "exec",
    command,
    ready: ready && "stdout" in ready && ready.stdout instanceof RegExp
      ? { stdout: { source: ready.stdout.source, flags: ready.stdout.flags } }
      : (ready as ReadySpec | undefined) ?? null,
    readyTimeout: options?.readyTimeout ?? "10s",
    env: options?.env ?? {},
    cwd: options?.cwd ?? null,
    waitForExit: options?.waitForExit ?? false,
    stopTimeout: options?.stopTimeout ?? "2s",
  };
}

/** Checks a program-under-test spec (its program must exist and be executable). */
export function validateExec(s: ExecSpec, check: Checks): void {
  if (
    !Array.isArray(s.command) || s.command.length === 0 ||
    !s.command.every((c) => typeof c === "string")
  ) {
    check.add(
      "command",
      `expected the program and its arguments as strings, got ${JSON.stringify(s.command)}`,
    );
  } else {
    const found = findProgram(s.command[0]!, s.cwd);
    if (typeof found !== "string") check.add("command", found.error);
  }
  const r = s.ready as Record<string, unknown> | null;
  if (r !== null) {
    const keys = typeof r === "object" ? Object.keys(r) : [];
    if (keys.length !== 1 || !["tcp", "udp", "stdout"].includes(keys[0]!)) {
      check.add(
        "ready",
        `ready must be { tcp: port }, { udp: port } or { stdout: /pattern/ }, got ${
          JSON.stringify(r)
        }`,
      );
    } else if (keys[0] === "stdout") {
      const p = r.stdout as { source?: unknown };
      if (typeof p?.source !== "string") check.add("ready.stdout", "ready.stdout must be a RegExp");
    } else if (!isPort(r[keys[0]!])) {
      check.add(
        `ready.${keys[0]}`,
        `port must be a whole number 1-65535, got ${JSON.stringify(r[keys[0]!])}`,
      );
    }
  }
  check.positiveDuration("readyTimeout", s.readyTimeout);
  check.positiveDuration("stopTimeout", s.stopTimeout);
  check.boolean("waitForExit", s.waitForExit);
  if (
    typeof s.env !== "object" || s.env === null ||
    !Object.values(s.env).every((v) => typeof v === "string")
  ) {
    check.add("env", "env must be an object of strings");
  }
  if (s.cwd !== null) {
    try {
      if (typeof s.cwd !== "string" || !Deno.statSync(s.cwd).isDirectory) throw new Error();
    } catch {
      check.add("cwd", `cwd must be a directory that exists, got ${JSON.stringify(s.cwd)}`);
    }
  }
}

/**
 * Finds the executable a command names: a path (relative to `cwd`, or to where squall
 * runs) or a name looked up in PATH. Returns its absolute path, with symbolic links left
 * as they are (a venv's `bin/python` must run as itself to use its venv, and a
 * multi-call binary like busybox picks what to do from the name it is run by), or why
 * it cannot run: it must exist and be, once links are followed, an executable file.
 */
export function findProgram(name: string, cwd: string | null): string | { error: string } {
  const base = cwd === null ? Deno.cwd() : resolve(Deno.cwd(), cwd);
  const candidates = name.includes("/")
    ? [resolve(base, name)]
    : (Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin").split(":").filter((d) => d)
      .map((dir) => resolve(dir, name));
  let notExecutable: string | undefined;
  for (const path of candidates) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch {
      continue;
    }
    if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return path;
    notExecutable ??= path;
  }
  if (notExecutable) return { error: `"${notExecutable}" is not an executable file` };
  return {
    error: name.includes("/")
      ? `program "${name}" does not exist (looked for ${candidates[0]})`
      : `program "${name}" is not in PATH`,
  };
}

/** Describes a valid program-under-test spec in one line. */
export function describeExec(spec: ExecSpec): string {
  const r = spec.ready;
  const ready = r === null
    ? ""
    : "stdout" in r
    ? `, ready on stdout /${r.stdout.source}/`
    : "tcp" in r
    ? `, ready when tcp ${r.tcp} listens`
    : `, ready when udp ${r.udp} is bound`;
  return `program ${
    spec.command.map((c) => /^[\w./:=@%+-]+$/.test(c) ? c : JSON.stringify(c)).join(" ")
  }${ready}`;
}

/**
 * A valid program-under-test spec as the runner starts it: its program found (or why
 * not), in the host's namespace. Throws an {@linkcode EnvironmentError} when setpriv, ss
 * or (with namespaces) nsenter is missing: the machine's fault, not the scenario's.
 */
export function execSettings(
  spec: ExecSpec,
  context: ResolveContext,
): ({ kind: "exec" } & ExecSettings) | { error: string } {
  const program = findProgram(spec.command[0]!, spec.cwd);
  if (typeof program !== "string") return program;
  const { setpriv, ss, nsenter } = context.tools;
  const namespaced = context.network === "namespaces";
  if (!setpriv || !ss || (namespaced && !nsenter)) {
    // The machine's fault, not the scenario's: exit 3.
    const missing = [
      ["setpriv", setpriv],
      ["ss", ss],
      ...(namespaced ? [["nsenter", nsenter]] : []),
    ].filter(([, path]) => !path).map(([name]) => name);
    throw new EnvironmentError(
      `Cannot start program under test "${spec.command[0]}": ${
        missing.join(", ")
      } not found on PATH`,
      "apt-get install util-linux iproute2 (setpriv and nsenter, ss)",
    );
  }
  return {
    kind: "exec",
    command: [program, ...spec.command.slice(1)],
    ready: spec.ready,
    readyTimeoutMs: parseDuration(spec.readyTimeout),
    env: spec.env,
    cwd: spec.cwd === null ? null : resolve(spec.cwd),
    stopTimeoutMs: parseDuration(spec.stopTimeout),
    setprivPath: setpriv,
    ssPath: ss,
    namespace: namespaced ? { nsenterPath: nsenter!, pid: context.agentPid! } : null,
    cgroup: null, // the runner's LocalPrograms puts it in the run's cgroup
  };
}
