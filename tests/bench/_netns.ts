// Namespaces built by the benchmark itself, the way squall builds them: each one is
// held by a process started as `setpriv --pdeathsig KILL -- unshare --net -- <cmd>`,
// veths are created directly inside the namespaces with `ip link add A netns PID1 type
// veth peer name B netns PID2`, and addresses come from 198.18.0.0/15. Every process
// started here is ended by its pid; the namespaces die with their holders.

import { eventually, isAlive, netnsOf, processesIn, runOk } from "./_util.ts";

/** One namespace and the process that holds it. */
export interface Holder {
  pid: number;
  child: Deno.ChildProcess;
  netns: string;
}

/** One end of a link. */
export interface LinkEnd {
  holder: number;
  name: string;
  address: string;
  mac: string;
}

/** A link between two holders, by index. */
export interface NativeLink {
  ends: [LinkEnd, LinkEnd];
}

/** What {@linkcode NamespaceSet.close} found afterwards. */
export interface CleanupReport {
  /** Pids started here that are still alive. */
  alivePids: number[];
  /** Processes still inside one of the namespaces made here. */
  left: number[];
}

// Links of the benchmark use 198.19.0.0/16 (the upper half of the test range), so
// they never look like squall's own 198.18.x addresses in logs.
const BASE = (198 << 24) + (19 << 16);

function ip(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** A set of namespaces, their links, and the processes started in them. */
export class NamespaceSet {
  readonly holders: Holder[] = [];
  readonly links: NativeLink[] = [];
  readonly #others: Deno.ChildProcess[] = [];
  readonly #namespaces = new Set<string>();
  readonly #ownNetns = netnsOf(Deno.pid);

  /**
   * Starts `count` holders running `command` in new namespaces, and resolves once every
   * one is in its own namespace (and, with `readyLine`, has written its first line).
   */
  async addHolders(
    count: number,
    command: string[] = ["sleep", "600"],
    readyLine = false,
  ): Promise<Holder[]> {
    const added: Holder[] = [];
    for (let i = 0; i < count; i++) {
      const child = new Deno.Command("setpriv", {
        args: ["--pdeathsig", "KILL", "--", "unshare", "--net", "--", ...command],
        stdin: readyLine ? "piped" : "null",
        stdout: readyLine ? "piped" : "null",
        stderr: "null",
      }).spawn();
      const holder: Holder = { pid: child.pid, child, netns: "" };
      this.holders.push(holder);
      added.push(holder);
    }
    await Promise.all(added.map(async (holder) => {
      if (readyLine) await firstLine(holder.child);
      const inNewNs = () => {
        const ns = netnsOf(holder.pid);
        return ns !== undefined && ns !== this.#ownNetns;
      };
      if (!(await eventually(inNewNs, 5000))) {
        throw new Error(`holder pid ${holder.pid} did not get its own network namespace`);
      }
      holder.netns = netnsOf(holder.pid)!;
      this.#namespaces.add(holder.netns);
    }));
    return added;
  }

  /**
   * Creates veth pairs between holders (by index) with one `ip -batch`, then gives
   * every namespace its addresses, static neighbours and up links, all namespaces at
   * once: the same work squall's `wireLinks` does.
   */
  async wire(pairs: readonly (readonly [number, number])[]): Promise<void> {
    const start = this.links.length;
    pairs.forEach(([a, b], i) => {
      const index = start + i;
      const base = BASE + index * 4;
      const end = (holder: number, e: number): LinkEnd => ({
        holder,
        name: `bn${index}${e === 1 ? "a" : "b"}`,
        address: ip(base + e),
        mac: `02:bb:${hex(index >> 8)}:${hex(index & 255)}:00:${hex(e)}`,
      });
      this.links.push({ ends: [end(a, 1), end(b, 2)] });
    });
    const added = this.links.slice(start);
    const lines = added.map(({ ends: [a, b] }) =>
      `link add ${a.name} netns ${this.holders[a.holder]!.pid} address ${a.mac} type veth ` +
      `peer name ${b.name} netns ${this.holders[b.holder]!.pid} address ${b.mac}`
    );
    await runOk("ip", ["-batch", "-"], lines.join("\n") + "\n");
    const perHolder = new Map<number, string[]>();
    for (const { ends } of added) {
      for (const [self, peer] of [[ends[0], ends[1]], [ends[1], ends[0]]] as const) {
        const list = perHolder.get(self.holder) ?? ["link set lo up"];
        list.push(`addr add ${self.address}/30 dev ${self.name}`);
        list.push(`link set ${self.name} up`);
        list.push(
          `neigh replace ${peer.address} lladdr ${peer.mac} dev ${self.name} nud permanent`,
        );
        perHolder.set(self.holder, list);
      }
    }
    await Promise.all(
      [...perHolder].map(([holder, list]) =>
        runOk(
          "nsenter",
          ["-t", String(this.holders[holder]!.pid), "-n", "ip", "-batch", "-"],
          list.join("\n") + "\n",
        )
      ),
    );
  }

  /** Starts a command inside the namespace of holder `index` (it dies with this process). */
  spawnIn(index: number, command: string[]): Deno.ChildProcess {
    const child = new Deno.Command("setpriv", {
      args: [
        "--pdeathsig",
        "KILL",
        "--",
        "nsenter",
        "-t",
        String(this.holders[index]!.pid),
        "-n",
        ...command,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#others.push(child);
    return child;
  }

  /** Runs a command inside the namespace of holder `index` and returns its output. */
  async runIn(index: number, command: string[]): Promise<Deno.CommandOutput> {
    return await new Deno.Command("nsenter", {
      args: ["-t", String(this.holders[index]!.pid), "-n", ...command],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  }

  /** Kills one process started by {@linkcode spawnIn} by its pid and reaps it. */
  async stop(child: Deno.ChildProcess): Promise<void> {
    await killAndReap(child);
  }

  /**
   * Kills every process started here by pid (servers first, then holders), reaps them,
   * and reports anything still alive or still inside one of the namespaces.
   */
  async close(): Promise<CleanupReport> {
    const all = [...this.#others, ...this.holders.map((h) => h.child)];
    for (const child of this.#others) await killAndReap(child);
    await Promise.all(this.holders.map((h) => killAndReap(h.child)));
    const alivePids = all.map((c) => c.pid).filter(isAlive);
    const left = processesIn(this.#namespaces);
    return { alivePids, left };
  }
}

async function killAndReap(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already exited.
  }
  await child.status;
  await Promise.allSettled([cancel(child, "stdout"), cancel(child, "stderr")]);
  try {
    await child.stdin?.close();
  } catch {
    // Not piped, or already closed.
  }
}

async function cancel(child: Deno.ChildProcess, stream: "stdout" | "stderr"): Promise<void> {
  try {
    await child[stream].cancel();
  } catch {
    // Not piped, already read, or locked by a reader that finished.
  }
}

/** Reads the first line a child writes to stdout, then lets go of the stream. */
async function firstLine(child: Deno.ChildProcess): Promise<string> {
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`pid ${child.pid} exited before writing a line`);
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  return text.slice(0, text.indexOf("\n"));
}
