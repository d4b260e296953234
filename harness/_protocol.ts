// The NDJSON protocol between the runner and its agents: one JSON object a line.

import type { WorkloadResult } from "./results.ts";
import type { ProbeSettings } from "./udp_probe.ts";

/** A workload as an agent receives it: every name resolved, every duration in ms. */
export type AgentWorkload =
  | { kind: "udpEcho"; hostname: string; port: number }
  | ({ kind: "udpProbe" } & ProbeSettings);

/** Runner to agent. */
export type RunnerMessage =
  | { op: "call"; id: number; method: string; params: unknown }
  | { op: "start"; id: number; workload: AgentWorkload }
  | { op: "stop"; id: number }
  | { op: "snapshot"; id: number };

/** An error as it crosses the wire. */
export interface WireError {
  name: string;
  message: string;
}

/** Agent to runner. */
export type AgentMessage =
  | { type: "ready"; pid: number; host: string }
  | { type: "started"; id: number; address: string }
  | { type: "result"; id: number; result: WorkloadResult }
  | { type: "snapshot"; id: number; result: WorkloadResult }
  | { type: "failed"; id: number; error: WireError }
  | { type: "reply"; id: number; value: unknown }
  | { type: "error"; id: number; error: WireError }
  | { type: "fatal"; error: WireError };

const encoder = new TextEncoder();

/** Encodes one message as a line. */
export function encodeLine(message: RunnerMessage | AgentMessage): Uint8Array {
  return encoder.encode(JSON.stringify(message) + "\n");
}

/** Splits a byte stream into lines (without the newline). */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim() !== "") yield line;
    }
  }
  buffered += decoder.decode();
  if (buffered.trim() !== "") yield buffered;
}

/** Turns anything thrown into a wire error. */
export function toWireError(error: unknown): WireError {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: "Error", message: String(error) };
}
