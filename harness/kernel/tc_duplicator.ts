// The packet duplicator: bpf/tc_dup.o on the egress (clsact) of the sending end of a
// link, loaded through libbpf and attached with bpf_tc_attach. Matching packets are sent
// twice with a given probability (a clone redirected to the same interface). Attached
// through netlink, it stays until detached or until the interface goes, which is when
// the host's namespace goes, with its agent.

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

/** The committed object. */
export const TC_DUP_OBJECT = new URL("../../bpf/tc_dup.o", import.meta.url).pathname;

/** What packets the duplicator matches and how often it duplicates them. */
export interface DupConfig {
  /** Probability of sending a matching packet twice, 0-1. */
  rate: number;
  /** IPPROTO_UDP (17), IPPROTO_TCP (6), or 0 for any. */
  protocol: number;
  /** Destination port range (0-65535 for any). */
  dportMin: number;
  dportMax: number;
  /** Source IPv4 address, or undefined for any. */
  source: string | undefined;
}

/** What it counted: packets it matched and copies it sent. */
export interface DupTally {
  matched: number;
  duplicated: number;
}

/** Options of {@linkcode TcDuplicator.attach}. */
export interface TcDuplicatorOptions {
  /**
   * The compiled object.
   * @default {TC_DUP_OBJECT}
   */
  objectPath?: string;
  /** libbpf.so.1; found in the usual places when not given. */
  libbpfPath?: string;
  /** libc.so.6; found in the usual places when not given. */
  libcPath?: string;
}

const BPF_TC_INGRESS = 1;
const BPF_TC_EGRESS = 2;
const HOOK_BYTES = 24; // struct bpf_tc_hook: sz, ifindex, attach_point, parent
const OPTS_BYTES = 32; // struct bpf_tc_opts: sz, prog_fd, flags, prog_id, handle, priority
const CONFIG_BYTES = 20; // struct sq_dup_config of bpf/tc_dup.c
const EEXIST = 17;

/** The byte layout of struct sq_dup_config (bpf/tc_dup.c). */
export function encodeDupConfig(config: DupConfig): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(CONFIG_BYTES);
  const view = new DataView(bytes.buffer);
  const chance = Math.min(0xffffffff, Math.round(config.rate * 2 ** 32));
  view.setUint32(0, chance, true);
  view.setUint32(4, config.protocol, true);
  view.setUint16(8, config.dportMin, true);
  view.setUint16(10, config.dportMax, true);
  if (config.source !== undefined) {
    config.source.split(".").forEach((part, i) => view.setUint8(12 + i, Number(part)));
    view.setUint32(16, 0xffffffff, true);
  }
  return bytes;
}

function hook(ifindex: number, attachPoint: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(HOOK_BYTES);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(HOOK_BYTES), true);
  view.setInt32(8, ifindex, true);
  view.setUint32(12, attachPoint, true);
  return bytes;
}

/** A duplicator attached to one interface's egress. */
export class TcDuplicator implements Disposable {
  /** The interface. */
  readonly ifname: string;
  #libs: Libraries;
  #object: Deno.PointerValue;
  #ifindex: number;
  #createdHook: boolean;
  #handle: number;
  #priority: number;
  #configFd: number;
  #countersFd: number;
  #cpus: number;
  #disposed = false;

  private constructor(
    ifname: string,
    libs: Libraries,
    object: Deno.PointerValue,
    fields: {
      ifindex: number;
      createdHook: boolean;
      handle: number;
      priority: number;
      configFd: number;
      countersFd: number;
    },
  ) {
    this.ifname = ifname;
    this.#libs = libs;
    this.#object = object;
    this.#ifindex = fields.ifindex;
    this.#createdHook = fields.createdHook;
    this.#handle = fields.handle;
    this.#priority = fields.priority;
    this.#configFd = fields.configFd;
    this.#countersFd = fields.countersFd;
    this.#cpus = libs.bpf.libbpf_num_possible_cpus();
  }

  /** Loads the program and attaches it to the egress of `ifname` (this namespace's). */
  static async attach(ifname: string, options: TcDuplicatorOptions = {}): Promise<TcDuplicator> {
    const libs = openLibraries(options.libbpfPath, options.libcPath);
    const path = options.objectPath ?? TC_DUP_OBJECT;
    const what = `Cannot attach the duplicator to "${ifname}"`;
    let object: Deno.PointerValue = null;
    let createdHook = false;
    let ifindex = 0;
    try {
      ifindex = libs.libc.if_nametoindex(cString(ifname));
      if (ifindex === 0) throw new Deno.errors.NotFound(`${what}: interface does not exist`);
      object = await loadObject(libs, path, what);
      const program = findProgram(libs, object, "tc_dup", what, path);
      const fd = (name: string) => mapFd(libs, object, name, what, path);
      const configFd = fd("dup_config");
      const countersFd = fd("dup_counters");
      const egress = hook(ifindex, BPF_TC_EGRESS);
      const created = libs.bpf.bpf_tc_hook_create(egress);
      if (created < 0 && -created !== EEXIST) {
        throw new Error(`${what}: cannot add a clsact qdisc: ${errnoText(libs, created)}`);
      }
      createdHook = created === 0;
      const opts = new Uint8Array(OPTS_BYTES);
      const view = new DataView(opts.buffer);
      view.setBigUint64(0, BigInt(OPTS_BYTES), true);
      view.setInt32(8, libs.bpf.bpf_program__fd(program), true);
      const attached = libs.bpf.bpf_tc_attach(egress, opts);
      if (attached < 0) throw new Error(`${what}: ${errnoText(libs, attached)}`);
      return new TcDuplicator(ifname, libs, object, {
        ifindex,
        createdHook,
        handle: view.getUint32(20, true),
        priority: view.getUint32(24, true),
        configFd,
        countersFd,
      });
    } catch (error) {
      if (createdHook) libs.bpf.bpf_tc_hook_destroy(hook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS));
      if (object !== null) libs.bpf.bpf_object__close(object);
      libs.close();
      throw error;
    }
  }

  /** Sets what it duplicates; takes effect for the next packet. */
  set(config: DupConfig): void {
    const key = new Uint8Array(4);
    if (this.#libs.bpf.bpf_map_update_elem(this.#configFd, key, encodeDupConfig(config), 0n) < 0) {
      throw new Error(
        `Cannot configure the duplicator on "${this.ifname}": ${lastError(this.#libs).text}`,
      );
    }
  }

  /** What it counted so far, summed over CPUs. */
  counters(): DupTally {
    const value = new BigUint64Array(this.#cpus);
    const read = (slot: number) => {
      const key = new Uint8Array(new Uint32Array([slot]).buffer);
      this.#libs.bpf.bpf_map_lookup_elem(this.#countersFd, key, new Uint8Array(value.buffer));
      return Number(value.reduce((a, b) => a + b, 0n));
    };
    return { matched: read(0), duplicated: read(1) };
  }

  /** Detaches it (and the clsact qdisc it added) and closes the object. */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const opts = new Uint8Array(OPTS_BYTES);
    const view = new DataView(opts.buffer);
    view.setBigUint64(0, BigInt(OPTS_BYTES), true);
    view.setUint32(20, this.#handle, true);
    view.setUint32(24, this.#priority, true);
    this.#libs.bpf.bpf_tc_detach(hook(this.#ifindex, BPF_TC_EGRESS), opts);
    if (this.#createdHook) {
      this.#libs.bpf.bpf_tc_hook_destroy(hook(this.#ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS));
    }
    this.#libs.bpf.bpf_object__close(this.#object);
    this.#libs.close();
  }
}
