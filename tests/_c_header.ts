// The #defines and struct layouts of a C header shared by a BPF program and its
// TypeScript mirror, parsed as text, and the checks that the mirror has every #define and
// struct of the header and nothing else (harness/kernel/xdp_layout_test.ts,
// harness/kernel/bind_watch_layout_test.ts). Only what those headers use: #defines of
// integer expressions, and structs of __u8/__u32/__u64 fields, arrays of them, and arrays
// of structs declared before; no implicit padding allowed.

import assert from "node:assert/strict";

/** A header's #defines (evaluated) and struct layouts (natural alignment). */
export interface ParsedHeader {
  defines: Map<string, number>;
  structs: Map<string, { size: number; align: number; fields: Record<string, number> }>;
}

const TYPE_BYTES: Record<string, number> = { __u8: 1, __u32: 4, __u64: 8 };

/** Parses a header; fails an assertion on anything it does not expect. */
export function parseHeader(text: string): ParsedHeader {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/.*$/gm, "");
  const defines = new Map<string, number>();
  for (const match of code.matchAll(/^[ \t]*#define[ \t]+(\w+)[ \t]*(.*)$/gm)) {
    const [, name, body] = match;
    if (body!.trim() === "") continue; // the include guard
    defines.set(name!, evaluate(body!, defines));
  }
  const structs: ParsedHeader["structs"] = new Map();
  for (const match of code.matchAll(/struct\s+(\w+)\s*\{([^}]*)\}\s*;/g)) {
    const [, name, body] = match;
    const fields: Record<string, number> = {};
    let offset = 0;
    let align = 1;
    for (const declaration of body!.split(";").map((d) => d.trim()).filter(Boolean)) {
      const found = /^(__u8|__u32|__u64|struct\s+\w+)\s+(\w+)(?:\[(\w+)\])?$/.exec(declaration);
      assert.ok(found, `struct ${name}: unexpected field declaration "${declaration}"`);
      const [, type, fieldName, count] = found;
      const element = type!.startsWith("struct")
        ? structs.get(type!.replace(/^struct\s+/, ""))
        : { size: TYPE_BYTES[type!]!, align: TYPE_BYTES[type!]! };
      assert.ok(element, `struct ${name}: ${type} is not declared before it`);
      const length = count === undefined ? 1 : evaluate(count, defines);
      const aligned = Math.ceil(offset / element.align) * element.align;
      assert.equal(aligned, offset, `struct ${name}: implicit padding before ${fieldName}`);
      fields[fieldName!] = aligned;
      offset = aligned + element.size * length;
      align = Math.max(align, element.align);
    }
    const size = Math.ceil(offset / align) * align;
    assert.equal(size, offset, `struct ${name}: implicit padding at the end`);
    structs.set(name!, { size, align, fields });
  }
  return { defines, structs };
}

/** Evaluates a #define body: integers (decimal, hex, U suffix), names, + - * and parentheses. */
function evaluate(expression: string, names: ReadonlyMap<string, number>): number {
  const tokens = expression.match(/0[xX][0-9a-fA-F]+[uU]?|\d+[uU]?|\w+|[()+\-*]|\S/g) ?? [];
  let at = 0;
  const peek = () => tokens[at];
  const next = () => {
    const token = tokens[at++];
    if (token === undefined) throw new SyntaxError(`Unexpected end of "${expression}"`);
    return token;
  };
  const primary = (): number => {
    const token = next();
    if (token === "(") {
      const value = sum();
      assert.equal(next(), ")", `unbalanced parentheses in "${expression}"`);
      return value;
    }
    if (/^(0[xX][0-9a-fA-F]+|\d+)[uU]?$/.test(token)) return Number(token.replace(/[uU]$/, ""));
    const value = names.get(token);
    if (value === undefined) throw new SyntaxError(`Unknown name "${token}" in "${expression}"`);
    return value;
  };
  const product = (): number => {
    let value = primary();
    while (peek() === "*") {
      next();
      value *= primary();
    }
    return value;
  };
  const sum = (): number => {
    let value = product();
    while (peek() === "+" || peek() === "-") {
      value = next() === "+" ? value + product() : value - product();
    }
    return value;
  };
  const value = sum();
  if (at !== tokens.length) throw new SyntaxError(`Unexpected "${peek()}" in "${expression}"`);
  return value;
}

/** Names of a header and of its TypeScript mirror, for messages. */
export interface MirrorNames {
  /** The header, as `bpf/xdp_drop.h`. */
  header: string;
  /** The mirror module, as `xdp_layout.ts`. */
  module: string;
}

function isLayout(value: unknown): value is { size: number; fields: Record<string, number> } {
  return typeof value === "object" && value !== null && "size" in value && "fields" in value;
}

/** Every #define of the header is exported with the same value, and no other number is. */
export function assertDefinesMirrored(
  header: ParsedHeader,
  exported: Record<string, unknown>,
  names: MirrorNames,
): void {
  for (const [name, value] of header.defines) {
    assert.ok(name in exported, `${name} is not exported by ${names.module}`);
    assert.equal(exported[name], value, `${name}`);
  }
  for (const [name, value] of Object.entries(exported)) {
    if (typeof value !== "number") continue;
    assert.ok(header.defines.has(name), `${name} is not defined in ${names.header}`);
  }
}

/**
 * Every struct of the header has a layout (its name in capitals) with the same size,
 * offsets and field order, and no other layout is exported.
 */
export function assertStructsMirrored(
  header: ParsedHeader,
  exported: Record<string, unknown>,
  names: MirrorNames,
): void {
  for (const [name, struct] of header.structs) {
    const mirror = exported[name.toUpperCase()];
    assert.ok(isLayout(mirror), `${name.toUpperCase()} is not exported by ${names.module}`);
    assert.deepEqual({ size: mirror.size, fields: { ...mirror.fields } }, {
      size: struct.size,
      fields: struct.fields,
    }, `struct ${name}`);
    assert.deepEqual(Object.keys(mirror.fields), Object.keys(struct.fields), `${name} order`);
  }
  for (const [name, value] of Object.entries(exported)) {
    if (!isLayout(value)) continue;
    assert.ok(header.structs.has(name.toLowerCase()), `struct ${name.toLowerCase()} not found`);
  }
}
