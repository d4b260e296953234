// The HTML report in a real browser: headless Chromium (Debian package `chromium`)
// renders the fixture report, and the tests check the DOM it built, that it loaded
// nothing but the page itself (through the DevTools protocol), and that its screenshot
// shows the plots. Each Chromium gets its own profile and HOME in a temporary
// directory, removed afterwards; no process of it (found by a mark in its environment)
// may outlive its test.

import assert from "node:assert/strict";
import { renderHtml } from "../harness/render/html.ts";
import { EVIL_NAME, sampleReport } from "./fixtures/reports/sample_report.ts";

const CHROMIUM = "/usr/bin/chromium";
/** Without the background-networking flags Chromium dials out, and is refused here. */
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const RUN_TIMEOUT_MS = 60_000;

/** The plots the fixture report has, by kind: what every test expects to find. */
const EXPECTED_PLOTS: Record<string, number> = {
  // Two UDP flows, two per TCP probe, the storm's connect times, the churn's rebinds.
  "cdf": 6,
  "histogram": 2,
  "loss-timeline": 2,
  "ledger": 1,
  "storm-timeline": 1,
  "storm-scatter": 1,
};
const PLOT_COUNT = Object.values(EXPECTED_PLOTS).reduce((a, b) => a + b, 0);

function requireChromium(): void {
  try {
    Deno.statSync(CHROMIUM);
  } catch {
    throw new Error(
      `Cannot run the browser tests: Chromium is not installed at "${CHROMIUM}" ` +
        "(install the Debian package: apt-get install -y chromium)",
    );
  }
}

interface Page {
  dir: string;
  url: string;
}

/** Writes the fixture report (or `html`) to a new temporary directory; removes it afterwards. */
async function withPage(
  fn: (page: Page) => Promise<void>,
  html = renderHtml(sampleReport()),
): Promise<void> {
  requireChromium();
  const dir = await Deno.makeTempDir({ prefix: "squall-html-browser-" });
  try {
    const file = `${dir}/report.html`;
    await Deno.writeTextFile(file, html);
    await fn({ dir, url: `file://${file}` });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The environment variable that marks every process of one Chromium run, children too. */
const MARK = "SQUALL_HTML_BROWSER_TEST";

/** Process ids whose environment carries `MARK=mark`. */
function markedProcesses(mark: string): number[] {
  const needle = `\0${MARK}=${mark}\0`;
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const environ = `\0${Deno.readTextFileSync(`/proc/${entry.name}/environ`)}`;
      if (environ.includes(needle)) found.push(Number(entry.name));
    } catch {
      // Gone meanwhile, or a kernel thread.
    }
  }
  return found;
}

/**
 * Waits up to 5 s for every process of a Chromium run (its crash handlers exit a moment
 * after it) to end; kills the ones left, by pid, and fails.
 */
async function assertNoneLeft(mark: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  let left = markedProcesses(mark);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = markedProcesses(mark);
  }
  for (const pid of left) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  assert.deepEqual(left, [], `Chromium processes left behind: ${left.join(", ")}`);
}

/** The Chromium command for one run, its profile and HOME in `dir`. */
function chromium(dir: string, name: string, args: string[], cdp = false) {
  const mark = crypto.randomUUID();
  const env = { HOME: dir, XDG_CONFIG_HOME: dir, XDG_CACHE_HOME: dir, [MARK]: mark };
  const all = [...FLAGS, `--user-data-dir=${dir}/profile-${name}`, ...args];
  // The DevTools pipe is fds 3 (in) and 4 (out): our stdin and stdout, through bash.
  const command = cdp
    ? new Deno.Command("bash", {
      args: ["-c", 'exec "$0" "$@" 3<&0 4>&1 1>&2', CHROMIUM, "--remote-debugging-pipe", ...all],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
      env,
    })
    : new Deno.Command(CHROMIUM, {
      args: all,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env,
    });
  return { command, mark };
}

/** Runs Chromium to completion; returns its stdout and stderr. */
async function runChromium(
  dir: string,
  name: string,
  args: string[],
): Promise<{ stdout: string; stderr: string }> {
  const { command, mark } = chromium(dir, name, args);
  const child = command.spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
  try {
    const out = await child.output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    assert.ok(out.success, `Chromium exited with ${out.code}: ${decode(out.stderr).slice(-2000)}`);
    return { stdout: decode(out.stdout), stderr: decode(out.stderr) };
  } finally {
    clearTimeout(timer);
    await assertNoneLeft(mark);
  }
}

// deno-lint-ignore no-explicit-any
type Message = { id?: number; method?: string; params?: any; result?: any; error?: unknown };

/** What a page did while it loaded, seen through the DevTools protocol. */
interface LoadRecord {
  /** Every URL requested. */
  requests: string[];
  /** Requests that failed, with why. */
  failures: string[];
  /** Console and log entries of level error or warning, and uncaught exceptions. */
  errors: string[];
  /** Per `<svg>`: its first child's tag, its title, and its rendered size. */
  svgs: { first: string; title: string; width: number; height: number }[];
}

