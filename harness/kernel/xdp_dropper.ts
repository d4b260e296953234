/**
 * The XDP dropper from user space: loads bpf/xdp_drop.o through libbpf (FFI), attaches
 * it to one interface with a bpf_link (the program detaches itself when this process
 * dies: no pins, nothing named), and reads and writes its maps while traffic flows.
 * Must run inside the namespace of the interface, with --allow-ffi for libbpf and libc.
 *
 * @module
 */

import {
  cString,
  errnoText,
  findProgram,
  lastError,
  type Libraries,
  loadObject,
  mapFd,
  openLibraries,
} from "./libbpf.ts";
import {
  type Counter,
  decodeCounters,
  decodeDropTimes,
  decodeEntryFlows,
  type DropTimes,
  encodeRule,
  type Rule,
  SQ_CHAIN,
  SQ_CONFIG,
  SQ_COUNTER_ENTRIES,
  SQ_COUNTERS,
  SQ_FLOW_KEY,
  SQ_FLOW_VALUE,
  SQ_MAX_RULES,
  SQ_RULE,
  SQ_TIME_FOREVER,
  SQ_VERDICT_DROP,
  SQ_VERDICT_PASS,
  SQ_VERDICTS,
} from "./xdp_layout.ts";

const CLOCK_MONOTONIC = 1;

/** Path of the committed dropper object. */
export const XDP_DROP_OBJECT = new URL("../../bpf/xdp_drop.o", import.meta.url).pathname;

/** What one rule slot counted. */
export interface RuleTally {
  /** Packets the rule matched and let through. */
  passed: Counter;
  /** Packets the rule dropped. */
  dropped: Counter;
  /** Of those, probe packets by flow id. */
  flows: { flowId: number; packets: number }[];
  /**
   * Kernel time (CLOCK_MONOTONIC, ns) of its first drop, over every CPU; null when it
   * dropped nothing. A number, so the tally goes through JSON: exact to the ns for 104
   * days of uptime, to a few ns after.
   */
  firstDropNs: number | null;
  /** Kernel time of its last drop, as `firstDropNs`. */
  lastDropNs: number | null;
  /** A rule with a window: the last packet it matched before the window opened; null: none. */
  beforeNs: number | null;
  /** A rule with a window: the first packet it matched after the window closed; null: none. */
  afterNs: number | null;
}

/** Options of {@linkcode XdpDropper.attach}. */
export interface XdpDropperOptions {
  /**
   * The compiled object.
   * @default {XDP_DROP_OBJECT}
   */
  objectPath?: string;
  /** libbpf.so.1; found in the usual places when not given. */
  libbpfPath?: string;
  /** libc.so.6; found in the usual places when not given. */
  libcPath?: string;
}

/** The map fds of a loaded dropper. */
interface DropperFds {
  rules: number;
  chain: number;
  counters: number;
  flowDrops: number;
  config: number;
}

/**
 * The dropper program loaded into the kernel (verified: the part that takes 0.3-2 s) but
 * attached to nothing yet: load it while the interface is still being made, then attach
 * it in a few ms. Dispose of it if it is never attached.
 *
 * @example
 * ```ts ignore
 * import { LoadedXdpDropper } from "./xdp_dropper.ts";
 * using loaded = await LoadedXdpDropper.load(); // as root, with --allow-ffi
 * using dropper = await loaded.attach("sq-1a2b3c-0a"); // once the interface exists
 * ```
 */
export class LoadedXdpDropper implements Disposable {
  #libs: Libraries | undefined;
  #object: Deno.PointerValue;
  #path: string;

  private constructor(libs: Libraries, object: Deno.PointerValue, path: string) {
    this.#libs = libs;
    this.#object = object;
    this.#path = path;
  }

  /** Opens the object and loads its program and maps into the kernel (the verifier). */
  static async load(options: XdpDropperOptions = {}): Promise<LoadedXdpDropper> {
    const libs = openLibraries(options.libbpfPath, options.libcPath);
    const path = options.objectPath ?? XDP_DROP_OBJECT;
    const what = "Cannot load dropper";
    let object: Deno.PointerValue = null;
    try {
      object = await loadObject(libs, path, what);
      return new LoadedXdpDropper(libs, object, path);
    } catch (error) {
      if (object !== null) libs.bpf.bpf_object__close(object);
      libs.close();
      throw error;
    }
  }

