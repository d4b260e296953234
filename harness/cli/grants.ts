/**
 * What scenario code may do: the permissions `squall run` and `squall list` give the
 * worker that imports a scenario module and runs its function. By default, reading the
 * scenario's own folder and nothing else; `--allow-read`, `--allow-run` and their kin
 * add to it, written as Deno writes them (`--allow-read=/etc/hosts,/srv`, or
 * `--allow-read` alone for all), and `--allow-all` gives everything the runner has.
 * `--allow-run` also covers the scenario's programs under test, which squall starts as
 * root: a scenario may start only the programs it allows.
 *
 * @module
 */

import { basename, dirname, resolve } from "node:path";
import type { Problem } from "../core/errors.ts";

/** The kinds of permission scenario code can be granted, as Deno names them. */
export const GRANT_KINDS = ["read", "write", "net", "env", "run", "sys", "ffi", "import"] as const;

/** A kind of permission scenario code can be granted. */
export type GrantKind = typeof GRANT_KINDS[number];

/**
 * What the user granted scenario code: per kind, everything (`true`) or a list of what
 * (paths, hosts, variables, commands, sys calls); a kind not given is denied.
 *
 * @example
 * ```ts
 * import type { Grants } from "./grants.ts";
 * const grants: Grants = { all: false, kinds: { read: ["/etc/hosts"], run: true } };
 * ```
 */
export interface Grants {
  /** `--allow-all`: scenario code gets every permission squall has. */
  all: boolean;
  /** What each granted kind allows. */
  kinds: Partial<Record<GrantKind, true | string[]>>;
}

/** No permission granted (the scenario's folder is still readable). */
export const NO_GRANTS: Grants = { all: false, kinds: {} };

/** The permission options `run` and `list` take, as the usage error lists them. */
export const GRANT_OPTIONS: readonly string[] = [
  ...GRANT_KINDS.map((kind) => `--allow-${kind}[=...]`),
  "--allow-all",
];

const GRANT = /^--allow-([a-z]+)(?:=(.*))?$/s;

/**
 * Takes the `--allow-*` options out of `args` (they are Deno's syntax, which parseArgs
 * does not read: a value only after `=`), adding a problem for each that is malformed.
 *
 * @example
 * ```ts
 * import { takeGrants } from "./grants.ts";
 * import type { Problem } from "../core/errors.ts";
 * const problems: Problem[] = [];
 * const { grants, rest } = takeGrants(["run", "x.ts", "--allow-read=/etc/hosts"], problems);
 * console.assert(rest.length === 2 && JSON.stringify(grants.kinds.read) === '["/etc/hosts"]');
 * ```
 */
export function takeGrants(
  args: readonly string[],
  problems: Problem[],
): { grants: Grants; rest: string[] } {
  const grants: Grants = { all: false, kinds: {} };
  const rest: string[] = [];
  for (const [i, arg] of args.entries()) {
    if (arg === "--") {
      rest.push(...args.slice(i));
      break;
    }
    const match = GRANT.exec(arg);
    if (!match) {
      rest.push(arg);
      continue;
    }
    const [, kind, value] = match as unknown as [string, string, string | undefined];
    if (kind === "all") {
      if (value !== undefined) {
        problems.push({ where: arg, message: '"--allow-all" takes no value' });
      } else grants.all = true;
      continue;
    }
    if (!(GRANT_KINDS as readonly string[]).includes(kind)) {
      rest.push(arg); // parseArgs says it is unknown, with the options there are.
      continue;
    }
    const granted = kind as GrantKind;
    if (value === undefined) {
      grants.kinds[granted] = true;
      continue;
    }
    const items = value.split(",").map((item) => item.trim());
    if (items.some((item) => item === "")) {
      problems.push({
        where: arg,
        message:
          `give what to allow after "=" (comma-separated), or nothing to allow all: --allow-${kind}`,
      });
      continue;
    }
    const before = grants.kinds[granted];
    if (before === true) continue;
    const paths = granted === "read" || granted === "write" || granted === "ffi";
    grants.kinds[granted] = [
      ...(before ?? []),
      ...(paths ? items.map((item) => resolve(item)) : items),
    ];
  }
  return { grants, rest };
}

