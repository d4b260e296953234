// UDP probes and echoes in the HTML report: the probe's counts and round-trip times, its
// loss over time under the fault timeline, and the loss ledger (where every lost datagram
// went); an echo's one line.

import type { WorkloadReport } from "../runner/report.ts";
import type {
  GroupSpread,
  LedgerEntry,
  LossLedger,
  OneWayDirection,
  UdpEchoResult,
  UdpProbeResult,
} from "../measure/results.ts";
import {
  counts,
  duration,
  h,
  int,
  latencyCells,
  type Markup,
  percent,
  px,
  rows,
  since,
  statsTable,
  table,
} from "./_markup.ts";
import { cdfPlot, figure, histogramPlot, linearAxis, noSamples, plot } from "./_plot.ts";
import { coarsen, type Context, faultBands, relative, stackedBars, timeAxis } from "./_timeline.ts";

/** The one line of a UDP echo: what it received and replied. */
export function udpEchoLine(w: WorkloadReport, r: UdpEchoResult): Markup {
  const errors = counts(r.sendErrors);
  return h`<p class="server">${w.name} on ${w.host} (<code>${r.address}</code>): received ${
    int(r.received)
  }, replied ${int(r.replied)}, ${r.flows.length} flow(s)${
    errors ? `, send errors: ${errors}` : ""
  }</p>${
    r.group
      ? groupList(
        r.group.spread,
        r.group.members.map((m) =>
          `member ${m.member}${m.state === "stopped" ? " (stopped)" : ""}: ${m.flows} flow(s) (${
            share(m.flowShare)
          }), received ${m.received} (${share(m.datagramShare)}), replied ${m.replied}${
            m.discarded ? `, ${m.discarded} lost queued in its socket when it closed` : ""
          }`
        ),
      )
      : ""
  }`;
}

