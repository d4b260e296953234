// The runner's side of the bind watch: loads bpf/bind_watch.o for the run's namespaces,
// reads its events while the run goes on, and looks up who held each port in that
// namespace (from /proc, what `ss -p` would show) as soon as a failure is seen.

import type { AgentConnection } from "./agent_connection.ts";
import { LIBBPF_CANDIDATES } from "../kernel/libbpf.ts";
import { findLibrary, LIBC_CANDIDATES } from "../native/libc.ts";
import {
  BIND_WATCH_OBJECT,
  type BindEvent,
  BindWatch,
  namespaceInode,
} from "../kernel/bind_watch.ts";
import { procHolders } from "./proc_holders.ts";
import { SocketOptionReader } from "../agent/socket_options.ts";
import { reuseConflict } from "../measure/reuse_conflict.ts";
import type { ObservedBindFailure } from "../measure/bind_results.ts";
import type { Plan } from "../scenario/topology.ts";

/**
 * How often the event ring is read: a read is one bpf() call when nothing happened, and
 * the sooner a failure is read, the likelier the lookup still finds the process that held
 * the port.
 */
const POLL_MS = 10;
/** Failures whose holders are looked up; later ones are counted, not looked up. */
const MAX_LOOKUPS = 200;

/** The bind watch of one run. */
export class BindWatchMonitor {
  #watch: BindWatch | undefined;
  #reason: string | null;
  #hosts = new Map<number, { host: string; pid: number }>();
  #failures: ObservedBindFailure[] = [];
  /** Parents of each failing process, read from /proc when the failure was seen. */
  #ancestors = new Map<ObservedBindFailure, number[]>();
  #parentsByPid = new Map<number, number[]>();
  #lost = 0;
  #untracked = 0;
  #lookedUp = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Reads holders' SO_REUSEPORT (borrowing their fds); undefined without libc. */
  #options: SocketOptionReader | undefined;

  private constructor(watch: BindWatch | undefined, reason: string | null) {
    this.#watch = watch;
    this.#reason = reason;
  }

  /**
   * Starts watching the run's namespaces when this machine can; otherwise returns a
   * monitor that says why not. Never throws: a run without
   * the bind watch still runs (its workloads report their own failures).
   */
  static async start(
    plan: Plan,
    agents: ReadonlyMap<string, AgentConnection>,
  ): Promise<BindWatchMonitor> {
    if (plan.network !== "namespaces") {
      return new BindWatchMonitor(
        undefined,
        "loopback runs share the host's namespace: not watched",
      );
    }
    const libbpfPath = findLibrary(LIBBPF_CANDIDATES);
    const libcPath = findLibrary(LIBC_CANDIDATES);
    const objectPath = findLibrary([BIND_WATCH_OBJECT]);
    if (!libbpfPath || !libcPath || !objectPath) {
      const missing = !libbpfPath ? "libbpf.so.1" : !libcPath ? "libc.so.6" : BIND_WATCH_OBJECT;
      return new BindWatchMonitor(undefined, `cannot load the bind watch: no ${missing}`);
    }
    let watch: BindWatch;
    try {
      watch = await BindWatch.open({ libbpfPath, libcPath, objectPath });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return new BindWatchMonitor(undefined, `cannot load the bind watch: ${message}`);
    }
    const monitor = new BindWatchMonitor(watch, null);
    try {
      monitor.#options = SocketOptionReader.open(libcPath);
    } catch {
      // Holders then carry no reusePort.
    }
    for (const host of plan.hosts) {
      const pid = agents.get(host.name)!.pid;
      const inode = namespaceInode(pid);
      watch.watchNamespace(inode);
      monitor.#hosts.set(inode, { host: host.name, pid });
    }
    monitor.#timer = setInterval(() => monitor.#poll(), POLL_MS);
    return monitor;
  }

  /**
   * Whether it runs, why not, events the ring could not keep and bind() calls it could
   * not follow (with either above 0, its counts of failures may be short).
   */
  status(): { active: boolean; reason: string | null; lost: number; untracked: number } {
    return {
      active: this.#reason === null,
      reason: this.#reason,
      lost: this.#lost,
      untracked: this.#untracked,
    };
  }

