/**
 * The XDP droppers an agent holds, one per interface of its host, and the calls the
 * runner makes on them. The programs are loaded (the verifier: 0.2-2 s) as soon as the
 * agent starts, while the runner is still wiring the links, and attached when the
 * runner asks at setup (a few ms): the agent holds each program's bpf_link (it goes
 * with the agent), and the runner opens the maps by id and writes the rules itself, so
 * a fault during the run is map writes that wait on no agent. The calls that write
 * rules here (`.set`, `.window`, `.take`) serve tools and tests; rule windows travel as
 * decimal strings (JSON has no u64).
 *
 * @module
 */

import {
  type DropperMapIds,
  LoadedXdpDropper,
  XdpDropper,
  type XdpDropperOptions,
} from "../kernel/xdp_dropper.ts";
import type { Rule } from "../kernel/xdp_layout.ts";

/** Prefix of every interface squall creates: the only ones a dropper may go on. */
const INTERFACE_PREFIX = "sq-";

/** A rule as the runner sends it: {@linkcode Rule} with its window as decimal strings. */
export type WireRule = Omit<Rule, "activeFromNs" | "activeUntilNs"> & {
  /** Kernel time (ns, decimal) from which it applies; absent: always. */
  activeFromNs?: string;
  /** Kernel time (ns, decimal) until which it applies; absent: until removed. */
  activeUntilNs?: string;
};

/** What a write to a dropper replies: the kernel time right after the write landed. */
export interface WriteReply {
  /** CLOCK_MONOTONIC (ns, decimal) once the map writes had returned. */
  writtenNs: string;
}

/** What `dropper.attach` replies. */
export interface AttachReply extends WriteReply {
  /** How long the attach waited for the load (the verifier), in ms; 0 when it was done. */
  loadWaitMs: number;
  /** How long the attach itself took, in ms. */
  attachMs: number;
  /** The maps' kernel-wide ids: the runner opens them and writes the rules itself. */
  maps: DropperMapIds;
}

/**
 * The droppers of one agent: `dropper.attach`, `.set` (a rule, with its window),
 * `.window` (a rule's window changed: opened to all time, ended), `.take`, `.read` and
 * `.clock`, as {@linkcode Droppers.call} takes them.
 *
 * @example
 * ```ts ignore
 * import { Droppers } from "./droppers.ts";
 * using droppers = new Droppers({ objectPath, libbpfPath, libcPath }, 2); // loads two
 * await droppers.call("dropper.attach", { ifname: "sq-1a2b3c-0b" });
 * ```
 */
export class Droppers implements Disposable {
  #options: XdpDropperOptions | undefined;
  #spare: Promise<LoadedXdpDropper>[] = [];
  #attached = new Map<string, XdpDropper>();
  #attaching = new Map<string, Promise<XdpDropper>>();
  /** How long each attach waited for its load, and took itself. */
  #timing = new Map<string, { loadWaitMs: number; attachMs: number }>();
  #disposed = false;

  /**
   * `options` undefined: this agent may hold no dropper (no --allow-ffi). `preload`:
   * how many programs to load at once, one per interface the host has.
   */
  constructor(options: XdpDropperOptions | undefined, preload = 0) {
    this.#options = options;
    if (options) {
      for (let i = 0; i < preload; i++) {
        const loading = LoadedXdpDropper.load(options);
        loading.catch(() => {}); // reported by the attach that takes it
        this.#spare.push(loading);
      }
    }
  }

