// The bind watch on the real kernel: Python processes in network namespaces of their own
// fail to bind ports (and swallow the errors); the watch must report exactly the
// failures of the watched namespaces, with the right process, port, errno and socket
// type, then the first success that follows, and nothing from a namespace it does not
// watch, doing the same at the same time. Counts are exact, overflow of the ring is
// counted as lost, and a SIGKILLed holder leaves no program loaded and nothing in bpffs.

import assert from "node:assert/strict";
import {
  type BindEvent,
  BindWatch,
  type BindWatchRead,
  namespaceInode,
} from "../harness/kernel/bind_watch.ts";
import { BW_RING_SIZE } from "../harness/kernel/bind_watch_layout.ts";
import { eventually, isAlive } from "./_processes.ts";
import { bpffsEntries, loadedPrograms, programsHeldBy } from "./_truth_bpf.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** `BPF_PROG_TYPE_TRACEPOINT` in `enum bpf_prog_type` of /usr/include/linux/bpf.h. */
const BPF_PROG_TYPE_TRACEPOINT = 5;
const PROGRAM_NAMES = new Set(["bind_enter", "bind_exit"]);
const EADDRINUSE = 98;
const EADDRNOTAVAIL = 99;

/** One step of a {@linkcode Binder}: bind and keep, try to bind (and close), or close. */
type Op =
  | { hold: string; addr: string; port: number; type: "tcp" | "udp" }
  | { bind: string; port: number; type: "tcp" | "udp"; times?: number }
  | { release: string };

// Says who it is, waits for a line on stdin, runs the ops, reports every bind()'s errno
// (0 for success), exits. Errors are swallowed, as a careless server would.
const BINDER = `
import json, os, socket, sys
print(json.dumps({"pid": os.getpid(), "comm": open("/proc/self/comm").read().strip()}), flush=True)
sys.stdin.readline()
held, errnos = {}, []
def bind(addr, port, kind):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET,
                      socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    try:
        s.bind((addr, port))
        errnos.append(0)
    except OSError as e:
        errnos.append(e.errno)
    return s
for op in json.loads(sys.argv[1]):
    if "hold" in op:
        held[op["hold"]] = bind(op["addr"], op["port"], op["type"])
    elif "bind" in op:
        for _ in range(op.get("times", 1)):
            bind(op["bind"], op["port"], op["type"]).close()
    else:
        held.pop(op["release"]).close()
print(json.dumps({"errnos": errnos}), flush=True)
`;

/** A Python process in a network namespace of its own, running ops when told to. */
class Binder {
  readonly #child: Deno.ChildProcess;
  readonly #lines: AsyncGenerator<string>;
  pid = 0;
  comm = "";
  netns = 0;

