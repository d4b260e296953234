import assert from "node:assert/strict";
import { parseYaml, YamlError } from "./_yaml.ts";

Deno.test("parseYaml() reads nested block mappings", () => {
  assert.deepEqual(parseYaml("a: 1\nb:\n  c: x\n  d:\n    e: y\nf: z\n"), {
    a: 1,
    b: { c: "x", d: { e: "y" } },
    f: "z",
  });
});

Deno.test("parseYaml() reads block sequences, indented or at the key's indentation", () => {
  assert.deepEqual(parseYaml("a:\n  - 1\n  - two\nb:\n- x\n- y\nc: 3\n"), {
    a: [1, "two"],
    b: ["x", "y"],
    c: 3,
  });
  assert.deepEqual(parseYaml("- a\n-\n  - b\n  - c\n- - d\n"), ["a", ["b", "c"], ["d"]]);
});

Deno.test("parseYaml() reads a mapping that starts on the dash line", () => {
  const steps = "steps:\n  - name: one\n    uses: a@v1\n    with:\n      x: 1\n  - run: b\n";
  assert.deepEqual(parseYaml(steps), {
    steps: [{ name: "one", uses: "a@v1", with: { x: 1 } }, { run: "b" }],
  });
});

Deno.test("parseYaml() resolves plain scalars by the YAML 1.2 core schema", () => {
  assert.deepEqual(
    parseYaml(
      "n1: null\nn2: ~\nn3:\nt: true\nf: False\ni: -12\no: 0o17\nh: 0xff\nx: 1.5e3\n" +
        "inf: -.inf\nv: 2.9.6\non: push\nyes: no\n",
    ),
    {
      n1: null,
      n2: null,
      n3: null,
      t: true,
      f: false,
      i: -12,
      o: 15,
      h: 255,
      x: 1500,
      inf: -Infinity,
      v: "2.9.6",
      on: "push",
      yes: "no",
    },
  );
  const nan = parseYaml("v: .nan") as { v: number };
  assert.ok(Number.isNaN(nan.v));
});

Deno.test("parseYaml() keeps plain scalars with spaces, colons and hashes inside", () => {
  assert.deepEqual(parseYaml('run: sudo env "PATH=$PATH" npx -y deno@2.9.6 task a#b\n'), {
    run: 'sudo env "PATH=$PATH" npx -y deno@2.9.6 task a#b',
  });
  assert.deepEqual(parseYaml("url: http://example.com:80/x\nkey: a:b\n"), {
    url: "http://example.com:80/x",
    key: "a:b",
  });
  assert.deepEqual(parseYaml("if: always()\n"), { if: "always()" });
});

Deno.test("parseYaml() reads single- and double-quoted scalars", () => {
  assert.deepEqual(
    parseYaml(`a: 'it''s # not a comment'\nb: "tab\\there \\"q\\" \\u00e9"\n"c d": '1'\n`),
    { a: "it's # not a comment", b: 'tab\there "q" é', "c d": "1" },
  );
});

Deno.test("parseYaml() drops comments, whole-line and trailing", () => {
  const text = "# header\na: 1 # one\n\n  # indented comment\nb: # nothing here\n  c: 2\n";
  assert.deepEqual(parseYaml(text), { a: 1, b: { c: 2 } });
});

Deno.test("parseYaml() reads literal block scalars with each chomping", () => {
  const text = "a: |\n  one\n    two\n\n  # kept\n\nb: |-\n  x\n  y\n\nc: |+\n  z\n\n" +
    "d: |\ne: end\n";
  assert.deepEqual(parseYaml(text), {
    a: "one\n  two\n\n# kept\n",
    b: "x\ny",
    c: "z\n\n",
    d: "",
    e: "end",
  });
});

Deno.test("parseYaml() reads a block scalar in a sequence and after a dash mapping", () => {
  const text = "- |\n  a\n  b\n- key: |\n    c\n  other: d\n";
  assert.deepEqual(parseYaml(text), ["a\nb\n", { key: "c\n", other: "d" }]);
});

Deno.test("parseYaml() reads an empty document as null", () => {
  assert.equal(parseYaml(""), null);
  assert.equal(parseYaml("# only a comment\n\n"), null);
});

Deno.test("parseYaml() keeps __proto__ as an ordinary key", () => {
  const value = parseYaml("__proto__: x\n") as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(value, "__proto__")?.value, "x");
});

Deno.test("parseYaml() rejects what it does not support, with the line", () => {
  const cases: [string, number, RegExp][] = [
    ["a: [1, 2]\n", 1, /flow sequences/],
    ["a:\n  b: {c: 1}\n", 2, /flow mappings/],
    ["a: &x 1\n", 1, /anchors/],
    ["a: *x\n", 1, /aliases/],
    ["a: !!str 1\n", 1, /tags/],
    ["a: >\n  folded\n", 1, /folded/],
    ["a: |2\n  x\n", 1, /block scalar header/],
    ['a: "open\n  close"\n', 1, /unterminated quoted scalar/],
    ["---\na: 1\n", 1, /document markers/],
    ["a:\n\tb: 1\n", 2, /tabs/],
    ["a: 1\na: 2\n", 2, /duplicate key "a"/],
    ["a: b: c\n", 1, /": " in a plain scalar/],
    ["a: 1\n  b: 2\n", 2, /bad indentation/],
    ["a: 1\n- b\n", 2, /sequence entry where a mapping key belongs/],
    ["- a\n  - b\n", 2, /bad indentation/],
    ['a: "x" y\n', 1, /after a quoted scalar/],
    ["a: 1\nb\n", 2, /expected "key: value"/],
  ];
  for (const [text, line, message] of cases) {
    assert.throws(
      () => parseYaml(text),
      (e: unknown) => e instanceof YamlError && e.line === line && message.test(e.message),
      JSON.stringify(text),
    );
  }
});

Deno.test("parseYaml() reads the example GitHub Actions workflow as GitHub does", () => {
  const text = Deno.readTextFileSync(
    new URL("../scenarios/_examples/github-actions.yml", import.meta.url),
  );
  const workflow = parseYaml(text) as Record<string, unknown>;
  assert.ok(Object.hasOwn(workflow, "on"), "`on` is a key, not YAML 1.1's true");
  assert.deepEqual(Object.keys(workflow), ["name", "on", "permissions", "jobs"]);
});
