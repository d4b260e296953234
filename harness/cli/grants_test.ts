import assert from "node:assert/strict";
import { resolve } from "node:path";
import type { Problem } from "../core/errors.ts";
import { explainDenied, NO_GRANTS, takeGrants, workerPermissions } from "./grants.ts";

Deno.test("takeGrants takes Deno's --allow-* options out of the arguments, and leaves the rest", () => {
  const problems: Problem[] = [];
  const { grants, rest } = takeGrants([
    "run",
    "--allow-read=/etc/hosts,data",
    "x.ts",
    "--allow-run",
    "--allow-env=PATH",
    "--allow-env=HOME",
    "--json",
    "out.json",
  ], problems);
  assert.deepEqual(problems, []);
  assert.deepEqual(rest, ["run", "x.ts", "--json", "out.json"]);
  assert.equal(grants.all, false);
  assert.deepEqual(grants.kinds, {
    read: ["/etc/hosts", resolve("data")],
    run: true,
    env: ["PATH", "HOME"],
  });
});

Deno.test("takeGrants leaves an unknown --allow-* for parseArgs and stops at --", () => {
  const problems: Problem[] = [];
  const { grants, rest } = takeGrants(["run", "--allow-foo", "--", "--allow-read"], problems);
  assert.deepEqual(rest, ["run", "--allow-foo", "--", "--allow-read"]);
  assert.deepEqual(grants, { all: false, kinds: {} });
  assert.deepEqual(problems, []);
});

Deno.test("takeGrants says what is wrong with an empty value or a value for --allow-all", () => {
  const problems: Problem[] = [];
  const { grants } = takeGrants(["--allow-read=", "--allow-net=a,,b", "--allow-all=yes"], problems);
  assert.deepEqual(problems.map((p) => p.where), [
    "--allow-read=",
    "--allow-net=a,,b",
    "--allow-all=yes",
  ]);
  assert.match(problems[0]!.message, /give what to allow after "="/);
  assert.match(problems[2]!.message, /takes no value/);
  assert.deepEqual(grants, { all: false, kinds: {} });
});

Deno.test("a kind allowed whole stays whole when it is also given with a list", () => {
  const problems: Problem[] = [];
  const { grants } = takeGrants(["--allow-read", "--allow-read=/srv"], problems);
  assert.equal(grants.kinds.read, true);
});

Deno.test("by default the worker may read the scenario's folder and what else it is told, and nothing more", () => {
  const p = workerPermissions("/srv/scenarios/a.ts", NO_GRANTS, ["/opt/squall"]);
  assert.deepEqual(p, {
    read: ["/srv/scenarios", "/opt/squall"],
    write: false,
    net: false,
    env: false,
    run: false,
    sys: false,
    ffi: false,
    import: false,
  });
});

Deno.test("grants add to the worker's permissions; --allow-all inherits every one", () => {
  const p = workerPermissions("/srv/a.ts", {
    all: false,
    kinds: { read: ["/etc/hosts"], run: ["curl"], net: true },
  });
  assert.deepEqual(p.read, ["/srv", "/etc/hosts"]);
  assert.deepEqual(p.run, ["curl"]);
  assert.equal(p.net, true);
  assert.equal(p.write, false);
  const all = workerPermissions("/srv/a.ts", { all: true, kinds: {} });
  assert.equal(all.read, "inherit");
  assert.equal(all.run, "inherit");
});

Deno.test("a denied permission is told with the option of squall that allows it", () => {
  assert.match(
    explainDenied(
      'NotCapable: Requires read access to "/etc/shadow", run again with the --allow-read flag',
    ),
    /^NotCapable: Requires read access to "\/etc\/shadow": scenario code runs with only the permissions granted on squall's command line .*; add --allow-read=\/etc\/shadow to allow this$/,
  );
  assert.match(
    explainDenied('Requires run access to "curl", run again with the --allow-run flag'),
    /add --allow-run=curl to allow this/,
  );
  assert.equal(explainDenied("something else"), "something else");
});
