/**
 * A SO_REUSEPORT group of 4 UDP echo sockets on one port, with 8 probe flows spread
 * across them by the kernel's hash of the 5-tuple. One member (one that has flows)
 * stops reading for 300 ms and then closes, as a worker that hangs and dies: the
 * datagrams of its flows queue up in its socket and die with it, and the kernel
 * re-hashes its flows over the other three. The probes' ledgers name the cause
 * (`closedSocket`), nothing is unexplained, and every flow is served again at the end.
 *
 * Run: `deno task squall run scenarios/reuseport_group.ts` (as root).
 */

import {
  type EchoHandle,
  scenario,
  udpEcho,
  type UdpEchoResult,
  udpProbe,
  type WorkloadPlacement,
} from "../mod.ts";

const FLOWS = 8;
const probes: Record<string, WorkloadPlacement> = {};
const thresholds: Record<string, string> = {
  "echo.group.discarded": "> 0",
  "echo.replied": "> 0",
};
for (let i = 0; i < FLOWS; i++) {
  probes[`flow${i}`] = {
    on: "client",
    run: udpProbe({ target: "server:7000", duration: "2s", rate: 200, timeout: "1s" }),
  };
  thresholds[`flow${i}.lost.unexplained`] = "== 0";
  thresholds[`flow${i}.lost.overflow`] = "== 0";
}

export default scenario("a 4-member SO_REUSEPORT group loses a member", {
  hosts: ["client", "server"],
  links: [["client", "server"]],
  workloads: {
    echo: { on: "server", run: udpEcho({ port: 7000, group: 4 }) },
    ...probes,
  },
  thresholds,
}, async (t) => {
  const echo = t.workload("echo") as EchoHandle<UdpEchoResult>;
  await t.sleep("700ms");
  const members = (await echo.snapshot()).group!.members;
  const busiest = members.reduce((a, b) => b.flows > a.flows ? b : a);
  t.log(
    `member flows: ${members.map((m) => m.flows).join(" ")}; stopping member ${busiest.member}`,
  );
  await echo.stopMember(busiest.member, { hang: "300ms" });
  const after = await echo.snapshot();
  t.check(
    "the stopped member's queued datagrams are counted",
    after.group!.members[busiest.member]!.discarded > 0,
    `${after.group!.members[busiest.member]!.discarded} discarded`,
  );
});