/**
 * The permissions of the worker that loads and runs the scenario in `file`: reading
 * the scenario's folder and the folders in `alsoRead` (squall's own files, which the
 * scenario imports), and what was granted.
 *
 * @example
 * ```ts
 * import { NO_GRANTS, workerPermissions } from "./grants.ts";
 * const p = workerPermissions("/srv/scenarios/a.ts", NO_GRANTS);
 * console.assert(Array.isArray(p.read) && p.read[0] === "/srv/scenarios" && p.run === false);
 * ```
 */
export function workerPermissions(
  file: string,
  grants: Grants,
  alsoRead: readonly string[] = [],
): Deno.PermissionOptionsObject {
  if (grants.all) {
    return Object.fromEntries(GRANT_KINDS.map((kind) => [kind, "inherit"]));
  }
  const folder = dirname(resolve(file));
  const read = grants.kinds.read;
  const permissions: Deno.PermissionOptionsObject = {};
  for (const kind of GRANT_KINDS) {
    const granted = grants.kinds[kind];
    (permissions as Record<string, unknown>)[kind] = granted ?? false;
  }
  permissions.read = read === true ? true : [folder, ...alsoRead, ...(read ?? [])];
  return permissions;
}

const DENIED = /Requires (\w+) access to "?(.*?)"?, run again with the (--allow-\w+) flag/;

/**
 * A permission error of scenario code told as squall's: what was denied, and the
 * option of `squall run` (or `list`) that would allow it; other messages unchanged.
 *
 * @example
 * ```ts
 * import { explainDenied } from "./grants.ts";
 * const message = explainDenied(
 *   'Requires read access to "/etc/shadow", run again with the --allow-read flag',
 * );
 * console.assert(message.includes("--allow-read=/etc/shadow"));
 * ```
 */
export function explainDenied(message: string): string {
  return message.replace(DENIED, (_, kind: string, what: string, flag: string) => {
    const option = what === "" ? flag : `${flag}=${what}`;
    return `Requires ${kind} access to ${
      what === "" ? "it" : JSON.stringify(what)
    }: scenario code runs with only the permissions granted on squall's command line (by default, reading its own folder and squall's files); add ${option} to allow this`;
  });
}

/**
 * Whether the grants let a scenario start the program under test `program` (an exec
 * workload's `command[0]`), which squall runs as root: `--allow-run` for any program,
 * `--allow-run=NAME` for a program of that name (on PATH or anywhere: `python3` allows
 * `/usr/bin/python3`), `--allow-run=PATH` for that file.
 *
 * @example
 * ```ts
 * import { programAllowed } from "./grants.ts";
 * const grants = { all: false, kinds: { run: ["python3"] } };
 * console.assert(programAllowed("/usr/bin/python3", grants));
 * console.assert(!programAllowed("sh", grants));
 * ```
 */
export function programAllowed(program: string, grants: Grants): boolean {
  const run = grants.kinds.run;
  if (grants.all || run === true) return true;
  return (run ?? []).some((allowed) =>
    allowed.includes("/")
      ? resolve(allowed) === resolve(program)
      : allowed === program || allowed === basename(program)
  );
}

/**
 * Why a program under test may not start, with the option that would allow it.
 *
 * @example
 * ```ts
 * import { programDenied } from "./grants.ts";
 * console.assert(programDenied("/usr/bin/python3").includes("--allow-run=python3"));
 * ```
 */
export function programDenied(program: string): string {
  return `a program under test runs as root, so scenarios may start only the programs allowed on squall's command line: add ${
    allowRunOption(program)
  } to allow ${JSON.stringify(program)} (or --allow-run for any program)`;
}

/**
 * The option that allows the program under test `program`: by its name.
 *
 * @example
 * ```ts
 * import { allowRunOption } from "./grants.ts";
 * console.assert(allowRunOption("/usr/bin/python3") === "--allow-run=python3");
 * ```
 */
export function allowRunOption(program: string): string {
  return `--allow-run=${basename(program)}`;
}
