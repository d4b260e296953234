/**
 * The help of the `squall` command line: its usage, `squall help` and each command's
 * help, and the options each command takes.
 *
 * @module
 */

import { REPORT_SCHEMA_VERSION } from "../runner/report.ts";
import { GRANT_OPTIONS } from "./grants.ts";

/** The help of the permission options, for run and list. */
const GRANTS_HELP =
  `Scenario code (a scenario module's top-level code and its function) runs in a worker
with only the permissions given here, as Deno writes them: by default it may read its
own folder and squall's files, nothing else (no other file, no network from the host,
no environment, no subprocess). The runner keeps its own privileges; workloads, faults
and thresholds are data it acts on.
  --allow-read[=PATH,...]   Also read these files or folders (all, without a value).
  --allow-write[=PATH,...]  Write these files or folders.
  --allow-net[=HOST,...]    Use the network, from the host's namespace.
  --allow-env[=NAME,...]    Read and set these environment variables.
  --allow-run[=PROGRAM,...] Start these programs (as root): subprocesses of its code, and
                            its programs under test (exec), where a name allows that name
                            anywhere (python3: /usr/bin/python3) and a path that file.
  --allow-sys[=API,...]     Read system information (hostname, osRelease, ...).
  --allow-ffi[=PATH,...]    Load these native libraries.
  --allow-import[=HOST,...] Import modules from these hosts.
  --allow-all               Every permission squall has: scenario code then runs as root
                            with everything, as squall itself does.
A permission scenario code lacks is an error that names what it wanted and the option
that allows it.`;

/** The usage lines of every command. */
export const USAGE = `Usage:
  squall run <file|dir>... [--json FILE] [--junit FILE] [--html FILE] [--quiet] [--no-color]
             [--skip-unavailable] [--allow-read[=...]] [--allow-run[=...]] [--allow-all] ...
  squall list <file|dir>... [--allow-read[=...]] ...
  squall doctor [--json]
  squall clean [--dry-run]
  squall help [command]`;

/** The options of each command, as the usage error lists them. */
export const OPTIONS = {
  run: [
    "--json FILE",
    "--junit FILE",
    "--html FILE",
    "--quiet",
    "--no-color",
    "--skip-unavailable",
    ...GRANT_OPTIONS,
    "--help",
    "--version",
  ],
  doctor: ["--json", "--no-color", "--help"],
  clean: ["--dry-run", "--help"],
} as const;

/** The help text. */
export const HELP = `squall: a scriptable network test harness

${USAGE}

Commands:
  run     Run scenarios (a scenario module's default export) and report loss and latency.
          Directories are searched, with their subdirectories, for .ts files; skipped:
          *_test.ts files, and files and directories whose name starts with _ or a dot.
  list    Validate scenarios and list them with their hosts and workloads; creates nothing.
  doctor  Check what this machine supports (privileges, namespaces, veth, XDP, libbpf,
          tools), and for anything missing, what fails without it and how to fix it.
  clean   End the processes that crashed runs left behind, as their run records list
          them (by pid and start time), empty and remove the cgroups they recorded for
          their programs under test, and remove those run records.
  help    Show this text, or a command's: squall help doctor.

Options:
  --json FILE   Also write the report as JSON (schema version ${REPORT_SCHEMA_VERSION}).
  --junit FILE  Also write the report as JUnit XML, for CI (a testsuite per scenario).
  --html FILE   Also write the report as one self-contained HTML page.
  --quiet       Print only the results, not the run header nor progress.
  --no-color    Never colour the output (colour is used only on a terminal).
  --allow-read[=...], --allow-run[=...], ..., --allow-all
                What scenario code may do besides reading its folder (squall help run).
  -h, --help    Show this text.
  -V, --version Show the version.

Exit codes:
  0    every scenario passed
  1    a check or threshold failed, or a workload failed
  2    bad input: an invalid scenario or option, or a report file that cannot be
       written; nothing was created
  3    environment: not root, or a tool is missing (a one-line hint says what to do);
       a report write that still fails after the run (e.g. disk full);
       for doctor: a required item is missing
  130  interrupted (Ctrl-C); what was measured is still reported

Examples:
  sudo deno task squall run scenarios/udp_echo.ts
  deno task squall run scenarios/loopback.ts --json report.json
  deno task squall run scenarios/ --junit junit.xml --html report.html
  deno task squall list scenarios/
  sudo deno task squall doctor`;

