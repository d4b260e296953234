// The smallest stand-in for an agent, for the setup reference: says it is ready, then
// waits for stdin to close (or to be killed).

if (import.meta.main) {
  await Deno.stdout.write(new TextEncoder().encode(`ready ${Deno.pid}\n`));
  for await (const _ of Deno.stdin.readable) {
    // Nothing to do until EOF.
  }
}
