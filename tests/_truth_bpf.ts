// What BPF programs the kernel holds, read without bpftool: libbpf's id iteration
// through Deno FFI, /proc/<pid>/fdinfo for which process holds which program, and the
// entries of the BPF file system. For tests that prove a run leaves no program behind.

import { LIBBPF_CANDIDATES } from "../harness/kernel/libbpf.ts";
import { findLibrary, LIBC_CANDIDATES } from "../harness/native/libc.ts";

/** A loaded BPF program, as `bpf_obj_get_info_by_fd` describes it. */
export interface BpfProgram {
  /** Kernel-wide program id. */
  id: number;
  /** `enum bpf_prog_type` (6 is `BPF_PROG_TYPE_XDP`). */
  type: number;
  /** The program's name, at most 15 characters (the ELF function name, truncated). */
  name: string;
}

/** `BPF_PROG_TYPE_XDP` in `enum bpf_prog_type` of /usr/include/linux/bpf.h. */
export const BPF_PROG_TYPE_XDP = 6;

// struct bpf_prog_info of the kernel UAPI (/usr/include/linux/bpf.h), x86_64: checked
// with offsetof() and sizeof() in a C program against the installed header:
// type at 0, id at 4, name (char[BPF_OBJ_NAME_LEN = 16]) at 64, 232 bytes in all. The
// kernel copies min(len, its own size) bytes, so an older, shorter layout is fine.
const PROG_INFO = { type: 0, id: 4, name: 64, nameLength: 16, size: 232 } as const;

const LIBBPF_SYMBOLS = {
  bpf_prog_get_next_id: { parameters: ["u32", "buffer"], result: "i32" },
  bpf_prog_get_fd_by_id: { parameters: ["u32"], result: "i32" },
  bpf_obj_get_info_by_fd: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
} as const;

const LIBC_SYMBOLS = {
  close: { parameters: ["i32"], result: "i32" },
} as const;

const decoder = new TextDecoder();

/**
 * Every BPF program loaded in the kernel (all namespaces: program ids are global).
 * A program that goes away between listing and opening is skipped.
 */
export function loadedPrograms(): BpfProgram[] {
  const libbpfPath = findLibrary(LIBBPF_CANDIDATES);
  const libcPath = findLibrary(LIBC_CANDIDATES);
  if (!libbpfPath || !libcPath) throw new Deno.errors.NotFound("Cannot find libbpf.so.1 or libc");
  const bpf = Deno.dlopen(libbpfPath, LIBBPF_SYMBOLS);
  const libc = Deno.dlopen(libcPath, LIBC_SYMBOLS);
  try {
    const programs: BpfProgram[] = [];
    const next = new Uint32Array(1);
    const info = new Uint8Array(PROG_INFO.size);
    const view = new DataView(info.buffer);
    const length = new Uint32Array(1);
    let id = 0;
    while (bpf.symbols.bpf_prog_get_next_id(id, next) === 0) {
      id = next[0]!;
      const fd = bpf.symbols.bpf_prog_get_fd_by_id(id);
      if (fd < 0) continue; // Freed since it was listed.
      try {
        info.fill(0);
        length[0] = info.byteLength;
        const got = bpf.symbols.bpf_obj_get_info_by_fd(fd, info, length);
        if (got !== 0) throw new Error(`Cannot read info of BPF program ${id}: error ${got}`);
        if (view.getUint32(PROG_INFO.id, true) !== id) {
          throw new Error(`bpf_prog_info layout mismatch: asked for id ${id}, read another`);
        }
        const name = info.subarray(PROG_INFO.name, PROG_INFO.name + PROG_INFO.nameLength);
        const end = name.indexOf(0);
        programs.push({
          id,
          type: view.getUint32(PROG_INFO.type, true),
          name: decoder.decode(end < 0 ? name : name.subarray(0, end)),
        });
      } finally {
        libc.symbols.close(fd);
      }
    }
    return programs;
  } finally {
    bpf.close();
    libc.close();
  }
}

/** Ids of the loaded XDP programs called `name`. */
export function xdpProgramIds(name: string): Set<number> {
  return new Set(
    loadedPrograms().filter((p) => p.type === BPF_PROG_TYPE_XDP && p.name === name).map((p) =>
      p.id
    ),
  );
}

/**
 * Ids of the BPF programs a process holds open (program and link fds both name their
 * `prog_id` in /proc/<pid>/fdinfo); empty when the process is gone.
 */
export function programsHeldBy(pid: number): Set<number> {
  const held = new Set<number>();
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(`/proc/${pid}/fdinfo`)];
  } catch {
    return held;
  }
  for (const entry of entries) {
    let text: string;
    try {
      text = Deno.readTextFileSync(`/proc/${pid}/fdinfo/${entry.name}`);
    } catch {
      continue; // Closed meanwhile.
    }
    const id = /^prog_id:\s*(\d+)$/m.exec(text);
    if (id) held.add(Number(id[1]));
  }
  return held;
}

/** Ids of the BPF programs any live process holds open. */
export function programsHeldByAnyProcess(): Set<number> {
  const held = new Set<number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    for (const id of programsHeldBy(Number(entry.name))) held.add(id);
  }
  return held;
}

/** Every path in the BPF file system (/sys/fs/bpf), recursively. */
export function bpffsEntries(root = "/sys/fs/bpf"): Set<string> {
  const found = new Set<string>();
  const walk = (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      const path = `${dir}/${e.name}`;
      found.add(path);
      if (e.isDirectory) walk(path);
    }
  };
  walk(root);
  return found;
}