  /** Runs one call of the runner's; rejects with what went wrong. */
  async call(method: string, params: Record<string, unknown>): Promise<unknown> {
    const ifname = String(params.ifname);
    switch (method) {
      case "dropper.clock":
        return { ns: String(this.#clockNs()) };
      case "dropper.attach": {
        const started = performance.now();
        const dropper = await this.#get(ifname);
        return {
          writtenNs: String(dropper.nowNs()),
          loadWaitMs: this.#timing.get(ifname)?.loadWaitMs ?? performance.now() - started,
          attachMs: this.#timing.get(ifname)?.attachMs ?? 0,
          maps: dropper.mapIds(),
        } satisfies AttachReply;
      }
      case "dropper.set": {
        const dropper = await this.#get(ifname);
        dropper.setRule(Number(params.slot), fromWire(params.rule as WireRule));
        return { writtenNs: String(dropper.nowNs()) } satisfies WriteReply;
      }
      case "dropper.window": {
        const dropper = await this.#get(ifname);
        const window: { fromNs?: bigint; untilNs?: bigint } = {};
        if (params.fromNs !== undefined) window.fromNs = parseNs(params.fromNs, "fromNs");
        if (params.untilNs !== undefined) window.untilNs = parseNs(params.untilNs, "untilNs");
        dropper.setWindow(Number(params.slot), window);
        return { writtenNs: String(dropper.nowNs()) } satisfies WriteReply;
      }
      case "dropper.take":
        return (await this.#get(ifname)).takeRule(Number(params.slot));
      case "dropper.read": {
        const dropper = this.#attached.get(ifname);
        return dropper ? { slots: dropper.counters(), flows: dropper.flowDrops() } : null;
      }
      default:
        throw new TypeError(`Unknown method "${method}"`);
    }
  }

  /** Detaches every dropper and unloads what was loaded and never attached. */
  [Symbol.dispose](): void {
    this.#disposed = true;
    for (const dropper of this.#attached.values()) dropper[Symbol.dispose]();
    this.#attached.clear();
    for (const spare of this.#spare) spare.then((l) => l[Symbol.dispose](), () => {});
    this.#spare = [];
  }

  /** Kernel time from any attached dropper's libc. */
  #clockNs(): bigint {
    const any = this.#attached.values().next().value;
    if (!any) {
      throw new Deno.errors.NotFound("Cannot read the kernel's clock: no dropper is attached");
    }
    return any.nowNs();
  }

  #get(ifname: string): Promise<XdpDropper> {
    if (!ifname.startsWith(INTERFACE_PREFIX)) {
      throw new Deno.errors.PermissionDenied(
        `Refusing to attach a dropper to "${ifname}": squall only touches its own sq-* interfaces`,
      );
    }
    let dropper = this.#attaching.get(ifname);
    if (!dropper) {
      const options = this.#options;
      if (!options || this.#disposed) {
        throw new Deno.errors.NotCapable(
          `Cannot attach dropper to "${ifname}": this agent was started without --allow-ffi`,
        );
      }
      dropper = (async () => {
        const started = performance.now();
        const loaded = await (this.#spare.shift() ?? LoadedXdpDropper.load(options));
        const loadedAt = performance.now();
        try {
          const attached = await loaded.attach(ifname);
          this.#timing.set(ifname, {
            loadWaitMs: loadedAt - started,
            attachMs: performance.now() - loadedAt,
          });
          if (this.#disposed) attached[Symbol.dispose]();
          return attached;
        } finally {
          loaded[Symbol.dispose](); // nothing once attached
        }
      })();
      this.#attaching.set(ifname, dropper);
      dropper.then((d) => this.#attached.set(ifname, d), () => this.#attaching.delete(ifname));
    }
    return dropper;
  }
}

/** A rule from the wire: its window's decimal strings as bigints. */
export function fromWire(rule: WireRule): Rule {
  const { activeFromNs, activeUntilNs, ...rest } = rule;
  return {
    ...rest,
    ...(activeFromNs === undefined ? {} : { activeFromNs: parseNs(activeFromNs, "activeFromNs") }),
    ...(activeUntilNs === undefined
      ? {}
      : { activeUntilNs: parseNs(activeUntilNs, "activeUntilNs") }),
  };
}

/** A rule for the wire: its window's bigints as decimal strings. */
export function toWire(rule: Rule): WireRule {
  const { activeFromNs, activeUntilNs, ...rest } = rule;
  return {
    ...rest,
    ...(activeFromNs === undefined ? {} : { activeFromNs: String(activeFromNs) }),
    ...(activeUntilNs === undefined ? {} : { activeUntilNs: String(activeUntilNs) }),
  };
}

function parseNs(text: unknown, name: string): bigint {
  if (typeof text !== "string" || !/^\d{1,20}$/.test(text)) {
    throw new TypeError(`Cannot read time: ${name} must be a decimal string, got ${text}`);
  }
  return BigInt(text);
}
