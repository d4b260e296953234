/**
 * Who holds a port: the sockets bound to it and the processes that own them, read from
 * iproute2's `ss` (`ss -H -n -a -p -u sport = :7000`). Run inside a namespace (the
 * agent already is; the runner passes an `nsenter` prefix), `ss` sees that namespace's
 * sockets; `-p` needs to read every process's /proc/<pid>/fd, so as root it names the
 * owner of every socket.
 *
 * @module
 */

import { type CommandOutput, runCommand, tailLines } from "../core/command.ts";
import type { PortHolder } from "../measure/bind_results.ts";

/** Options of {@linkcode ssArgs}. */
export interface SsArgsOptions {
  /**
   * Only listening sockets (`-l`), for a TCP server that is ready once it listens;
   * otherwise sockets in every state (`-a`).
   * @default {false}
   */
  listening?: boolean;
  /**
   * Name the processes that own each socket (`-p`, which reads every process's
   * /proc/<pid>/fd: slower); without it every holder has a null pid and program.
   * @default {true}
   */
  processes?: boolean;
  /**
   * Ask for each socket's owner too (`-e`): holders then carry their `uid`.
   * @default {false}
   */
  extended?: boolean;
}

/**
 * Tells whether socket `fd` of process `pid` set SO_REUSEPORT (null: cannot tell); see
 * {@linkcode ./socket_options.ts}.
 */
export type ReusePortOf = (pid: number, fd: number) => boolean | null;

/** Options of {@linkcode parseSs}. */
export interface ParseSsOptions {
  /** Looks up SO_REUSEPORT of each holder's socket; without it holders carry no `reusePort`. */
  reusePortOf?: ReusePortOf;
}

/** Options of {@linkcode lookupHoldersSync}. */
export interface LookupHoldersSyncOptions extends SsArgsOptions, ParseSsOptions {}

/** Options of {@linkcode lookupHolders}. */
export interface LookupHoldersOptions extends SsArgsOptions {
  /** Cancels the lookup (the `ss` process is killed). */
  signal?: AbortSignal;
}

/**
 * The arguments of `ss` that list every socket of `protocol` (all states, or only
 * listening ones) whose local port is `port`: no header, numeric, with processes unless
 * told otherwise.
 *
 * @example
 * ```ts
 * import { ssArgs } from "./holders.ts";
 * console.assert(ssArgs("udp", 7000).join(" ") === "-H -n -a -p -u sport = :7000");
 * const listening = ssArgs("tcp", 80, { listening: true, processes: false });
 * console.assert(listening.join(" ") === "-H -n -l -t sport = :80");
 * ```
 */
export function ssArgs(
  protocol: "tcp" | "udp",
  port: number,
  options: SsArgsOptions = {},
): string[] {
  checkProtocol(protocol);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new RangeError(`Cannot list holders of port ${JSON.stringify(port)}: expected 0-65535`);
  }
  return [
    "-H",
    "-n",
    options.listening ? "-l" : "-a",
    ...(options.processes === false ? [] : ["-p"]),
    ...(options.extended ? ["-e"] : []),
    protocol === "udp" ? "-u" : "-t",
    "sport",
    "=",
    `:${port}`,
  ];
}

// State Recv-Q Send-Q Local Peer [Process], with a Netid column first when ss lists
// several protocols. Addresses never contain spaces; a program name may.
const LINE = /^(?:([a-z][a-z0-9_]*)\s+)?([A-Z][A-Z0-9-]*)\s+\d+\s+\d+\s+(\S+)\s+(\S+)(?:\s+(.*))?$/;
// One user of a socket: ("name",pid=123,fd=4). ss does not escape the name, so the
// name ends at the first `",pid=`.
const USER = /\("(.*?)",pid=(\d+),fd=(\d+)\)/g;
// With -e: the owner, printed only when not root, and the inode (always).
const UID = /(?:^|\s)uid:(\d+)(?:\s|$)/;
const INODE = /(?:^|\s)ino:\d+/;

/**
 * Parses the output of `ss` run with {@linkcode ssArgs} into one holder per socket and
 * process: a socket shared by several processes (inherited across fork) gives one
 * holder per pid; a socket no process owns (TIME-WAIT) gives one holder with a null
 * pid and program. Addresses are kept as `ss` prints them (`127.0.0.1:7000`,
 * `[::1]:7000`, `*:7000`); a peer without a port (`0.0.0.0:*`) becomes `*`.
 *
 * @example
 * ```ts
 * import { parseSs } from "./holders.ts";
 * const [holder] = parseSs(
 *   'UNCONN 0 0 127.0.0.1:7000 0.0.0.0:* users:(("deno",pid=4242,fd=21))\n',
 *   "udp",
 * );
 * console.assert(holder?.pid === 4242 && holder.state === "UNCONN" && holder.peer === "*");
 * ```
 */