  /** Failures seen so far, oldest first. */
  failures(): ObservedBindFailure[] {
    return this.#failures;
  }

  /**
   * The parent, grandparent, ... of the process that failed, as far as /proc showed
   * when the failure was seen (empty if it had exited): a program under test that runs
   * its server in a child process still owns the child's failures.
   */
  ancestorsOf(failure: ObservedBindFailure): number[] {
    return this.#ancestors.get(failure) ?? [];
  }

  /** Reads what is left and unloads the program. */
  stop(): void {
    clearInterval(this.#timer);
    this.#poll();
    this.#watch?.[Symbol.dispose]();
    this.#options?.[Symbol.dispose]();
    this.#options = undefined;
    this.#watch = undefined;
  }

  #poll(): void {
    if (!this.#watch) return;
    const { events, lost, untracked } = this.#watch.read();
    this.#lost += lost;
    this.#untracked += untracked;
    for (const event of events) {
      const where = this.#hosts.get(event.netns);
      if (!where) continue;
      if (event.kind === "success") this.#rebound(where.host, event);
      else this.#failed(where, event);
    }
  }

  #failed(where: { host: string; pid: number }, event: BindEvent): void {
    const failure: ObservedBindFailure = {
      atMs: event.atMs,
      host: where.host,
      workload: null,
      pid: event.pid,
      tid: event.tid,
      program: event.comm,
      address: event.address,
      port: event.port,
      protocol: event.socketType,
      error: event.error,
      errno: event.errno,
      rebindMs: null,
      holders: null,
      holderLookupDelayMs: null,
    };
    this.#failures.push(failure);
    // A process that has exited by now has the parents it had at its last failure.
    const parents = parentsOf(event.pid, where.pid);
    if (parents.length > 0) this.#parentsByPid.set(event.pid, parents);
    this.#ancestors.set(failure, this.#parentsByPid.get(event.pid) ?? parents);
    // An agent's own failures are its bind churn's, which asked ss itself, at once.
    if (event.pid === where.pid) return;
    if (++this.#lookedUp > MAX_LOOKUPS) return;
    const protocols = event.socketType === "tcp" || event.socketType === "udp"
      ? [event.socketType]
      : ["tcp", "udp"] as const;
    try {
      // From /proc, at once (about 1 ms; spawning nsenter and ss took 5-15).
      const options = this.#options;
      const reusePortOf = options && ((pid: number, fd: number) => options.reusePort(pid, fd));
      failure.holders = protocols.flatMap((p) =>
        procHolders(where.pid, p, event.port, reusePortOf)
      );
    } catch {
      return; // The namespace is gone: the run is ending.
    }
    // What the failing socket set is not known here (its fd is not in the event).
    const reason = reuseConflict({ reusePort: null, uid: null }, failure.holders);
    if (reason) failure.reason = reason;
    // When the lookup had looked by: now. Not Date.now(): whole milliseconds.
    failure.holderLookupDelayMs = performance.timeOrigin + performance.now() - event.atMs;
  }

  #rebound(host: string, event: BindEvent): void {
    for (const f of this.#failures) {
      // The same port of the same protocol: a UDP bind does not end a TCP failure.
      if (
        f.host === host && f.port === event.port && f.protocol === event.socketType &&
        f.rebindMs === null && f.atMs <= event.atMs
      ) {
        f.rebindMs = event.atMs - f.atMs;
      }
    }
  }
}

/** The parents of `pid` up to (not including) `stopAt`, pid 1 or 16 levels; [] if it is gone. */
function parentsOf(pid: number, stopAt: number): number[] {
  const parents: number[] = [];
  for (let current = pid; parents.length < 16;) {
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${current}/stat`);
    } catch {
      break;
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (!(ppid > 1) || ppid === stopAt) break;
    parents.push(ppid);
    current = ppid;
  }
  return parents;
}
