// The duplicators an agent holds, one per interface of its host (on its egress), for
// the runner's calls `dup.set` `{ ifname, config }` and `dup.take` `{ ifname }` (detach
// and answer the counts). See kernel/tc_duplicator.ts.

import { type DupConfig, type DupTally, TcDuplicator } from "../kernel/tc_duplicator.ts";

/** Where the agent loads BPF from. */
export interface DuplicatorFiles {
  libbpfPath: string;
  libcPath: string;
}

/** The duplicators of one agent. */
export class Duplicators {
  #files: DuplicatorFiles | undefined;
  #attached = new Map<string, Promise<TcDuplicator>>();

  constructor(files: DuplicatorFiles | undefined) {
    this.#files = files;
  }

  /** Handles one runner call. */
  async call(method: string, params: Record<string, unknown>): Promise<unknown> {
    const ifname = String(params.ifname);
    if (!ifname.startsWith("sq-")) {
      throw new Deno.errors.PermissionDenied(
        `Refusing to attach a duplicator to "${ifname}": squall only touches its own sq-* interfaces`,
      );
    }
    switch (method) {
      case "dup.set": {
        let attaching = this.#attached.get(ifname);
        if (!attaching) {
          if (!this.#files) {
            throw new Deno.errors.NotCapable(
              `Cannot attach a duplicator to "${ifname}": this agent was started without --allow-ffi`,
            );
          }
          attaching = TcDuplicator.attach(ifname, this.#files);
          this.#attached.set(ifname, attaching);
          attaching.catch(() => this.#attached.delete(ifname));
        }
        (await attaching).set(params.config as DupConfig);
        return null;
      }
      case "dup.take": {
        const attaching = this.#attached.get(ifname);
        if (!attaching) return { matched: 0, duplicated: 0 } satisfies DupTally;
        this.#attached.delete(ifname);
        const dup = await attaching;
        const tally = dup.counters();
        dup[Symbol.dispose]();
        return tally;
      }
      default:
        throw new TypeError(`Unknown method "${method}"`);
    }
  }

  /** Detaches every duplicator. */
  async close(): Promise<void> {
    for (const attaching of this.#attached.values()) {
      try {
        (await attaching)[Symbol.dispose]();
      } catch {
        // It never attached.
      }
    }
    this.#attached.clear();
  }
}