/** Loads `url` in Chromium driven over `--remote-debugging-pipe`, recording what it fetched. */
async function loadWithDevTools(dir: string, name: string, url: string): Promise<LoadRecord> {
  const { command, mark } = chromium(
    dir,
    name,
    ["--window-size=1280,2000", "about:blank"],
    true,
  );
  const child = command.spawn();
  const writer = child.stdin.getWriter();
  const waiting = new Map<number, (m: Message) => void>();
  const events: Message[] = [];
  let nextId = 0;
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of child.stdout) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf("\0"); end >= 0; end = buffer.indexOf("\0")) {
        const message = JSON.parse(buffer.slice(0, end)) as Message;
        buffer = buffer.slice(end + 1);
        const resolve = message.id === undefined ? undefined : waiting.get(message.id);
        if (resolve) resolve(message);
        else events.push(message);
      }
    }
  })();
  const send = (method: string, params: object = {}, sessionId?: string): Promise<Message> => {
    const id = ++nextId;
    const reply = new Promise<Message>((resolve) => waiting.set(id, resolve));
    const message = JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) });
    writer.write(new TextEncoder().encode(`${message}\0`));
    return reply.then((m) => {
      if (m.error) throw new Error(`DevTools ${method} failed: ${JSON.stringify(m.error)}`);
      return m;
    });
  };
  const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
  try {
    const targets = await send("Target.getTargets");
    const page = (targets.result.targetInfos as { type: string; targetId: string }[])
      .find((t) => t.type === "page");
    assert.ok(page, "Chromium opened a page");
    const attached = await send("Target.attachToTarget", {
      targetId: page.targetId,
      flatten: true,
    });
    const session = attached.result.sessionId as string;
    for (const domain of ["Network", "Log", "Runtime", "Page"]) {
      await send(`${domain}.enable`, {}, session);
    }
    await send("Page.navigate", { url }, session);
    const deadline = Date.now() + 20_000;
    while (!events.some((e) => e.method === "Page.loadEventFired")) {
      assert.ok(Date.now() < deadline, "the page loaded within 20 s");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const evaluated = await send("Runtime.evaluate", {
      expression: `[...document.querySelectorAll("svg")].map((svg) => {
        const box = svg.getBoundingClientRect();
        return {
          first: svg.firstElementChild?.tagName ?? "",
          title: svg.querySelector(":scope > title")?.textContent ?? "",
          width: box.width,
          height: box.height,
        };
      })`,
      returnByValue: true,
    }, session);
    await send("Browser.close");
    const status = await child.status;
    assert.ok(status.success, `Chromium exited with ${status.code}`);
    const of = (method: string) => events.filter((e) => e.method === method).map((e) => e.params);
    return {
      requests: of("Network.requestWillBeSent").map((p) => p.request.url as string),
      failures: of("Network.loadingFailed").map((p) => `${p.type}: ${p.errorText}`),
      errors: [
        ...of("Log.entryAdded").filter((p) =>
          p.entry.level === "error" || p.entry.level === "warning"
        )
          .map((p) => `${p.entry.text} (${p.entry.url ?? ""})`),
        ...of("Runtime.exceptionThrown").map((p) => JSON.stringify(p.exceptionDetails)),
        ...of("Runtime.consoleAPICalled").filter((p) => p.type === "error" || p.type === "warning")
          .map((p) => JSON.stringify(p.args)),
      ],
      svgs: evaluated.result.result.value,
    };
  } finally {
    clearTimeout(timer);
    await writer.close().catch(() => {});
    await reading.catch(() => {});
    await child.status;
    await assertNoneLeft(mark);
  }
}

Deno.test("Chromium renders every plot of the report, each titled, and runs no script", async () => {
  await withPage(async ({ dir, url }) => {
    const { stdout: dom, stderr } = await runChromium(dir, "dom", [
      "--enable-logging=stderr",
      "--v=0",
      "--dump-dom",
      url,
    ]);
    for (const [kind, count] of Object.entries(EXPECTED_PLOTS)) {
      const found = dom.match(new RegExp(`<svg class="plot ${kind}"`, "g"))?.length ?? 0;
      assert.equal(found, count, `${count} "${kind}" plot(s) in the rendered DOM`);
    }
    const titles = [...dom.matchAll(/<svg[^>]*>\s*<title>([^<]+)<\/title>/g)].map((m) => m[1]!);
    assert.equal(titles.length, PLOT_COUNT, "every svg starts with its title");
    assert.ok(titles.includes("Latency CDF: round-trip time of probe (client → 198.18.0.2:7000)"));
    assert.ok(titles.includes("Loss ledger of probe (client → 198.18.0.2:7000)"));
    assert.ok(
      titles.includes(
        "Reconnect storm storm (client → 198.18.0.2:8080): attempts over time, with the fault timeline",
      ),
    );
    // The hostile name stayed text: no element came of it.
    assert.ok(!/<script/i.test(dom), "no script element in the DOM");
    const escaped = EVIL_NAME.replaceAll("&", "&amp;").replaceAll("<", "&lt;")
      .replaceAll(">", "&gt;");
    assert.ok(dom.includes(escaped), "the scenario name shows as text");
    const failed = stderr.split("\n").filter((l) => /Failed to load resource|net::ERR_/.test(l));
    assert.deepEqual(failed, [], "nothing failed to load");
  });
});