export function parseSs(
  output: string,
  protocol: "tcp" | "udp",
  options: ParseSsOptions = {},
): PortHolder[] {
  checkProtocol(protocol);
  const holders: PortHolder[] = [];
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    // A header, when ss was run without -H.
    if (line === "" || /^(State|Netid)\s/.test(line)) continue;
    const match = LINE.exec(line);
    if (!match) {
      throw new SyntaxError(`Cannot parse ss output: unexpected line ${JSON.stringify(line)}`);
    }
    const [, netid, state, local, peerField, process] = match as unknown as [
      string,
      string | undefined,
      string,
      string,
      string,
      string | undefined,
    ];
    if (netid !== undefined && netid !== protocol) continue;
    const peer = peerField.endsWith(":*") ? "*" : peerField;
    const rest = process ?? "";
    const uidMatch = UID.exec(rest);
    const owner = uidMatch ? { uid: Number(uidMatch[1]) } : INODE.test(rest) ? { uid: 0 } : {};
    const seen = new Set<number>();
    for (const user of rest.matchAll(USER)) {
      const pid = Number(user[2]);
      if (seen.has(pid)) continue;
      seen.add(pid);
      const holder: PortHolder = { pid, program: user[1]!, state, local, peer, ...owner };
      const reusePort = options.reusePortOf?.(pid, Number(user[3]));
      if (typeof reusePort === "boolean") holder.reusePort = reusePort;
      holders.push(holder);
    }
    if (seen.size === 0) holders.push({ pid: null, program: null, state, local, peer, ...owner });
  }
  return holders;
}

/**
 * Runs `[...prefix, ssPath, ...ssArgs(protocol, port, options)]` and returns who holds
 * the port. Throws a `CommandError` with the tail of its stderr when the command fails
 * or takes over 10 s.
 *
 * @example
 * ```ts ignore
 * import { lookupHolders } from "./holders.ts";
 * // Inside the namespace of process 4242:
 * const holders = await lookupHolders("/usr/bin/ss", "udp", 7000, ["nsenter", "-t", "4242", "-n"]);
 * ```
 */
export async function lookupHolders(
  ssPath: string,
  protocol: "tcp" | "udp",
  port: number,
  prefix: string[] = [],
  options: LookupHoldersOptions = {},
): Promise<PortHolder[]> {
  const [program, ...args] = commandOf(ssPath, protocol, port, prefix, options);
  const output = await runCommand(program!, args, {
    noThrow: true,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return parseSs(checked(output, program!, port), protocol);
}

/**
 * {@linkcode lookupHolders}, blocking: the event loop does not run until `ss` has
 * answered. That is the point when a bind has just failed: a socket whose release waits
 * on the event loop (Deno 2.9 frees a closed socket's port only once its pending
 * receive has been rejected) is still there when `ss` looks.
 *
 * @example
 * ```ts
 * import { lookupHoldersSync } from "./holders.ts";
 * const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const port = (socket.addr as Deno.NetAddr).port;
 * const holders = lookupHoldersSync("ss", "udp", port);
 * console.assert(holders.some((h) => h.pid === Deno.pid));
 * socket.close();
 * ```
 */
export function lookupHoldersSync(
  ssPath: string,
  protocol: "tcp" | "udp",
  port: number,
  prefix: string[] = [],
  options: LookupHoldersSyncOptions = {},
): PortHolder[] {
  const [program, ...args] = commandOf(ssPath, protocol, port, prefix, options);
  const output = new Deno.Command(program!, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const decoder = new TextDecoder();
  const result = {
    code: output.signal === null ? output.code : null,
    signal: output.signal,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
  return parseSs(checked(result, program!, port), protocol, options);
}

function commandOf(
  ssPath: string,
  protocol: "tcp" | "udp",
  port: number,
  prefix: string[],
  options: SsArgsOptions = {},
): string[] {
  if (typeof ssPath !== "string" || ssPath === "") {
    throw new TypeError(
      `Cannot look up holders: ssPath must be a path, got ${JSON.stringify(ssPath)}`,
    );
  }
  return [...prefix, ssPath, ...ssArgs(protocol, port, options)];
}

function checked(output: CommandOutput, program: string, port: number): string {
  if (output.code !== 0) {
    const stderr = tailLines(output.stderr.trim(), 5);
    const how = output.signal
      ? `was killed by ${output.signal}`
      : `exited with code ${output.code}`;
    throw new Error(
      `Cannot look up holders of port ${port}: "${program}" ${how}${stderr ? `: ${stderr}` : ""}`,
    );
  }
  return output.stdout;
}

function checkProtocol(protocol: unknown): void {
  if (protocol !== "tcp" && protocol !== "udp") {
    throw new TypeError(`Expected protocol "tcp" or "udp", got ${JSON.stringify(protocol)}`);
  }
}