function share(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** A SO_REUSEPORT group's members, one line each, and how evenly the kernel spread them. */
export function groupList(spread: GroupSpread, members: string[]): Markup {
  return h`<ul class="group">${
    members.map((m) => h`<li>${m}</li>`)
  }<li>spread over ${spread.members} members: largest share ${share(spread.maxShare)} (${
    spread.maxOverEven.toFixed(2)
  }x an even share), smallest ${share(spread.minShare)}, ${spread.idle} idle</li></ul>`;
}

/** A UDP probe: counts, round-trip times, loss over time and the loss ledger. */
export function udpProbeSection(ctx: Context, w: WorkloadReport, r: UdpProbeResult): Markup {
  const subject = `${w.name} (${w.host} → ${r.address})`;
  const stats = statsTable([
    ["datagrams", [
      ["sent", int(r.sent)],
      ["delivered", int(r.delivered)],
      ["lost", int(r.lost)],
      [
        "out/back",
        r.lostOutbound === null ? "?" : `${int(r.lostOutbound)}/${int(r.lostReturn ?? 0)}`,
      ],
      ["late", int(r.late)],
      ["dup", int(r.duplicated)],
      ["reord", int(r.reordered)],
      ["loss", percent(r.loss)],
      ["rate", `${int(r.achievedRate)}/s`],
    ]],
    ["round-trip time", latencyCells(r.rttSummary)],
    ...oneWayGroups(r),
  ]);
  const notes: Markup[] = [];
  const errors = counts(r.sendErrors);
  if (errors) notes.push(h`<li class="warn">send errors: ${errors}</li>`);
  if (r.stoppedEarly) notes.push(h`<li class="warn">stopped early: sent fewer than asked</li>`);
  if (r.echoReceived === null && r.sent > 0) {
    notes.push(h`<li>the target is not a squall udpEcho, so loss is not split by direction</li>`);
  }
  notes.push(pathNote(r));
  const p = r.pacing;
  if (p && r.sent > 0 && p.misses > r.sent / 100) {
    notes.push(
      h`<li class="warn">pacing missed: ${int(p.misses)} of ${
        int(r.sent)
      } datagrams went out more than ${duration(p.toleranceNs / 1e6)} after their time (p99 ${
        duration(p.lateness.p99 / 1e6)
      }): the machine was busy</li>`,
    );
  }
  for (const o of r.outages.slice(0, 20)) {
    const start = relative(ctx, r.startedAt, w.startedAtMs);
    notes.push(
      o.recovered
        ? h`<li class="warn">outage from ${since(start + o.fromMs)} to ${since(start + o.toMs)} (${
          int(o.sent)
        } datagrams unanswered); answered again from ${since(start + o.toMs)}</li>`
        : h`<li class="warn">outage from ${since(start + o.fromMs)} until the probe ended (${
          int(o.sent)
        } datagrams unanswered); never answered again</li>`,
    );
  }
  if (r.outages.length > 20) notes.push(h`<li>and ${r.outages.length - 20} more outages</li>`);
  return h`<section class="workload udp-probe">
<h3>UDP probe ${subject}</h3>
${stats}
${notes.length > 0 ? h`<ul class="notes">${notes}</ul>` : ""}
<div class="pair">
${
    figure(
      cdfPlot(r.rtt, r.rttSummary, "round-trip time", subject, "replies"),
      `Round-trip time CDF of ${int(r.rtt.count)} replies in time.`,
    )
  }
${figure(histogramPlot(r.rtt, "round-trip time", subject, "replies"), "Round-trip time histogram.")}
</div>
${lossTimeline(ctx, w, r, subject)}
${
    r.ledger
      ? ledgerFigure(r, r.ledger, subject)
      : h`<p class="note">No loss ledger: nothing can be attributed on loopback.</p>`
  }
</section>
`;
}

/** One-way delay per direction, with each direction's late, duplicated and reordered. */
function oneWayGroups(r: UdpProbeResult): [string, [string, string][]][] {
  const o = r.oneWay;
  if (!o) return [];
  const group = (caption: string, d: OneWayDirection): [string, [string, string][]] => [
    caption,
    [
      ["late", int(d.late)],
      ["dup", int(d.duplicated)],
      ["reord", int(d.reordered)],
      ...latencyCells(d.delaySummary),
    ],
  ];
  return [group("one way out", o.forward), group("one way back", o.return)];
}

/** Which probe measured, and what it cost. */
function pathNote(r: UdpProbeResult): Markup {
  if (r.measuredBy === "deno") {
    return h`<li>measured on Deno's sockets (the agent may not load libc): times include event-loop wake-ups, one-way delay not measured</li>`;
  }
  const exact = r.clock.send === "kernel" && r.clock.receive === "kernel";
  return h`<li>measured natively (${
    exact
      ? "the kernel's socket timestamps"
      : `send times: ${r.clock.send}, receive times: ${r.clock.receive}`
  })${
    r.oneWay
      ? `, the echo's own time p50 ${duration(r.oneWay.echo.timeSummary.p50 / 1e6)}`
      : ", one-way delay not measured (the echo does not stamp its replies)"
  }${r.cpu ? `, CPU ${(r.cpu.share * 100).toFixed(0)}% of a core` : ""}</li>`;
}

/** Loss (and late replies) per interval of sending, over the fault timeline. */
function lossTimeline(ctx: Context, w: WorkloadReport, r: UdpProbeResult, subject: string): Markup {
  const t = r.timeline;
  const start = relative(ctx, r.startedAt, w.startedAtMs);
  const lost = t.sent.map((s, i) => Math.max(0, s - (t.delivered[i] ?? 0) - (t.late[i] ?? 0)));
  const c = coarsen([t.sent, lost, t.late], t.intervalMs, 600);
  const [sent, lostC, lateC] = c.series as [number[], number[], number[]];
  const lossRatio = lostC.map((l, i) => (sent[i] ?? 0) > 0 ? l / sent[i]! : null);
  const lateRatio = lateC.map((l, i) => (sent[i] ?? 0) > 0 ? l / sent[i]! : null);
  const top = Math.max(
    0.01,
    ...lossRatio.map((v, i) => (v ?? 0) + (lateRatio[i] ?? 0)),
  );
  const endMs = start + Math.max(r.durationMs, t.sent.length * t.intervalMs);
  const x = timeAxis(start, endMs);
  const y = linearAxis(
    0,
    Math.min(1, top),
    "lost per interval (%)",
    (v, d) => (v * 100).toFixed(Math.max(0, d - 2)),
    5,
  );
  const worst = Math.max(0, ...lossRatio.map((v) => v ?? 0));
  const svg = plot({
    kind: "loss-timeline",
    title: `Loss over time of ${subject}, with the fault timeline`,
    desc: `Share of datagrams lost (and late) per ${
      duration(c.intervalMs)
    } interval, by when they were sent; worst interval ${
      percent(worst)
    }. ${ctx.scenario.faults.length} fault(s) shown as shaded bands.`,
    width: 960,
    height: 260,
    x,
    y,
    body: (f) => {
      const { bands, labels } = faultBands(ctx.scenario.faults, f, x.min * 1000, x.max * 1000);
      return [
        ...bands,
        ...stackedBars(
          [{ cls: "k-lost", values: lossRatio }, { cls: "k-late", values: lateRatio }],
          f,
          start,
          c.intervalMs,
        ),
        ...labels,
        lostC.every((v) => v === 0) && lateC.every((v) => v === 0)
          ? noSamples(f, "nothing lost, nothing late")
          : h``,
      ];
    },
  });
  return figure(
    svg,
    h`Loss over time: each bar is one ${duration(c.intervalMs)} interval of sending${
      ctx.origin === null
        ? " (times from the probe's own start: the scenario start is unreadable)"
        : ""
    }.`,
    [["k-lost", "lost"], ["k-late", "late (answered after the timeout)"], [
      "k-fault",
      "fault applied",
    ]],
  );
}

/** A part of a ledger bar: one outcome or cause. */
interface Segment {
  cls: string;
  label: string;
  /** What the bar itself says, when the segment is wide enough. */
  short: string;
  value: number;
}

/** Faults that get a colour of their own in a ledger; the others share one. */
const LEDGER_FAULT_COLOURS = 5;

/** The loss ledger as bars (all sent, then the lost by cause), its legend and its table. */
function ledgerFigure(r: UdpProbeResult, ledger: LossLedger, subject: string): Markup {
  const split = ledger.outbound !== null && ledger.return !== null;
  const entries: LedgerEntry[] = split ? [ledger.outbound!, ledger.return!] : [ledger.total];
  // Every fault that dropped something, the biggest first.
  const faults = new Map<number, { description: string; packets: number }>();
  for (const e of entries) {
    for (const d of e.droppedByFault) {
      const seen = faults.get(d.fault);
      if (seen) seen.packets += d.packets;
      else faults.set(d.fault, { description: d.description, packets: d.packets });
    }
  }
  const ranked = [...faults.entries()].sort((a, b) => b[1].packets - a[1].packets || a[0] - b[0]);
  const coloured = ranked.slice(0, LEDGER_FAULT_COLOURS);
  const others = ranked.slice(LEDGER_FAULT_COLOURS);
  // A delay line's fault can drop for several causes (tail drop, queue full, ...).
  const dropped = (e: LedgerEntry, id: number) =>
    e.droppedByFault.reduce((n, d) => n + (d.fault === id ? d.packets : 0), 0);
  const notSplit = (e: LedgerEntry) => e.queueDropsNotSplit?.packets ?? 0;
  const queueLabel = "dropped by delay lines' queues, not split among flows";
  const causes = (e: LedgerEntry): Segment[] => [
    ...coloured.map(([id], i) => ({
      cls: `k-fault${i}`,
      label: `dropped by fault #${id}`,
      short: `fault #${id}`,
      value: dropped(e, id),
    })),
    ...(others.length > 0
      ? [{
        cls: "k-fault-other",
        label: `dropped by ${others.length} other faults`,
        short: "other faults",
        value: others.reduce((sum, [id]) => sum + dropped(e, id), 0),
      }]
      : []),
    {
      cls: "k-overflow",
      label: "receive buffer overflow",
      short: "rcvbuf",
      value: e.receiveBufferOverflow,
    },
    { cls: "k-nosocket", label: "no socket", short: "no socket", value: e.noSocket },
    {
      cls: "k-closed",
      label: "queued in a closed group member",
      short: "closed",
      value: e.closedSocket ?? 0,
    },
    { cls: "k-queue", label: queueLabel, short: "queues", value: notSplit(e) },
    { cls: "k-unexplained", label: "unexplained", short: "unexplained", value: e.unexplained },
  ];
  const sentRow: Segment[] = [
    { cls: "k-delivered", label: "delivered", short: "delivered", value: r.delivered },
    { cls: "k-late", label: "late", short: "late", value: ledger.late },
    ...(split
      ? [
        {
          cls: "k-lost",
          label: "lost on the way there",
          short: "lost out",
          value: ledger.outbound!.lost,
        },
        {
          cls: "k-lostback",
          label: "lost on the way back",
          short: "back",
          value: ledger.return!.lost,
        },
      ]
      : [{ cls: "k-lost", label: "lost", short: "lost", value: ledger.total.lost }]),
  ];
  const bars: { label: string; total: number; scale: number; segments: Segment[] }[] = [
    { label: `all sent (${int(r.sent)})`, total: r.sent, scale: r.sent, segments: sentRow },
  ];
  if (ledger.total.lost > 0) {
    const named: [string, LedgerEntry][] = split
      ? [["way there", ledger.outbound!], ["way back", ledger.return!]]
      : [["lost", ledger.total]];
    for (const [name, e] of named) {
      bars.push({
        label: `${name} (${int(e.lost)} lost)`,
        total: e.lost,
        scale: ledger.total.lost,
        segments: causes(e),
      });
    }
  }
  const width = 960;
  const left = 190;
  const right = width - 20;
  const rowHeight = 30;
  const height = 24 + bars.length * (rowHeight + 10) + 22;
  const parts: Markup[] = [];
  bars.forEach((bar, i) => {
    const y = 14 + i * (rowHeight + 10);
    parts.push(
      h`<text x="${left - 8}" y="${y + rowHeight / 2 + 4}" text-anchor="end">${bar.label}</text>`,
      h`<rect class="track" x="${left}" y="${y}" width="${right - left}" height="${rowHeight}"/>`,
    );
    let x = left;
    for (const seg of bar.segments) {
      if (seg.value <= 0 || bar.scale <= 0 || x >= right) continue;
      const w = Math.min(Math.max(2, (seg.value / bar.scale) * (right - left)), right - x);
      const share = bar.total > 0 ? seg.value / bar.total : 0;
      parts.push(
        h`<rect class="${seg.cls}" x="${px(x)}" y="${y}" width="${
          px(w)
        }" height="${rowHeight}"><title>${seg.label}: ${int(seg.value)} (${
          percent(share)
        })</title></rect>`,
      );
      const text = `${seg.short} ${int(seg.value)}`;
      if (w > text.length * 6.2 + 6) {
        parts.push(
          h`<text class="in-bar" x="${px(x + 4)}" y="${y + rowHeight / 2 + 4}">${text}</text>`,
        );
      }
      x += w;
    }
  });
  parts.push(
    h`<text class="label" x="${(left + right) / 2}" y="${height - 6}" text-anchor="middle">${
      ledger.total.lost > 0
        ? "datagrams: the first bar to scale of all sent, the others to scale of all lost"
        : "datagrams, to scale of all sent"
    }</text>`,
  );
  const totalCauses = causes(ledger.total).filter((c) => c.value > 0);
  const svg = h`<svg class="plot ledger" viewBox="0 0 ${width} ${height}" role="img">
<title>Loss ledger of ${subject}</title>
<desc>Of ${int(r.sent)} datagrams sent, ${int(r.delivered)} delivered, ${int(ledger.late)} late, ${
    int(ledger.total.lost)
  } lost${
    totalCauses.length > 0
      ? `: ${totalCauses.map((c) => `${c.label} ${int(c.value)}`).join(", ")}`
      : ""
  }.</desc>
${parts}
</svg>`;
  const legendItems: [string, string][] = [
    ["k-delivered", "delivered"],
    ["k-late", "late"],
    ...(split
      ? [["k-lost", "lost on the way there"], ["k-lostback", "lost on the way back"]] as [
        string,
        string,
      ][]
      : [["k-lost", "lost"]] as [string, string][]),
    ...coloured.map(([id, f], i) =>
      [`k-fault${i}`, `dropped by fault #${id} ${f.description}`] as [string, string]
    ),
    ...(others.length > 0
      ? [["k-fault-other", `dropped by ${others.length} other faults`] as [string, string]]
      : []),
    ["k-overflow", "receive buffer overflow"],
    ["k-nosocket", "no socket"],
    ...(ledger.total.closedSocket
      ? [["k-closed", "queued in a closed group member"] as [string, string]]
      : []),
    ...(notSplit(ledger.total) ? [["k-queue", queueLabel] as [string, string]] : []),
    ["k-unexplained", "unexplained"],
  ];
  // The table: one row per cause, every fault included.
  const columns = split ? ["cause", "way there", "way back", "total"] : ["cause", "lost"];
  const cells = (value: (e: LedgerEntry) => number) =>
    (split ? [ledger.outbound!, ledger.return!, ledger.total] : [ledger.total]).map((e) =>
      h`<td class="num">${int(value(e))}</td>`
    );
  const causeRows = [
    ...rows(
      ranked,
      columns.length,
      ([id, f]) =>
        h`<tr><th scope="row">dropped by fault #${id} ${f.description}</th>${
          cells((e) => dropped(e, id))
        }</tr>`,
    ),
    h`<tr><th scope="row">receive buffer overflow</th>${
      cells((e) => e.receiveBufferOverflow)
    }</tr>`,
    h`<tr><th scope="row">no socket</th>${cells((e) => e.noSocket)}</tr>`,
    ...(ledger.total.closedSocket
      ? [
        h`<tr><th scope="row">queued in a closed group member</th>${
          cells((e) => e.closedSocket ?? 0)
        }</tr>`,
      ]
      : []),
    ...(ledger.total.queueDropsNotSplit
      ? [h`<tr><th scope="row">${queueLabel}</th>${cells(notSplit)}</tr>`]
      : []),
    h`<tr class="${
      ledger.total.unexplained !== 0 ? "failed" : ""
    }"><th scope="row">unexplained</th>${cells((e) => e.unexplained)}</tr>`,
    h`<tr class="sum"><th scope="row">lost</th>${cells((e) => e.lost)}</tr>`,
  ];
  const ledgerTable = table(
    `Loss ledger of ${subject}: lost = dropped by faults + receive buffer overflow + no socket + unexplained`,
    columns,
    causeRows,
    "ledger-table",
  );
  const notes: Markup[] = [];
  if (ledger.total.unexplained !== 0) {
    notes.push(
      h`<p class="fail loud">${
        int(ledger.total.unexplained)
      } lost datagrams have no known cause.</p>`,
    );
  }
  for (const q of ledger.total.queueDropsNotSplit?.queues ?? []) {
    notes.push(
      h`<p class="note">Fault #${q.fault} ${q.description}: the kernel dropped ${
        int(q.dropped)
      } packets for its delay line's queue, which ${int(q.flows)} probe flows${
        q.otherPackets > 0 ? ` and ${int(q.otherPackets)} other packets` : ""
      } crossed; it counts them per queue, so they are not split among flows.</p>`,
    );
  }
  if (ledger.kernelCountersShared) {
    notes.push(
      h`<p class="note">Another probe shared these namespaces: kernel counts (overflow, no socket) are shared.</p>`,
    );
  }
  return h`${
    figure(svg, "Loss ledger: where every datagram went.", legendItems)
  }${notes}${ledgerTable}`;
}
