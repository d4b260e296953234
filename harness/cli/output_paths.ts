/**
 * The report files of `squall run` (--json, --junit, --html): checked before anything is
 * created, so that a path that cannot be written is bad input (exit 2), and written
 * when the run ends.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import type { Problem } from "../core/errors.ts";
import type { RunReport } from "../runner/report.ts";
import { renderHtml } from "../render/html.ts";
import { toJUnit } from "../render/junit.ts";

/** The kinds of report file, as their options are named. */
const REPORT_KINDS = ["json", "junit", "html"] as const;

/** What `run` writes besides the terminal report. */
export interface Outputs {
  /** --json: the JSON report. */
  json?: string;
  /** --junit: the JUnit XML report. */
  junit?: string;
  /** --html: the HTML report. */
  html?: string;
}

/**
 * Checks the report paths given to `command`; adds a problem for each that `list` does
 * not take, that cannot be written, or that another option names too.
 */
export function checkOutputs(
  values: { readonly [K in (typeof REPORT_KINDS)[number]]?: string | undefined },
  command: "run" | "list",
  problems: Problem[],
): Outputs {
  const outputs: Outputs = {};
  const seen = new Map<string, string>();
  for (const kind of REPORT_KINDS) {
    const path = values[kind];
    if (path === undefined) continue;
    const option = `--${kind}`;
    if (command === "list") {
      problems.push({ where: option, message: `list writes no report: ${option} goes with run` });
      continue;
    }
    const checked = checkOutputPath(path, option);
    const same = seen.get(resolve(path));
    if (same !== undefined) {
      checked.push({ where: option, message: `"${path}" is also given to ${same}` });
    }
    seen.set(resolve(path), option);
    problems.push(...checked);
    outputs[kind] = path;
  }
  return outputs;
}

/**
 * Writes the run's report files, saying each that was written, and each that could not
 * be (the others are still written); resolves with whether all were.
 */
export async function writeOutputs(
  run: RunReport,
  outputs: Outputs,
  io: { out(line: string): void; err(line: string): void },
): Promise<boolean> {
  const writes: [path: string | undefined, what: string, render: (r: RunReport) => string][] = [
    [outputs.json, "JSON report", (r) => JSON.stringify(r, null, 2) + "\n"],
    [outputs.junit, "JUnit XML report", toJUnit],
    [outputs.html, "HTML report", renderHtml],
  ];
  let written = true;
  for (const [path, what, render] of writes) {
    if (path === undefined) continue;
    try {
      await Deno.writeTextFile(path, render(run));
      io.out(`${what} written to ${path}`);
    } catch (error) {
      // The others are still written; CI must not take a missing report for a pass.
      written = false;
      io.err(
        `squall: cannot write the ${what} to "${path}": ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
  }
  return written;
}

/**
 * Checks, before the run, that a report can be written to `path`, leaving nothing
 * behind: a file that exists must open for writing (it is not truncated here); for a new
 * file, a uniquely named file is created in its directory and removed at once. A write
 * that still fails after the run (e.g. the disk is full by then) is exit 3.
 */
function checkOutputPath(path: string, option: string): Problem[] {
  const target = resolve(path);
  const dir = dirname(target);
  try {
    const info = Deno.statSync(dir);
    if (!info.isDirectory) return [{ where: option, message: `"${dir}" is not a directory` }];
  } catch {
    return [{
      where: option,
      message: `cannot write "${path}": directory "${dir}" does not exist`,
    }];
  }
  let existing: Deno.FileInfo | undefined;
  try {
    existing = Deno.statSync(target);
  } catch {
    // Does not exist yet (or is a dangling link): a new file is made in the directory.
  }
  if (existing?.isDirectory) return [{ where: option, message: `"${path}" is a directory` }];
  if (existing !== undefined) {
    // Opening a FIFO would block, and devices are written as they are: only regular files.
    if (!existing.isFile) return [];
    try {
      Deno.openSync(target, { write: true }).close();
    } catch (error) {
      return [{
        where: option,
        message: `cannot write "${path}": the file cannot be opened for writing (${
          osReason(error)
        })`,
      }];
    }
    return [];
  }
  const probe = join(dir, `.squall-write-check-${crypto.randomUUID()}`);
  try {
    Deno.openSync(probe, { write: true, createNew: true }).close();
  } catch (error) {
    return [{
      where: option,
      message: `cannot write "${path}": cannot create a file in directory "${dir}" (${
        osReason(error)
      })`,
    }];
  }
  try {
    Deno.removeSync(probe);
  } catch (error) {
    return [{
      where: option,
      message: `cannot remove the file "${probe}" made to check that "${path}" can be written (${
        osReason(error)
      })`,
    }];
  }
  return [];
}

/** The reason of a system call's error, without the error number and path Deno adds. */
function osReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const reason = message.replace(/ \(os error \d+\)[\s\S]*$/, "");
  return reason.charAt(0).toLowerCase() + reason.slice(1);
}