  /**
   * Attaches the program to `ifname` (in this process's namespace) with a bpf_link; the
   * dropper then owns everything, and this object is spent.
   *
   * @throws {Deno.errors.NotFound} when there is no such interface (it stays loaded).
   * @throws {Error} when it was attached or disposed of already, or the kernel refuses.
   */
  async attach(ifname: string): Promise<XdpDropper> {
    const libs = this.#libs;
    const what = `Cannot attach dropper to "${ifname}"`;
    if (!libs) throw new Error(`${what}: this loaded program was used or disposed of`);
    const ifindex = libs.libc.if_nametoindex(cString(ifname));
    if (ifindex === 0) throw new Deno.errors.NotFound(`${what}: interface does not exist`);
    const object = this.#object;
    const program = findProgram(libs, object, "xdp_drop", what, this.#path);
    const fd = (name: string) => mapFd(libs, object, name, what, this.#path);
    const fds = {
      rules: fd("rules"),
      chain: fd("chain"),
      counters: fd("counters"),
      flowDrops: fd("flow_drops"),
      config: fd("config"),
    };
    const link = await libs.bpf.bpf_program__attach_xdp(program, ifindex);
    if (link === null) throw new Error(`${what}: ${lastError(libs).text}`);
    this.#libs = undefined; // the dropper's now
    return XdpDropper.fromLoaded(ifname, libs, object, link, fds);
  }

  /** Unloads the program if it was never attached. Safe to call twice. */
  [Symbol.dispose](): void {
    const libs = this.#libs;
    if (!libs) return;
    this.#libs = undefined;
    libs.bpf.bpf_object__close(this.#object);
    libs.close();
  }
}

/** Kernel-wide ids of a dropper's maps, which any root process can open by id. */
export interface DropperMapIds {
  rules: number;
  chain: number;
  counters: number;
  flowDrops: number;
  config: number;
}

/** `struct bpf_map_info` (linux/bpf.h): `id` at 4; a buffer this long, zeroed, is taken. */
const MAP_INFO = { id: 4, size: 128 } as const;

/**
 * A dropper's maps, and the rules and counters in them. An {@linkcode XdpDropper} is one
 * (it loaded them); {@linkcode DropperMaps.open} opens those of a dropper another process
 * holds, by id (root), so the runner can switch both ends of a link itself, at once,
 * whatever the agents holding them are doing.
 */
export class DropperMaps implements Disposable {
  /** The interface the dropper is attached to. */
  readonly ifname: string;
  /** The opened libraries. */
  protected readonly libs: Libraries;
  #fds: DropperFds;
  #ownsFds: boolean;
  #active = new Set<number>();
  /** The encoded rule of each slot in use, for {@linkcode DropperMaps.setWindow}. */
  #rules = new Map<number, Uint8Array<ArrayBuffer>>();
  #cpus: number;
  #timespec = new BigInt64Array(2);
  #timespecBytes = new Uint8Array(this.#timespec.buffer);
  #disposed = false;

  /** `ownsFds`: whether the fds are this object's to close (opened by id). */
  protected constructor(ifname: string, libs: Libraries, fds: DropperFds, ownsFds: boolean) {
    this.ifname = ifname;
    this.libs = libs;
    this.#fds = fds;
    this.#ownsFds = ownsFds;
    this.#cpus = libs.bpf.libbpf_num_possible_cpus();
  }

  /**
   * Opens the maps of a dropper another process attached to `ifname`, by their ids
   * ({@linkcode DropperMaps.mapIds} there). Needs root (CAP_SYS_ADMIN) and --allow-ffi.
   * Rules are written here from then on; the other process only holds the program.
   *
   * @throws {Error} when a map cannot be opened (gone, or not root).
   */
  static open(
    ifname: string,
    ids: DropperMapIds,
    options: Pick<XdpDropperOptions, "libbpfPath" | "libcPath"> = {},
  ): DropperMaps {
    const libs = openLibraries(options.libbpfPath, options.libcPath);
    const opened: number[] = [];
    try {
      const open = (name: keyof DropperMapIds) => {
        const fd = libs.bpf.bpf_map_get_fd_by_id(ids[name]);
        if (fd < 0) {
          throw new Error(
            `Cannot open the dropper map "${name}" (id ${ids[name]}) of "${ifname}": ${
              errnoText(libs, fd)
            }`,
          );
        }
        opened.push(fd);
        return fd;
      };
      const fds = {
        rules: open("rules"),
        chain: open("chain"),
        counters: open("counters"),
        flowDrops: open("flowDrops"),
        config: open("config"),
      };
      return new DropperMaps(ifname, libs, fds, true);
    } catch (error) {
      for (const fd of opened) libs.libc.close(fd);
      libs.close();
      throw error;
    }
  }

  /** The kernel-wide ids of the maps, for {@linkcode DropperMaps.open} elsewhere. */
  mapIds(): DropperMapIds {
    const id = (fd: number) => {
      const info = new Uint8Array(MAP_INFO.size);
      const length = new Uint32Array([MAP_INFO.size]);
      const result = this.libs.bpf.bpf_obj_get_info_by_fd(fd, info, new Uint8Array(length.buffer));
      if (result < 0) {
        throw new Error(`Cannot read a dropper map's id: ${errnoText(this.libs, result)}`);
      }
      return new DataView(info.buffer).getUint32(MAP_INFO.id, true);
    };
    const fds = this.#fds;
    return {
      rules: id(fds.rules),
      chain: id(fds.chain),
      counters: id(fds.counters),
      flowDrops: id(fds.flowDrops),
      config: id(fds.config),
    };
  }

  /**
   * Sets rule slot `index` (0-15); takes effect for the next packet, or within its time
   * window (`activeFromNs`, `activeUntilNs`: kernel time) when it has one. A
   * Gilbert-Elliott rule starts in the good state. The rule is written twice, first
   * with a window that never holds: a packet racing the write never sees the new mode
   * with an old window (a map update is a copy, not atomic).
   */
  setRule(index: number, rule: Rule): void {
    this.#checkIndex(index);
    const encoded = encodeRule(rule);
    const closed = encoded.slice();
    new DataView(closed.buffer).setBigUint64(SQ_RULE.fields.active_until_ns, 0n, true);
    this.#update(this.#fds.chain, index, new Uint8Array(SQ_CHAIN.size));
    this.#update(this.#fds.rules, index, closed);
    this.#active.add(index);
    this.#writeConfig();
    this.#update(this.#fds.rules, index, encoded);
    this.#rules.set(index, encoded);
  }

  /**
   * Changes the time window of rule slot `index` (kernel time, CLOCK_MONOTONIC, ns),
   * keeping the rest of the rule: `fromNs` 0 and `untilNs` all ones
   * ({@linkcode SQ_TIME_FOREVER}) make it a rule for all time, which reads no clock. The
   * caller keeps each change safe for a packet that sees half of it (a map update is a
   * copy, not atomic; each 8-byte field is written whole): change one field at a time, or
   * both only when every mix of old and new gives the same verdict now (opening to all
   * time a window that holds now and until later).
   *
   * @throws {RangeError} when the slot is not set, or a time is not a u64.
   */
  setWindow(index: number, window: { fromNs?: bigint; untilNs?: bigint }): void {
    this.#checkIndex(index);
    const encoded = this.#rules.get(index);
    if (!encoded) {
      throw new RangeError(
        `Cannot change the window of rule ${index} on "${this.ifname}": not set`,
      );
    }
    const view = new DataView(encoded.buffer);
    for (
      const [field, value] of [["active_from_ns", window.fromNs], [
        "active_until_ns",
        window.untilNs,
      ]] as const
    ) {
      if (value === undefined) continue;
      if (typeof value !== "bigint" || value < 0n || value > SQ_TIME_FOREVER) {
        throw new RangeError(`Cannot change the window of rule ${index}: ${field} must be a u64`);
      }
      view.setBigUint64(SQ_RULE.fields[field], value, true);
    }
    this.#update(this.#fds.rules, index, encoded);
  }

  /** Turns rule slot `index` off. */
  clearRule(index: number): void {
    this.#checkIndex(index);
    this.#update(this.#fds.rules, index, new Uint8Array(SQ_RULE.size));
    this.#active.delete(index);
    this.#rules.delete(index);
    this.#writeConfig();
  }

  /** Tells the program how far to walk the rules: up to the highest slot in use. */
  #writeConfig(): void {
    const value = new Uint8Array(SQ_CONFIG.size);
    const slots = this.#active.size === 0 ? 0 : Math.max(...this.#active) + 1;
    new DataView(value.buffer).setUint32(SQ_CONFIG.fields.rule_slots, slots, true);
    this.#update(this.#fds.config, 0, value);
  }

  /**
   * Turns rule slot `index` off and takes what it counted: its pass and drop counters
   * and its drops per probe flow, which are then reset, so the slot can serve again.
   */
  takeRule(index: number): RuleTally {
    this.clearRule(index);
    const all = this.counters();
    const entry = new Uint8Array(SQ_COUNTERS.size * this.#cpus);
    this.#lookup(this.#fds.counters, u32(index), entry);
    const times = decodeDropTimes(entry);
    const tally: RuleTally = {
      passed: all[index * SQ_VERDICTS + SQ_VERDICT_PASS]!,
      dropped: all[index * SQ_VERDICTS + SQ_VERDICT_DROP]!,
      flows: this.flowDrops().filter((f) => f.rule === index).map(({ flowId, packets }) => ({
        flowId,
        packets,
      })),
      firstDropNs: times.firstNs === null ? null : Number(times.firstNs),
      lastDropNs: times.lastNs === null ? null : Number(times.lastNs),
      beforeNs: times.beforeNs === null ? null : Number(times.beforeNs),
      afterNs: times.afterNs === null ? null : Number(times.afterNs),
    };
    // The rule's entry: both counters, and its random state (reseeded at the next draw).
    this.#update(this.#fds.counters, index, new Uint8Array(SQ_COUNTERS.size * this.#cpus));
    for (const flow of tally.flows) {
      const key = new Uint8Array(SQ_FLOW_KEY.size);
      const view = new DataView(key.buffer);
      view.setUint32(SQ_FLOW_KEY.fields.flow_id, flow.flowId, true);
      view.setUint32(SQ_FLOW_KEY.fields.rule, index, true);
      this.libs.bpf.bpf_map_delete_elem(this.#fds.flowDrops, key);
    }
    return tally;
  }

  /**
   * The kernel's clock now (CLOCK_MONOTONIC, what `bpf_ktime_get_ns()` reads), in ns:
   * the clock rule windows are in. Through the libc this dropper opened.
   */
  nowNs(): bigint {
    if (this.libs.libc.clock_gettime(CLOCK_MONOTONIC, this.#timespecBytes) !== 0) {
      throw new Error(`Cannot read CLOCK_MONOTONIC on "${this.ifname}": clock_gettime failed`);
    }
    return this.#timespec[0]! * 1_000_000_000n + this.#timespec[1]!;
  }

  /** When rule slot `index` dropped its first and last packet so far (kernel time). */
  dropTimes(index: number): DropTimes {
    this.#checkIndex(index);
    const entry = new Uint8Array(SQ_COUNTERS.size * this.#cpus);
    this.#lookup(this.#fds.counters, u32(index), entry);
    return decodeDropTimes(entry);
  }

  /** Every counter slot, summed over CPUs: `rule * 2 + verdict`, then no-match, not-IPv4. */
  counters(): Counter[] {
    const value = new Uint8Array(SQ_COUNTERS.size * this.#cpus);
    const slots: Counter[] = [];
    for (let entry = 0; entry < SQ_COUNTER_ENTRIES; entry++) {
      this.#lookup(this.#fds.counters, u32(entry), value);
      slots.push(...decodeCounters(value));
    }
    return slots;
  }

  /**
   * Probe packets dropped, by flow id and rule, summed over CPUs: the flows each rule
   * counts in its `counters` entry, plus those in the `flow_drops` map.
   */
  flowDrops(): { flowId: number; rule: number; packets: number }[] {
    const found: { flowId: number; rule: number; packets: number }[] = [];
    const entry = new Uint8Array(SQ_COUNTERS.size * this.#cpus);
    for (let rule = 0; rule < SQ_MAX_RULES; rule++) {
      this.#lookup(this.#fds.counters, u32(rule), entry);
      for (const { flowId, packets } of decodeEntryFlows(entry)) {
        found.push({ flowId, rule, packets });
      }
    }
    /** Adds the drops of a flow found in the hash to those found in its rule's entry. */
    const add = (flowId: number, rule: number, packets: number) => {
      const known = found.find((f) => f.flowId === flowId && f.rule === rule);
      if (known) known.packets += packets;
      else found.push({ flowId, rule, packets });
    };
    const key = new Uint8Array(SQ_FLOW_KEY.size);
    const next = new Uint8Array(SQ_FLOW_KEY.size);
    const value = new Uint8Array(SQ_FLOW_VALUE.size * this.#cpus);
    const keyView = new DataView(next.buffer);
    const valueView = new DataView(value.buffer);
    let first = true;
    while (
      this.libs.bpf.bpf_map_get_next_key(this.#fds.flowDrops, first ? null : key, next) === 0
    ) {
      first = false;
      if (this.libs.bpf.bpf_map_lookup_elem(this.#fds.flowDrops, next, value) === 0) {
        let packets = 0;
        for (let cpu = 0; cpu < this.#cpus; cpu++) {
          packets += Number(
            valueView.getBigUint64(cpu * SQ_FLOW_VALUE.size + SQ_FLOW_VALUE.fields.packets, true),
          );
        }
        add(
          keyView.getUint32(SQ_FLOW_KEY.fields.flow_id, true),
          keyView.getUint32(SQ_FLOW_KEY.fields.rule, true),
          packets,
        );
      }
      key.set(next);
    }
    return found;
  }

  /** Frees everything (an {@linkcode XdpDropper} also detaches). Safe to call twice. */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.release();
  }

  /** Closes what this object holds; called once, by disposal. */
  protected release(): void {
    if (this.#ownsFds) { for (const fd of Object.values(this.#fds)) this.libs.libc.close(fd); }
    this.libs.close();
  }

  #checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= SQ_MAX_RULES) {
      throw new RangeError(`Rule index must be 0-${SQ_MAX_RULES - 1}, got ${index}`);
    }
  }

  #update(fd: number, index: number, value: Uint8Array<ArrayBuffer>): void {
    const result = this.libs.bpf.bpf_map_update_elem(fd, u32(index), value, 0n);
    if (result < 0) {
      throw new Error(
        `Cannot update dropper map on "${this.ifname}": ${errnoText(this.libs, result)}`,
      );
    }
  }

  #lookup(fd: number, key: Uint8Array<ArrayBuffer>, value: Uint8Array<ArrayBuffer>): void {
    const result = this.libs.bpf.bpf_map_lookup_elem(fd, key, value);
    if (result < 0) {
      throw new Error(
        `Cannot read dropper map on "${this.ifname}": ${errnoText(this.libs, result)}`,
      );
    }
  }
}

/** The XDP dropper, attached to one interface. Dispose of it to detach. */
export class XdpDropper extends DropperMaps {
  #object: Deno.PointerValue;
  #link: Deno.PointerValue;

  private constructor(
    ifname: string,
    libs: Libraries,
    object: Deno.PointerValue,
    link: Deno.PointerValue,
    fds: DropperFds,
  ) {
    super(ifname, libs, fds, false);
    this.#object = object;
    this.#link = link;
  }

  /**
   * Loads the program and attaches it to `ifname` (in this process's namespace): the
   * same as {@linkcode LoadedXdpDropper.load} then {@linkcode LoadedXdpDropper.attach}.
   */
  static async attach(ifname: string, options: XdpDropperOptions = {}): Promise<XdpDropper> {
    const loaded = await LoadedXdpDropper.load(options);
    try {
      return await loaded.attach(ifname);
    } finally {
      loaded[Symbol.dispose](); // frees it when the attach failed; nothing once attached
    }
  }

  /** @internal Made by {@linkcode LoadedXdpDropper.attach}. */
  static fromLoaded(
    ifname: string,
    libs: Libraries,
    object: Deno.PointerValue,
    link: Deno.PointerValue,
    fds: DropperFds,
  ): XdpDropper {
    return new XdpDropper(ifname, libs, object, link, fds);
  }

  /** Detaches the program, then frees everything (the maps go with the object). */
  protected override release(): void {
    this.libs.bpf.bpf_link__destroy(this.#link);
    this.libs.bpf.bpf_object__close(this.#object);
    super.release();
  }
}

function u32(value: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}