Deno.test("Chromium loads nothing but the report itself, with no errors", async () => {
  await withPage(async ({ dir, url }) => {
    const record = await loadWithDevTools(dir, "cdp", url);
    assert.deepEqual(record.requests, [url]);
    assert.deepEqual(record.failures, []);
    assert.deepEqual(record.errors, []);
    assert.equal(record.svgs.length, PLOT_COUNT);
    for (const svg of record.svgs) {
      assert.equal(svg.first.toLowerCase(), "title", svg.title);
      assert.ok(svg.width > 300 && svg.height > 100, `${svg.title}: ${svg.width}x${svg.height}`);
    }
  });
});

Deno.test("the load check sees a page that fetches something, and its failure", async () => {
  // The check above would pass vacuously if the protocol reported nothing.
  const broken = `<!doctype html><html><head><meta charset="utf-8"><title>broken</title></head>
<body><p>A missing image:</p><img src="missing.png" alt="missing"></body></html>`;
  await withPage(async ({ dir, url }) => {
    const record = await loadWithDevTools(dir, "control", url);
    assert.deepEqual(record.requests, [url, url.replace("report.html", "missing.png")]);
    assert.deepEqual(record.failures, ["Image: net::ERR_FILE_NOT_FOUND"]);
    assert.ok(record.errors.some((e) => e.includes("Failed to load resource")));
  }, broken);
});

Deno.test("Chromium's screenshot of the report shows the plots in colour", async () => {
  await withPage(async ({ dir, url }) => {
    const file = `${dir}/report.png`;
    await runChromium(dir, "shot", [`--screenshot=${file}`, "--window-size=1280,2000", url]);
    const png = await Deno.readFile(file);
    const keep = Deno.env.get("SQUALL_HTML_SCREENSHOT");
    if (keep) await Deno.writeFile(keep, png);
    assert.ok(png.length > 100_000, `a screenshot of ${png.length} bytes is too small`);
    const image = await decodePng(png);
    assert.equal(image.width, 1280);
    assert.equal(image.height, 2000);
    // Pixels of the colours the plots are drawn in (exact inside bars, near on lines).
    const count = countColours(image, {
      "CDF line": [0x00, 0x72, 0xb2],
      "histogram bars": [0x00, 0x9e, 0x73],
      "fault band": [0xee, 0xeb, 0xff],
    });
    assert.ok(count["CDF line"]! > 300, `CDF line: ${count["CDF line"]} pixels`);
    assert.ok(count["histogram bars"]! > 5_000, `histogram: ${count["histogram bars"]} pixels`);
    assert.ok(count["fault band"]! > 20_000, `fault bands: ${count["fault band"]} pixels`);
  });
});

interface Image {
  width: number;
  height: number;
  channels: number;
  pixels: Uint8Array;
}

/** Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes). */
async function decodePng(bytes: Uint8Array): Promise<Image> {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  assert.deepEqual([...bytes.subarray(0, 8)], signature, "a PNG file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0, height = 0, depth = 0, colour = 0, interlace = 0;
  const data: Uint8Array<ArrayBuffer>[] = [];
  for (let at = 8; at < bytes.length;) {
    const length = view.getUint32(at);
    const type = new TextDecoder().decode(bytes.subarray(at + 4, at + 8));
    const body = bytes.slice(at + 8, at + 8 + length);
    if (type === "IHDR") {
      const b = new DataView(body.buffer);
      [width, height, depth, colour, interlace] = [
        b.getUint32(0),
        b.getUint32(4),
        body[8]!,
        body[9]!,
        body[12]!,
      ];
    } else if (type === "IDAT") data.push(body);
    else if (type === "IEND") break;
    at += 12 + length;
  }
  const channels = colour === 6 ? 4 : colour === 2 ? 3 : 0;
  assert.ok(depth === 8 && channels > 0 && interlace === 0, `PNG type ${colour}, depth ${depth}`);
  const stream = new Blob(data).stream().pipeThrough(new DecompressionStream("deflate"));
  const raw = new Uint8Array(await new Response(stream).arrayBuffer());
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? out[i - channels]! : 0;
      const b = up[i]!;
      const c = i >= channels ? up[i - channels]! : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[i] = (line[i]! + predictor) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/** Pixels within a small distance of each named colour. */
function countColours(
  image: Image,
  colours: Record<string, [number, number, number]>,
): Record<string, number> {
  const counts: Record<string, number> = {};
  const named = Object.entries(colours);
  for (const [name] of named) counts[name] = 0;
  for (let i = 0; i < image.pixels.length; i += image.channels) {
    const [r, g, b] = [image.pixels[i]!, image.pixels[i + 1]!, image.pixels[i + 2]!];
    for (const [name, [cr, cg, cb]] of named) {
      if (Math.abs(r - cr) + Math.abs(g - cg) + Math.abs(b - cb) <= 12) counts[name]!++;
    }
  }
  return counts;
}
