// The runner's side of the bind watch: loads bpf/bind_watch.o for the run's namespaces,
// sleeps on its doorbell and reads its events as they come, keeps the cgroups the kernel
// saw each failing process in (a program under test's own cgroup owes it the failure
// whatever the process does next), and looks up who held each port in that namespace
// (from /proc, what `ss -p` would show) as soon as a failure is seen.

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
 * How long one wait for the watch's doorbell lasts before it is renewed: the watch wakes
 * this process as soon as an event is written (about 0.4 ms after the bind() here), so
 * the holder is looked up before a rebind can hide it; the timeout only bounds how long
 * a stop waits for the wait in flight.
 */
const WAIT_MS = 50;
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
  /** The cgroup v2 ids of each failing process, read in the kernel during its bind(). */
  #cgroups = new Map<ObservedBindFailure, number[]>();
  #waiting: Promise<void> | undefined;
  #stopping = false;
  #lost = 0;
  #untracked = 0;
  #lookedUp = 0;
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
    monitor.#waiting = monitor.#watchLoop();
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

  /**
   * The cgroup v2 ids of the process that failed, read in the kernel while it was in
   * bind() (its own cgroup's, then its ancestors' at levels 1-8): a program under test
   * has a cgroup of its own, so this owes the failure to it whatever the process did
   * next. Empty for a failure of a kernel that does not say.
   */
  cgroupsOf(failure: ObservedBindFailure): number[] {
    return this.#cgroups.get(failure) ?? [];
  }

  /** Reads what is left and unloads the program; resolves once everything is freed. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#options?.[Symbol.dispose]();
    this.#options = undefined;
    const watch = this.#watch;
    if (!watch) return;
    this.#poll(watch);
    this.#watch = undefined;
    watch[Symbol.dispose](); // detaches at once; frees after the wait in flight
    await this.#waiting;
    await watch.closed();
  }

  /** Sleeps on the watch's doorbell, and reads the events each time it rings. */
  async #watchLoop(): Promise<void> {
    const watch = this.#watch!;
    while (!this.#stopping) {
      try {
        await watch.wait(WAIT_MS);
      } catch {
        return; // disposed of: stopping
      }
      if (this.#stopping) return;
      this.#poll(watch);
    }
  }

  #poll(watch: BindWatch): void {
    if (this.#watch !== watch) return; // stopped
    const { events, lost, untracked } = watch.read();
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
    this.#cgroups.set(
      failure,
      [event.cgroupId, ...event.cgroupAncestors].filter((id) => id > 0),
    );
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