  private constructor(ops: Op[]) {
    this.#child = new Deno.Command("setpriv", {
      args: ["--pdeathsig", "KILL", "--", "unshare", "--net", "--", "python3", "-c", BINDER]
        .concat(JSON.stringify(ops)),
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = lines(this.#child.stdout);
  }

  /** Starts it and waits until it is in its namespace. */
  static async start(ops: Op[]): Promise<Binder> {
    const binder = new Binder(ops);
    try {
      const hello = JSON.parse(await binder.#line()) as { pid: number; comm: string };
      binder.pid = hello.pid;
      binder.comm = hello.comm;
      binder.netns = namespaceInode(hello.pid);
      return binder;
    } catch (error) {
      await binder.kill();
      throw error;
    }
  }

  /** Runs the ops; resolves to the errno of every bind() once it has exited. */
  async run(): Promise<number[]> {
    const writer = this.#child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("go\n"));
    await writer.close();
    const result = JSON.parse(await this.#line()) as { errnos: number[] };
    const status = await this.#child.status;
    assert.equal(status.code, 0, "the binder exited cleanly");
    for await (const _ of this.#lines) { /* drain */ }
    return result.errnos;
  }

  /** Kills it if it still runs; always safe. */
  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Gone already.
    }
    await this.#child.status;
    try {
      await this.#child.stdin.close();
    } catch {
      // Closed already.
    }
    for await (const _ of this.#lines) { /* drain */ }
  }

  async #line(): Promise<string> {
    const next = await this.#lines.next();
    if (next.done) throw new Error(`binder ${this.pid} ended without a line`);
    return next.value;
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let end: number;
    while ((end = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
    }
  }
  if (buffered) yield buffered;
}

/** A holder on `port`, `failures` failing binds, release, one success, then `more` successes. */
function conflict(port: number, type: "tcp" | "udp", failures: number, more = 0): Op[] {
  const ops: Op[] = [
    { hold: "first", addr: "0.0.0.0", port, type },
    { bind: "0.0.0.0", port, type, times: failures },
    { release: "first" },
    { bind: "0.0.0.0", port, type },
  ];
  if (more > 0) ops.push({ bind: "0.0.0.0", port, type, times: more });
  return ops;
}

/** What one {@linkcode round} saw. */
interface Round {
  binders: Binder[];
  /** Each binder's errnos. */
  errnos: number[][];
  /** The watch's read right after. */
  read: BindWatchRead;
  /** Wall clock just before the binders were told to go, and just after they exited. */
  beforeMs: number;
  afterMs: number;
}

/**
 * Starts a binder per ops list, watches the namespaces of the first `watched` of them,
 * tells all to go at once, and reads the watch once they have exited. Then unwatches
 * them: a namespace's inode is reused by a later namespace once it is gone.
 */
async function round(watch: BindWatch, ops: Op[][], watched: number): Promise<Round> {
  assert.deepEqual(watch.read(), { events: [], lost: 0, untracked: 0 }, "nothing left over");
  const binders: Binder[] = [];
  try {
    for (const list of ops) binders.push(await Binder.start(list));
    for (const b of binders.slice(0, watched)) watch.watchNamespace(b.netns);
    const beforeMs = Date.now();
    const errnos = await Promise.all(binders.map((b) => b.run()));
    const afterMs = Date.now();
    return { binders, errnos, read: watch.read(), beforeMs, afterMs };
  } finally {
    for (const b of binders) watch.unwatchNamespace(b.netns);
    await Promise.all(binders.map((b) => b.kill()));
  }
}

function count(values: number[], value: number): number {
  return values.filter((v) => v === value).length;
}

/** Ids of the loaded bind watch programs (tracepoint programs with our names). */
function bindWatchPrograms(): Set<number> {
  return new Set(
    loadedPrograms().filter((p) => p.type === BPF_PROG_TYPE_TRACEPOINT && PROGRAM_NAMES.has(p.name))
      .map((p) => p.id),
  );
}

Deno.test("the bind watch reports the failed binds of watched namespaces and the first success after them", async (t) => {
  const ownPrograms = new Set(programsHeldBy(Deno.pid));
  const watch = await BindWatch.open();
  const mine = [...programsHeldBy(Deno.pid)].filter((id) => !ownPrograms.has(id));
  try {
    await t.step("open() attaches two tracepoint programs held by this process", () => {
      const described = loadedPrograms().filter((p) => mine.includes(p.id));
      assert.deepEqual(
        described.map((p) => ({ type: p.type, name: p.name })).sort((a, b) =>
          a.name.localeCompare(b.name)
        ),
        [
          { type: BPF_PROG_TYPE_TRACEPOINT, name: "bind_enter" },
          { type: BPF_PROG_TYPE_TRACEPOINT, name: "bind_exit" },
        ],
      );
      assert.deepEqual(watch.read(), { events: [], lost: 0, untracked: 0 });
    });

    await t.step(
      "TCP: three swallowed EADDRINUSE, then one success; nothing from the unwatched twin",
      async () => {
        const ops = conflict(7000, "tcp", 3, 5);
        const { binders: [watched, other], errnos, read, beforeMs, afterMs } = await round(
          watch,
          [ops, ops],
          1,
        );
        assert.notEqual(watched!.netns, other!.netns);
        assert.notEqual(watched!.netns, namespaceInode(Deno.pid));
        for (const e of errnos) assert.deepEqual(e, [0, 98, 98, 98, 0, 0, 0, 0, 0, 0]);
        assert.equal(read.lost, 0);
        assert.equal(read.untracked, 0);
        const common = {
          pid: watched!.pid,
          tid: watched!.pid,
          comm: watched!.comm,
          netns: watched!.netns,
          family: "ipv4",
          address: "0.0.0.0",
          port: 7000,
          socketType: "tcp",
        };
        const failure = { ...common, kind: "failure", errno: EADDRINUSE, error: "EADDRINUSE" };
        const success = { ...common, kind: "success", errno: 0, error: "" };
        assert.deepEqual(read.events.map(withoutTime), [failure, failure, failure, success]);
        assertTimes(read.events, beforeMs, afterMs);
        assert.deepEqual(watch.read().events, [], "a read returns each event once");
      },
    );

    await t.step(
      "UDP over IPv6 and IPv4, a specific address, and an address not there",
      async () => {
        const { binders: [binder], errnos: [errnos], read } = await round(watch, [[
          { hold: "v6", addr: "::", port: 7001, type: "udp" },
          { bind: "::", port: 7001, type: "udp" },
          { bind: "0.0.0.0", port: 7001, type: "udp" }, // "::" holds IPv4 too (dual stack)
          { bind: "2001:db8::1", port: 7002, type: "udp" },
          { hold: "lo", addr: "127.0.0.1", port: 7003, type: "tcp" },
          { bind: "127.0.0.1", port: 7003, type: "tcp" },
          { release: "v6" },
          { bind: "0.0.0.0", port: 7001, type: "tcp" }, // TCP on 7001 is not what failed
          { bind: "0.0.0.0", port: 7001, type: "udp" },
        ]], 1);
        assert.deepEqual(errnos, [0, 98, 98, EADDRNOTAVAIL, 0, EADDRINUSE, 0, 0]);
        assert.equal(read.lost, 0);
        const brief = read.events.map((
          e,
        ) => [e.kind, e.family, e.address, e.port, e.error, e.socketType]);
        assert.deepEqual(brief, [
          ["failure", "ipv6", "::", 7001, "EADDRINUSE", "udp"],
          ["failure", "ipv4", "0.0.0.0", 7001, "EADDRINUSE", "udp"],
          ["failure", "ipv6", "2001:db8::1", 7002, "EADDRNOTAVAIL", "udp"],
          ["failure", "ipv4", "127.0.0.1", 7003, "EADDRINUSE", "tcp"],
          ["success", "ipv4", "0.0.0.0", 7001, "", "udp"],
        ]);
        assert.ok(read.events.every((e) => e.pid === binder!.pid && e.netns === binder!.netns));
      },
    );

    await t.step(
      "100 failing binds are 100 failure events, exactly, beside an unwatched twin",
      async () => {
        const ops = conflict(7100, "udp", 100, 100);
        const { binders: [watched], errnos, read } = await round(watch, [ops, ops], 1);
        for (const e of errnos) assert.equal(count(e, EADDRINUSE), 100);
        assert.equal(read.lost, 0);
        assert.equal(read.events.length, 101);
        const failures = read.events.filter((e) => e.kind === "failure" && e.errno === EADDRINUSE);
        assert.equal(failures.length, 100);
        assert.equal(read.events.at(-1)!.kind, "success");
        assert.ok(read.events.every((e) => e.pid === watched!.pid && e.port === 7100));
      },
    );

    await t.step(
      "more events than the ring holds between two reads are counted as lost",
      async () => {
        const failures = BW_RING_SIZE + 904;
        const { errnos: [errnos], read } = await round(watch, [conflict(7200, "tcp", failures)], 1);
        assert.equal(count(errnos!, EADDRINUSE), failures);
        // failures + 1 success were claimed; the ring keeps the newest BW_RING_SIZE.
        assert.equal(read.events.length, BW_RING_SIZE);
        assert.equal(read.lost, failures + 1 - BW_RING_SIZE);
        assert.equal(read.events.at(-1)!.kind, "success");
        const rest = read.events.slice(0, -1);
        assert.ok(rest.every((e) => e.kind === "failure" && e.port === 7200));
        assert.deepEqual(watch.read(), { events: [], lost: 0, untracked: 0 });
      },
    );

    await t.step("unwatchNamespace() stops the reports", async () => {
      const binder = await Binder.start(conflict(7300, "tcp", 2));
      try {
        watch.watchNamespace(binder.netns);
        watch.unwatchNamespace(binder.netns);
        await binder.run();
        assert.deepEqual(watch.read().events, []);
      } finally {
        await binder.kill();
      }
    });

    await t.step("watchNamespace() rejects what is not an inode", () => {
      assert.throws(() => watch.watchNamespace(0), RangeError);
      assert.throws(() => watch.watchNamespace(2 ** 32), RangeError);
      assert.throws(() => watch.watchNamespace(1.5), RangeError);
    });
  } finally {
    watch[Symbol.dispose]();
  }

  await t.step("dispose detaches: the programs are unloaded", async () => {
    assert.ok(
      await eventually(() => {
        const loaded = bindWatchPrograms();
        return mine.every((id) => !loaded.has(id));
      }, 5000),
      `programs ${mine} are gone`,
    );
    assert.throws(() => watch.read(), /disposed/);
    watch[Symbol.dispose](); // twice is fine
  });
});

Deno.test("SIGKILL of a process holding a bind watch leaves no bind watch program and nothing in /sys/fs/bpf", async () => {
  const before = bindWatchPrograms();
  const bpffsBefore = bpffsEntries();
  const holder = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tests/fixtures/_bind_watch_holder.ts"],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stderr = new Response(holder.stderr).text();
  const output = lines(holder.stdout);
  let killed = false;
  try {
    const ready = await output.next();
    if (ready.value !== "ready") assert.fail(`The holder never got ready:\n${await stderr}`);
    const held = [...programsHeldBy(holder.pid)].filter((id) => !before.has(id));
    const ours = [...bindWatchPrograms()].filter((id) => held.includes(id));
    assert.equal(ours.length, 2, `the holder holds bind_enter and bind_exit: ${held}`);

    holder.kill("SIGKILL");
    killed = true;
    assert.equal((await holder.status).signal, "SIGKILL");
    assert.ok(await eventually(() => !isAlive(holder.pid), 5000), "the holder is gone");
    assert.ok(
      await eventually(() => ours.every((id) => !bindWatchPrograms().has(id)), 5000),
      `programs ${ours} are unloaded`,
    );
    assert.deepEqual([...difference(bpffsEntries(), bpffsBefore)], [], "nothing new in bpffs");
  } finally {
    if (!killed) {
      holder.kill("SIGKILL");
      await holder.status;
    }
    for await (const _ of output) { /* drain */ }
    await stderr;
    try {
      await holder.stdin.close();
    } catch {
      // The pipe broke with the process.
    }
  }
});

/** An event without its time and cgroups, after checking its cgroup is this process's. */
function withoutTime(
  event: BindEvent,
): Omit<BindEvent, "atMs" | "cgroupId" | "cgroupAncestors"> {
  const { atMs: _, cgroupId, cgroupAncestors, ...rest } = event;
  // The binders run in this process's cgroup (v2): its id is its directory's inode.
  const own = ownCgroup();
  assert.equal(cgroupId, own.id, "the caller's cgroup id, read in the kernel");
  assert.equal(cgroupAncestors[own.level - 1] ?? own.id, own.id, "its own level's ancestor");
  return rest;
}

/** This process's cgroup v2: its id (inode) and level (0 for the root). */
function ownCgroup(): { id: number; level: number } {
  const path = /^0::(.*)$/m.exec(Deno.readTextFileSync("/proc/self/cgroup"))![1]!;
  const mount = /^\S+ \S+ \S+ \S+ (\S+) .* - cgroup2 /m.exec(
    Deno.readTextFileSync("/proc/self/mountinfo"),
  )![1]!;
  const level = path.split("/").filter(Boolean).length;
  return { id: Deno.statSync(`${mount}${path === "/" ? "" : path}`).ino!, level };
}

/** Events come in time order, within the wall-clock window the binds ran in. */
function assertTimes(events: BindEvent[], beforeMs: number, afterMs: number): void {
  for (const [i, e] of events.entries()) {
    assert.ok(
      e.atMs >= beforeMs - 1 && e.atMs <= afterMs + 1,
      `event ${i} at ${e.atMs}, binds ran from ${beforeMs} to ${afterMs}`,
    );
    if (i > 0) assert.ok(e.atMs >= events[i - 1]!.atMs, `event ${i} is in order`);
  }
}

function difference<T>(a: Set<T>, b: Set<T>): Set<T> {
  return new Set([...a].filter((x) => !b.has(x)));
}
