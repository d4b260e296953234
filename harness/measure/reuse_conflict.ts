/**
 * Why a bind next to a SO_REUSEPORT group failed, from what the failing socket set and
 * what the port's holders are: the kernel lets a socket into a group only if it and
 * every socket bound to the port set SO_REUSEPORT, and all have one owner (uid). Pure
 * logic over the holder lookup.
 *
 * @module
 */

import type { PortHolder } from "./bind_results.ts";

/** What is known of the socket whose bind failed. */
export interface FailedSocket {
  /** Whether it set SO_REUSEPORT; null when unknown (a program under test). */
  reusePort: boolean | null;
  /** Its owner's uid; null when unknown. */
  uid: number | null;
}

/** States of sockets that are bound to the port as a server (listening, or UDP). */
const BOUND_STATES = new Set(["LISTEN", "UNCONN"]);

/**
 * The reason a SO_REUSEPORT group refused a bind, or undefined when the holders do not
 * show one (an ordinary conflict, or nothing known of the options).
 *
 * @example
 * ```ts
 * import { reuseConflict } from "./reuse_conflict.ts";
 * const member = {
 *   pid: 42, program: "echo", state: "UNCONN", local: "0.0.0.0:7000", peer: "*",
 *   uid: 0, reusePort: true,
 * };
 * const reason = reuseConflict({ reusePort: false, uid: 0 }, [member]);
 * console.assert(reason?.startsWith("bound without SO_REUSEPORT"));
 * ```
 */
export function reuseConflict(
  own: FailedSocket,
  holders: readonly PortHolder[] | null,
): string | undefined {
  const bound = (holders ?? []).filter((h) => BOUND_STATES.has(h.state));
  const members = bound.filter((h) => h.reusePort === true);
  const plain = bound.filter((h) => h.reusePort === false);
  const foreign = own.uid === null
    ? []
    : members.filter((h) => h.uid !== undefined && h.uid !== own.uid);
  if (own.reusePort === false && members.length > 0) {
    return `bound without SO_REUSEPORT while ${
      count(members.length, "SO_REUSEPORT group member")
    } (${who(members)}) hold the port: a new member must set SO_REUSEPORT too`;
  }
  if (own.reusePort === true && plain.length > 0) {
    return `${count(plain.length, "socket")} without SO_REUSEPORT (${
      who(plain)
    }) hold the port: a SO_REUSEPORT group cannot form while one does`;
  }
  if (own.reusePort === true && foreign.length > 0) {
    return `${count(foreign.length, "SO_REUSEPORT group member")} of another owner (${
      who(foreign)
    }) hold the port: a group admits sockets of one owner (uid ${own.uid}) only`;
  }
  if (own.reusePort === null && members.length > 0) {
    const uids = [...new Set(members.map((h) => h.uid).filter((u) => u !== undefined))];
    return `${count(members.length, "SO_REUSEPORT group member")} (${
      who(members)
    }) hold the port: ${
      plain.length > 0
        ? `with ${count(plain.length, "socket")} without SO_REUSEPORT (${who(plain)})`
        : `the failed bind either did not set SO_REUSEPORT or is not of the group's owner${
          uids.length > 0 ? ` (uid ${uids.join(", ")})` : ""
        }`
    }`;
  }
  return undefined;
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

function who(holders: readonly PortHolder[]): string {
  const named = holders.map((h) =>
    `${h.pid === null ? "no process" : `pid ${h.pid} "${h.program}"`}${
      h.uid !== undefined ? ` uid ${h.uid}` : ""
    }`
  );
  return [...new Set(named)].join(", ");
}
