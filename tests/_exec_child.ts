// A process that runs programs under test with startProgram, for tests/exec_test.ts:
// it stands in for an agent, with an agent's permissions.
//
//   _exec_child.ts hold <setpriv> <ss> <python> <sleeper.py>
//     starts the sleeper, prints {"pid": n} and waits to be killed.
//   _exec_child.ts sandboxed <setpriv> <ss> <python> <tcp_server.py> <port>
//     starts the server (ready when the port listens), tries to run `id`, restarts the
//     server, stops it, and prints one JSON line with what happened.

import { startProgram } from "../harness/runner/program.ts";
import type { ExecSettings } from "../harness/agent/protocol.ts";

const [mode, setprivPath, ssPath, python, script, port] = Deno.args;

function settings(command: string[], ready: ExecSettings["ready"]): ExecSettings {
  return {
    command,
    ready,
    readyTimeoutMs: 5000,
    env: {},
    cwd: null,
    stopTimeoutMs: 1000,
    setprivPath: setprivPath!,
    ssPath: ssPath!,
    namespace: null,
    cgroup: null,
  };
}

function print(value: unknown): void {
  console.log(JSON.stringify(value));
}

if (mode === "hold") {
  const program = await startProgram(
    settings([python!, script!], { stdout: { source: "^pid", flags: "" } }),
  );
  print({ pid: (await program.snapshot()).runs[0]!.pid });
  setInterval(() => {}, 60_000);
} else if (mode === "sandboxed") {
  const program = await startProgram(settings([python!, script!, port!], { tcp: Number(port) }));
  let other: string;
  try {
    new Deno.Command("id", { stdout: "null" }).spawn();
    other = "ran";
  } catch (error) {
    other = (error as Error).name;
  }
  await program.control!({ action: "restart" });
  const result = await program.stop();
  print({ other, address: program.address, result });
} else {
  throw new TypeError(`Unknown mode ${JSON.stringify(mode)}`);
}
