// toJUnit() is checked by parsing its output back with a small, strict XML 1.0 parser
// (well-formedness: one root, matched tags, quoted and unique attributes, known
// entities only, no forbidden characters, CDATA and comments closed), then walking the
// tree the way CI tools read it: testsuites > testsuite > testcase > failure | error,
// system-out.

import assert from "node:assert/strict";
import { toJUnit } from "./junit.ts";
import type { RunReport, ScenarioReport } from "../runner/report.ts";

// --- A small strict XML parser ---

interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** Character data and CDATA directly inside, concatenated. */
  text: string;
}

// deno-lint-ignore no-control-regex
const XML_FORBIDDEN = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udfff]/u;
const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*/;

/** Parses a whole document; throws, with the offset, on anything not well-formed. */
function parseXml(source: string): XmlElement {
  const forbidden = XML_FORBIDDEN.exec(source);
  if (forbidden) throw new SyntaxError(`forbidden character at ${forbidden.index}`);
  let at = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at ${at}: ${JSON.stringify(source.slice(at, at + 40))}`);
  };
  const skipSpace = () => {
    while (at < source.length && /\s/.test(source[at]!)) at++;
  };
  const expect = (literal: string) => {
    if (!source.startsWith(literal, at)) fail(`expected ${JSON.stringify(literal)}`);
    at += literal.length;
  };
  const name = (): string => {
    const match = NAME.exec(source.slice(at));
    if (!match) return fail("expected a name");
    at += match[0].length;
    return match[0];
  };
  const decode = (raw: string): string => {
    if (raw.includes("<")) fail("'<' in text or attribute");
    return raw.replace(/&([^;]*);|&/g, (whole, ref: string | undefined) => {
      if (ref === undefined) return fail("bare '&'");
      const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
      if (ref in named) return named[ref]!;
      const numeric = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(ref);
      if (!numeric) return fail(`unknown entity ${whole}`);
      const code = numeric[1]!.startsWith("x")
        ? parseInt(numeric[1]!.slice(1), 16)
        : parseInt(numeric[1]!, 10);
      const char = String.fromCodePoint(code);
      if (XML_FORBIDDEN.test(char)) fail(`reference to a forbidden character ${whole}`);
      return char;
    });
  };
  const skipMisc = () => {
    for (;;) {
      skipSpace();
      if (source.startsWith("<!--", at)) {
        const end = source.indexOf("-->", at);
        if (end < 0) fail("unclosed comment");
        at = end + 3;
      } else if (source.startsWith("<?", at)) {
        const end = source.indexOf("?>", at);
        if (end < 0) fail("unclosed processing instruction");
        at = end + 2;
      } else return;
    }
  };
  const element = (): XmlElement => {
    expect("<");
    const el: XmlElement = { name: name(), attributes: {}, children: [], text: "" };
    for (;;) {
      const before = at;
      skipSpace();
      if (source.startsWith("/>", at)) {
        at += 2;
        return el;
      }
      if (source.startsWith(">", at)) {
        at++;
        break;
      }
      if (at === before) fail("expected whitespace before an attribute");
      const key = name();
      skipSpace();
      expect("=");
      skipSpace();
      const quote = source[at];
      if (quote !== '"' && quote !== "'") fail("unquoted attribute value");
      const end = source.indexOf(quote!, at + 1);
      if (end < 0) fail("unclosed attribute value");
      if (key in el.attributes) fail(`duplicate attribute ${key}`);
      el.attributes[key] = decode(source.slice(at + 1, end));
      at = end + 1;
    }
    for (;;) {
      if (at >= source.length) fail(`unclosed <${el.name}>`);
      if (source.startsWith("</", at)) {
        at += 2;
        const closing = name();
        if (closing !== el.name) fail(`</${closing}> closes <${el.name}>`);
        skipSpace();
        expect(">");
        return el;
      }
      if (source.startsWith("<![CDATA[", at)) {
        const end = source.indexOf("]]>", at);
        if (end < 0) fail("unclosed CDATA");
        el.text += source.slice(at + 9, end);
        at = end + 3;
      } else if (source.startsWith("<!--", at) || source.startsWith("<?", at)) {
        skipMisc();
      } else if (source[at] === "<") {
        el.children.push(element());
      } else {
        const end = source.indexOf("<", at);
        const raw = source.slice(at, end < 0 ? source.length : end);
        if (raw.includes("]]>")) fail("']]>' in text");
        el.text += decode(raw);
        at += raw.length;
      }
    }
  };
  if (source.startsWith("<?xml")) {
    const end = source.indexOf("?>");
    if (end < 0) fail("unclosed XML declaration");
    at = end + 2;
  }
  skipMisc();
  const root = element();
  skipMisc();
  if (at !== source.length) fail("content after the root element");
  return root;
}

Deno.test("parseXml() accepts well-formed XML and rejects what is not", () => {
  const el = parseXml(`<?xml version="1.0"?><a x="1 &amp; &#x3c;"><b/><![CDATA[<&]]>t</a>`);
  assert.equal(el.attributes.x, "1 & <");
  assert.equal(el.text, "<&t");
  for (
    const bad of [
      "<a><b></a></b>",
      "<a x=1/>",
      '<a x="<"/>',
      "<a>&nbsp;</a>",
      "<a>&</a>",
      "<a>\x01</a>",
      '<a x="1" x="2"/>',
      "<a/><b/>",
      "<a><![CDATA[x</a>",
      "<a>]]></a>",
      "<a>&#1;</a>",
    ]
  ) {
    assert.throws(() => parseXml(bad), SyntaxError, bad);
  }
});

// --- Fixtures ---

function scenarioReport(overrides: Partial<ScenarioReport>): ScenarioReport {
  return {
    schemaVersion: 1,
    name: "a scenario",
    file: "scenarios/a.ts",
    runId: "1a2b3c",
    network: "namespaces",
    status: "passed",
    exitCode: 0,
    startedAt: "2025-06-01T10:00:00.000Z",
    durationMs: 1234.4,
    setupMs: 20,
    hosts: [],
    links: [],
    workloads: [],
    faults: [],
    checks: [],
    thresholds: [],
    errors: [],
    log: [],
    bindFailures: null,
    bindWatch: { active: false, reason: "loopback", lost: 0, untracked: 0 },
    ...overrides,
  };
}

function runOf(scenarios: ScenarioReport[]): RunReport {
  return {
    schemaVersion: 1,
    tool: { name: "squall", version: "0.1.0", deno: "2.9.6" },
    startedAt: "2025-06-01T10:00:00.000Z",
    durationMs: 5000,
    exitCode: 1,
    summary: { total: scenarios.length, passed: 0, failed: 0, error: 0, interrupted: 0 },
    scenarios,
  };
}

const FAILING = scenarioReport({
  name: "loss under 2% <with \"quotes\" & 'apostrophes'>",
  status: "failed",
  exitCode: 1,
  checks: [
    { name: "every reply came back", ok: true },
    { name: "server saw the burst", ok: false, detail: "12/20 & more" },
  ],
  thresholds: [
    {
      key: "probe.loss",
      expression: "< 2%",
      ok: false,
      value: 0.024,
      measured: "2.40%",
      reason: "probe.loss is 2.40%, expected < 2%",
    },
    { key: "probe.rtt.p99", expression: " < 5ms", ok: true, value: 0.3, measured: "300us" },
    {
      key: "ghost.loss",
      expression: "< 1%",
      ok: false,
      value: null,
      measured: "-",
      reason: 'no workload named "ghost" ran (workloads: probe)',
    },
  ],
  // ANSI colour, a NUL, U+FFFF and a CDATA terminator, all of which XML cannot carry as is.
  log: [{ atMs: 3, message: "\x1b[31mred\x1b[0m \0 \uffff ]]> end" }],
});

const ERRORED = scenarioReport({
  name: "agent crashed",
  file: null,
  status: "error",
  exitCode: 1,
  errors: ['Agent "server" exited with code 1:\nerror: boom ]]> \x07'],
});

const INTERRUPTED = scenarioReport({ name: "stopped", status: "interrupted", exitCode: 130 });

const PASSED = scenarioReport({
  name: "all good",
  checks: [{ name: "fine", ok: true }],
  thresholds: [
    { key: "probe.loss", expression: "< 1%", ok: true, value: 0, measured: "0.00%" },
  ],
});

function children(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

function only(el: XmlElement, name: string): XmlElement {
  const found = children(el, name);
  assert.equal(found.length, 1, `exactly one <${name}> in <${el.name}>`);
  return found[0]!;
}

// --- Tests ---

Deno.test("toJUnit() writes a well-formed document: testsuites > testsuite per scenario", () => {
  const xml = toJUnit(runOf([FAILING, ERRORED, INTERRUPTED, PASSED]));
  assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n'));
  const root = parseXml(xml);
  assert.equal(root.name, "testsuites");
  assert.deepEqual(root.children.map((c) => c.name), Array(4).fill("testsuite"));
  assert.deepEqual(root.attributes, {
    name: "squall",
    tests: String(6 + 1 + 1 + 3),
    failures: String(3 + 1),
    errors: "2",
    time: "5.000",
    timestamp: "2025-06-01T10:00:00.000Z",
  });
  for (const s of children(root, "testsuite")) {
    for (const key of ["name", "tests", "failures", "errors", "time", "timestamp"]) {
      assert.ok(key in s.attributes, `testsuite has ${key}`);
    }
    const cases = children(s, "testcase");
    assert.equal(cases.length, Number(s.attributes.tests), "tests counts the testcases");
    const failures = cases.flatMap((c) => children(c, "failure"));
    const errors = cases.flatMap((c) => children(c, "error"));
    assert.equal(failures.length, Number(s.attributes.failures));
    assert.equal(errors.length, Number(s.attributes.errors));
    assert.deepEqual(s.children.map((c) => c.name), cases.map(() => "testcase"));
  }
});

Deno.test("toJUnit() gives a failed scenario a failure, and a testcase per check and threshold", () => {
  const suite = only(parseXml(toJUnit(runOf([FAILING]))), "testsuite");
  assert.equal(suite.attributes.name, FAILING.name, "quotes, ampersand and < > round-trip");
  assert.equal(suite.attributes.tests, "6");
  assert.equal(suite.attributes.failures, "4");
  assert.equal(suite.attributes.errors, "0");
  assert.equal(suite.attributes.time, "1.234");
  const cases = children(suite, "testcase");
  assert.deepEqual(cases.map((c) => c.attributes.name), [
    FAILING.name,
    "every reply came back",
    "server saw the burst",
    "threshold probe.loss < 2%",
    "threshold probe.rtt.p99 < 5ms",
    "threshold ghost.loss < 1%",
  ]);
  for (const c of cases) assert.equal(c.attributes.classname, "scenarios/a.ts");

  const whole = cases[0]!;
  const failure = only(whole, "failure");
  assert.equal(failure.attributes.message, "2 thresholds failed; 1 check failed");
  assert.match(failure.text, /probe\.loss was 2\.40%, limit < 2%/);

  assert.deepEqual(cases[1]!.children, [], "a passing check has no failure");
  assert.equal(
    only(cases[2]!, "failure").attributes.message,
    "check failed: 12/20 & more",
  );
  assert.equal(
    only(cases[3]!, "failure").attributes.message,
    "probe.loss was 2.40%, limit < 2%",
    "the measured value and the limit",
  );
  assert.equal(only(cases[3]!, "failure").attributes.type, "threshold");
  assert.deepEqual(cases[4]!.children, [], "a threshold that held has no failure");
  assert.equal(
    only(cases[5]!, "failure").attributes.message,
    'ghost.loss not measured, limit < 1%: no workload named "ghost" ran (workloads: probe)',
    "a reason that says more than the numbers is kept",
  );
});

Deno.test("toJUnit() attaches the scenario's JSON report, intact despite ]]> and forbidden characters", () => {
  const suite = children(parseXml(toJUnit(runOf([FAILING, ERRORED]))), "testsuite")[0]!;
  const out = only(children(suite, "testcase")[0]!, "system-out");
  assert.deepEqual(JSON.parse(out.text), JSON.parse(JSON.stringify(FAILING)));
  const errored = children(parseXml(toJUnit(runOf([ERRORED]))), "testsuite")[0]!;
  const json = only(children(errored, "testcase")[0]!, "system-out").text;
  assert.deepEqual(JSON.parse(json), ERRORED);
});

Deno.test("toJUnit() gives an error or interrupted scenario an error with its messages", () => {
  const root = parseXml(toJUnit(runOf([ERRORED, INTERRUPTED])));
  const [errored, interrupted] = children(root, "testsuite");
  const whole = children(errored!, "testcase")[0]!;
  assert.equal(whole.attributes.classname, "squall", "no file: classname squall");
  const error = only(whole, "error");
  assert.equal(error.attributes.type, "error");
  assert.equal(
    error.attributes.message,
    'Agent "server" exited with code 1:\nerror: boom ]]> \\x07',
    "newlines survive in the attribute; BEL is shown, not written",
  );
  assert.match(error.text, /error: boom \]\]> \\x07/);
  assert.deepEqual(children(whole, "failure"), []);
  assert.equal(errored!.attributes.errors, "1");
  assert.equal(errored!.attributes.failures, "0");

  const stopped = only(children(interrupted!, "testcase")[0]!, "error");
  assert.equal(stopped.attributes.type, "interrupted");
  assert.equal(stopped.attributes.message, "interrupted");
});

Deno.test("toJUnit() gives a passed scenario no failure and no error", () => {
  const suite = only(parseXml(toJUnit(runOf([PASSED]))), "testsuite");
  assert.equal(suite.attributes.tests, "3");
  assert.equal(suite.attributes.failures, "0");
  assert.equal(suite.attributes.errors, "0");
  for (const c of children(suite, "testcase")) {
    assert.deepEqual(c.children.filter((e) => e.name !== "system-out"), []);
  }
});

Deno.test("toJUnit() of a run with no scenarios is an empty testsuites", () => {
  const root = parseXml(toJUnit(runOf([])));
  assert.equal(root.attributes.tests, "0");
  assert.deepEqual(root.children, []);
});
