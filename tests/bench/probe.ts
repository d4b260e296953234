// The native probe's references (issue 12), used by tests/bench/main.ts:
//
//   - one-way delays against irtt: squall's forward and return p50 <= 1.2x irtt's send
//     and receive delays, on a veth between two namespaces of the same shape;
//   - the loss-free capacity of the path: iperf3 -u at the probe's packet rate and size,
//     for the 100k/s target's reference.
//
// Every namespace is held by a process this file starts (tests/bench/_netns.ts) and dies
// with it.

import { NamespaceSet } from "./_netns.ts";
import { median, onPath, sleep, us } from "./_util.ts";

/** irtt's figures of one run, in nanoseconds. */
export interface IrttFigures {
  rttP50: number;
  sendP50: number;
  receiveP50: number;
  sent: number;
  received: number;
}

/** Runs irtt (server in holder 1, client in holder 0) over link 0 of `set`. */
export async function irttRun(
  set: NamespaceSet,
  seconds: number,
  intervalUs: number,
  size: number,
): Promise<IrttFigures> {
  const server = set.links[0]!.ends[1].address;
  const child = set.spawnIn(1, ["irtt", "server", "-b", `${server}:2112`, "-i", "0"]);
  try {
    await sleep(300);
    const out = await set.runIn(0, [
      "irtt",
      "client",
      "-i",
      `${intervalUs}us`,
      "-d",
      `${seconds}s`,
      "-l",
      String(size),
      "-Q",
      "-o",
      "-",
      "--wait=200ms",
      `${server}:2112`,
    ]);
    const text = new TextDecoder().decode(out.stdout);
    if (out.code !== 0) {
      throw new Error(`irtt client exited ${out.code}: ${new TextDecoder().decode(out.stderr)}`);
    }
    const stats = JSON.parse(text).stats;
    return {
      rttP50: stats.rtt.median,
      sendP50: stats.send_delay.median,
      receiveP50: stats.receive_delay.median,
      sent: stats.packets_sent,
      received: stats.packets_received,
    };
  } finally {
    await set.stop(child);
  }
}

/** iperf3's view of UDP at a packet rate. */
export interface Iperf3Figures {
  packets: number;
  lost: number;
  lostPercent: number;
  /** Datagrams per second it sent. */
  rate: number;
}

/** iperf3 -u at `rate` datagrams/s of `size` B for `seconds` over link 0 of `set`. */
export async function iperf3Udp(
  set: NamespaceSet,
  rate: number,
  size: number,
  seconds: number,
): Promise<Iperf3Figures> {
  const server = set.links[0]!.ends[1].address;
  const child = set.spawnIn(1, ["iperf3", "-s", "-1", "-B", server, "-p", "5201"]);
  try {
    await sleep(300);
    const out = await set.runIn(0, [
      "iperf3",
      "-c",
      server,
      "-p",
      "5201",
      "-u",
      "-b",
      String(rate * size * 8),
      "-l",
      String(size),
      "-t",
      String(seconds),
      "-J",
    ]);
    const json = JSON.parse(new TextDecoder().decode(out.stdout));
    if (json.error) throw new Error(`iperf3: ${json.error}`);
    const sum = json.end.sum;
    return {
      packets: sum.packets,
      lost: sum.lost_packets,
      lostPercent: sum.lost_percent,
      rate: sum.packets / sum.seconds,
    };
  } finally {
    await set.stop(child);
  }
}

/** irtt medians over `runs` runs on a fresh two-namespace veth. */
export async function irttReference(
  runs: number,
  seconds: number,
  intervalUs: number,
  size: number,
): Promise<{ runs: IrttFigures[]; sendP50: number | null; receiveP50: number | null }> {
  if (!onPath("irtt")) return { runs: [], sendP50: null, receiveP50: null };
  const set = new NamespaceSet();
  const figures: IrttFigures[] = [];
  try {
    await set.addHolders(2);
    await set.wire([[0, 1]]);
    for (let i = 0; i < runs; i++) figures.push(await irttRun(set, seconds, intervalUs, size));
  } finally {
    await set.close();
  }
  return {
    runs: figures,
    sendP50: median(figures.map((f) => f.sendP50)),
    receiveP50: median(figures.map((f) => f.receiveP50)),
  };
}

/** iperf3 on a fresh two-namespace veth. */
export async function iperf3Reference(
  rate: number,
  size: number,
  seconds: number,
): Promise<Iperf3Figures | null> {
  if (!onPath("iperf3")) return null;
  const set = new NamespaceSet();
  try {
    await set.addHolders(2);
    await set.wire([[0, 1]]);
    return await iperf3Udp(set, rate, size, seconds);
  } finally {
    await set.close();
  }
}

/** "12.3 us (forward) / 4.5 us (return)". */
export function describeOneWay(forward: number | null, back: number | null): string {
  return `${us(forward)} forward, ${us(back)} return`;
}
