import assert from "node:assert/strict";
import { CLEAR_LINE, DEFAULT_COLUMNS, formatLiveProgress, LiveLine } from "./live_line.ts";

function terminal(columns: number) {
  const writes: string[] = [];
  return { writes, write: (text: string) => writes.push(text), columns: () => columns };
}

Deno.test("LiveLine draws over itself, cuts to the terminal's width, and clears only what it drew", () => {
  const t = terminal(20);
  const line = new LiveLine(t, false);
  line.clear();
  assert.equal(t.writes.length, 0, "nothing drawn, nothing to clear");
  line.show("short");
  line.show("a line much longer than twenty columns");
  assert.equal([...t.writes[1]!.slice(CLEAR_LINE.length)].length, 19, "one column spare");
  line.clear();
  line.clear();
  assert.deepEqual(t.writes, [
    `${CLEAR_LINE}short`,
    `${CLEAR_LINE}a line much longer…`,
    CLEAR_LINE,
  ]);
});

Deno.test("LiveLine takes a width of 0 (a 0x0 pty) or any other non-positive or fractional one as unknown: 80 columns", () => {
  assert.equal(DEFAULT_COLUMNS, 80);
  const long = "x".repeat(200);
  for (const columns of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 12.5]) {
    const t = terminal(columns);
    new LiveLine(t, false).show(long);
    assert.equal([...t.writes[0]!.slice(CLEAR_LINE.length)].length, 79, `columns ${columns}`);
  }
  const narrow = terminal(5);
  new LiveLine(narrow, false).show(long);
  assert.equal([...narrow.writes[0]!.slice(CLEAR_LINE.length)].length, 10, "a known tiny width");
});

Deno.test("LiveLine dims the line only with colour, after cutting it", () => {
  const t = terminal(80);
  new LiveLine(t, true).show("progress");
  assert.ok(t.writes[0]!.startsWith(CLEAR_LINE + "\x1b["));
  assert.ok(t.writes[0]!.includes("progress"));
});

Deno.test("formatLiveProgress() gives elapsed time, then sent, loss and p99 of each running probe", () => {
  assert.equal(
    formatLiveProgress("udp echo", 12_345, [
      {
        name: "probe",
        host: "client",
        kind: "udpProbe",
        sent: 6150,
        delivered: 6149,
        loss: 0.000163,
        p99Ns: 85_000,
      },
      { name: "big", host: "client", kind: "udpProbe", sent: 0, delivered: 0, loss: 0, p99Ns: 0 },
    ]),
    "  ⋯  12.3s udp echo  probe: sent 6150, loss 0.02%, p99 85us │ big: sent 0, loss 0.00%, p99 -",
  );
  assert.equal(formatLiveProgress("x", 0, []), "  ⋯   0.0s x");
});

Deno.test("formatLiveProgress() shows control characters in names escaped", () => {
  const line = formatLiveProgress("s\x1b[2J", 1000, [{
    name: "p\r\nscenarios: 1 passed",
    host: "h",
    kind: "udpProbe",
    sent: 10,
    delivered: 10,
    loss: 0,
    p99Ns: 1000,
  }]);
  assert.ok(![..."\r\n\x1b"].some((c) => line.includes(c)), JSON.stringify(line));
  assert.match(line, /s\\x1b\[2J {2}p\\r\\nscenarios: 1 passed: sent 10/);
});
