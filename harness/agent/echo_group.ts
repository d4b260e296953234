/**
 * Echoes as SO_REUSEPORT groups, as run inside an agent: N sockets (UDP, each a native
 * worker thread) or N listeners (TCP) on one port, each setting SO_REUSEPORT, so the
 * kernel spreads flows (UDP) or connections (TCP) across them by a hash of the tuple.
 * Programs under test that set SO_REUSEPORT (with the same owner) join the same group.
 * One member can be stopped while the rest run, as a worker that dies: for UDP, what is
 * queued in its socket then is counted (per flow) as discarded, lost with the socket.
 *
 * @module
 */

import type { WorkloadControl } from "./protocol.ts";
import type { RunningWorkload } from "./running.ts";
import { type NativeUdpEcho, startNativeUdpEcho } from "./_native_udp_echo.ts";
import { startTcpEcho } from "./tcp_echo.ts";
import { mergeTcpGroup, mergeUdpGroup } from "../measure/echo_group.ts";
import type { UdpEchoResult } from "../measure/results.ts";
import type { TcpEchoResult } from "../measure/tcp_results.ts";

/**
 * Starts a UDP echo group of `size` native sockets on `hostname:port` (port 0: the first
 * member's free port); resolves once every member is bound. Needs libc (`libcPath`,
 * granted to this process): Deno's UDP sockets cannot set SO_REUSEPORT.
 */
export async function startUdpEchoGroup(
  hostname: string,
  port: number,
  size: number,
  libcPath: string | undefined,
): Promise<RunningWorkload<UdpEchoResult>> {
  if (
    !libcPath || Deno.permissions.querySync({ name: "ffi", path: libcPath }).state !== "granted"
  ) {
    throw new Deno.errors.NotCapable(
      `Cannot start a UDP SO_REUSEPORT group on "${hostname}:${port}": it needs the native echo (libc), which this agent may not load`,
    );
  }
  const members: NativeUdpEcho[] = [];
  try {
    members.push(await startNativeUdpEcho(hostname, port, libcPath, true));
    const bound = Number(members[0]!.address.split(":").pop());
    for (let i = 1; i < size; i++) {
      members.push(await startNativeUdpEcho(hostname, bound, libcPath, true));
    }
  } catch (error) {
    await Promise.allSettled(members.map((m) => m.stop()));
    throw error;
  }
  return group(members, mergeUdpGroup, (m, hangMs) => m.discard(hangMs));
}

/**
 * Starts a TCP echo group of `size` listeners on `hostname:port` (port 0: the first
 * member's free port), each with SO_REUSEPORT.
 */
export async function startTcpEchoGroup(
  hostname: string,
  port: number,
  size: number,
): Promise<RunningWorkload<TcpEchoResult>> {
  const members: RunningWorkload<TcpEchoResult>[] = [];
  try {
    members.push(await startTcpEcho(hostname, port, true));
    const bound = Number(members[0]!.address.split(":").pop());
    for (let i = 1; i < size; i++) members.push(await startTcpEcho(hostname, bound, true));
  } catch (error) {
    await Promise.allSettled(members.map((m) => m.stop()));
    throw error;
  }
  return group(members, mergeTcpGroup, (m, hangMs) => {
    if (hangMs > 0) {
      return Promise.reject(
        new RangeError("Cannot hang a TCP group member: hang is for UDP members only"),
      );
    }
    return m.stop();
  });
}

function group<R extends UdpEchoResult | TcpEchoResult, M extends RunningWorkload<R>>(
  members: M[],
  merge: (results: R[], stopped: boolean[]) => R,
  kill: (member: M, hangMs: number) => Promise<R>,
): RunningWorkload<R> {
  const stopped = members.map(() => false);
  const finals: (R | undefined)[] = members.map(() => undefined);
  const snapshot = async () =>
    merge(await Promise.all(members.map((m, i) => finals[i] ?? m.snapshot())), stopped);
  const done = Promise.all(members.map((m, i) =>
    m.done.then((r) => {
      finals[i] = r;
      return r;
    })
  )).then((results) => merge(results, stopped));
  done.catch(() => {});
  let stopping = false;
  return {
    address: members[0]!.address,
    done,
    snapshot,
    stop() {
      stopping = true;
      for (const m of members) m.stop().catch(() => {});
      return done;
    },
    async control(c: WorkloadControl): Promise<void> {
      if (c.action !== "stopMember") {
        throw new TypeError(`Cannot ${c.action} an echo group: only stopMember applies`);
      }
      const member = members[c.member];
      if (!member) {
        throw new RangeError(
          `Cannot stop member ${c.member} of the group: members are 0-${members.length - 1}`,
        );
      }
      if (stopping) return;
      if (stopped[c.member]) {
        throw new RangeError(`Cannot stop member ${c.member} of the group: stopped already`);
      }
      stopped[c.member] = true;
      try {
        finals[c.member] = await kill(member, c.hangMs);
      } catch (error) {
        stopped[c.member] = false;
        throw error;
      }
    },
  };
}