/** The help of each command: `squall help <command>`, `squall <command> --help`. */
export const COMMAND_HELP: Readonly<Record<Command, string>> = {
  run:
    `Usage: squall run <file|dir>... [--json FILE] [--junit FILE] [--html FILE] [--quiet] [--no-color]
                  [--skip-unavailable] [--allow-KIND[=...]]... [--allow-all]

Runs scenarios, one after the other, and prints their results. Directories are searched,
with their subdirectories, for .ts files; skipped: *_test.ts files, and files and
directories whose name starts with _ or a dot. Every scenario and option is checked
before anything is created, including that each report file can be written (its
directory exists and takes a new file, or the file exists and opens for writing): bad
input exits 2 and creates nothing.

Options:
  --json FILE   Also write the report as JSON (schema version ${REPORT_SCHEMA_VERSION}).
  --junit FILE  Also write the report as JUnit XML: a <testsuite> per scenario, a
                <testcase> for the scenario and one per check and threshold, with the
                scenario's JSON report as its <system-out>.
  --html FILE   Also write the report as one self-contained HTML page.
  --quiet       Print only the results, not the run header nor progress.
  --no-color    Never colour the output.
  --skip-unavailable
                Skip, and say so, the scenarios that need a tool this machine lacks
                and that only some scenarios need (iptables, for delays and rate
                limits), instead of stopping with exit 3. The demo uses it.

${GRANTS_HELP}

On a terminal a live line shows each running scenario's probes (packets sent, loss and
p99 so far), redrawn in place; otherwise a progress line is printed every 5 s.

Reports are written when the run ends, also when a later scenario could not run on
this machine: they hold the scenarios that ran.

Exit codes: 0 passed, 1 a check, threshold or workload failed, 2 bad input (also a
report file that cannot be written), 3 environment (also a report write that still
fails after the run, e.g. disk full), 130 interrupted.`,
  list: `Usage: squall list <file|dir>... [--allow-KIND[=...]]... [--allow-all]

Validates scenarios and lists them with their hosts, links, workloads and thresholds.
Creates nothing. Exit codes: 0, or 2 when a scenario is invalid.

${GRANTS_HELP}`,
  doctor: `Usage: squall doctor [--json] [--no-color]

Checks what this machine supports and prints one line per item, ✓ or ✗; for each
missing piece, what fails without it and how to fix it. It tries things for real:
namespaces, a veth pair and XDP (native and generic) inside throwaway network
namespaces that vanish with their processes, the bind watch on the bind syscall
tracepoints, libbpf's version through FFI, and the tools on PATH.

Options:
  --json        Print the report as JSON, for machines.
  --no-color    Never colour the output.

Exit codes: 0 when every required item is there (optional ones may be missing),
3 when a required item is missing.`,
  clean: `Usage: squall clean [--dry-run]

Every run records the processes it starts (agents, programs under test) with their
start times, and the cgroup it makes for its programs under test, in a run record: a
file in /run/squall, or in \${TMPDIR:-/tmp}/squall-runs when /run cannot be written
(SQUALL_RUN_DIR overrides both), removed when the run ends. A run record left behind
means its runner crashed. For each such run record whose runner is gone, clean sends
SIGKILL to every recorded process that still runs with its recorded start time (by
pid, never by name; a pid now used by another process is left alone), kills everything
still in the recorded cgroup and removes it (only a cgroup named as squall names a
run's cgroup, right under a cgroup2 mount; any other is left alone), then removes the
run record.
Run records of runs still going are listed, left alone. A run record, or a directory
of them, that is not owned by the user running clean (root) or that others may write
to is refused: it is not read, and nothing it names is touched.

Options:
  --dry-run     Only say what would be done.

Exit codes: 0, or 1 when something recorded could not be removed (its run record is
kept, for another try) or a run record was refused.`,
  help: `Usage: squall help [command]

Shows the help, or a command's help: squall help run, squall help doctor.`,
};

/** A command of the CLI. */
export type Command = "run" | "list" | "doctor" | "clean" | "help";
/** Every command, in the order the help lists them. */
export const COMMANDS: readonly Command[] = ["run", "list", "doctor", "clean", "help"];

/** Whether `name` is a command. */
export function isCommand(name: string): name is Command {
  return (COMMANDS as readonly string[]).includes(name);
}
