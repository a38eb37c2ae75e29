// A real browser: the built package (build/ + dist/) and the real-kernel fixtures served on
// 127.0.0.1, Debian's Chromium driven headless with playwright-core, the page importing the ESM
// package as a browser does (relative .js imports, fetch of build/release.wasm). Its results
// must equal what the same code computes in Node.
//
// Without the browser (Debian's `chromium`, at /usr/bin/chromium or $CHROMIUM_PATH) the suite
// prints one line saying how to install it and skips; under CI=true a missing browser fails it.
import { createServer, type Server } from "node:http";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { fixtureNames, FIXTURES } from "./fixtures.js";
// @ts-expect-error plain JavaScript shared with the page
import { fixtureSummary, kernelWorkload } from "./browser/workload.js";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const HAVE_BROWSER = existsSync(CHROMIUM);
if (!HAVE_BROWSER) {
  const how = `Debian's chromium is not installed (no ${CHROMIUM}); install it with: apt-get install -y chromium`;
  if (process.env.CI === "true") throw new Error(`browser test required under CI=true: ${how}`);
  process.stderr.write(`browser test skipped: ${how}\n`);
}

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const TYPES: Record<string, string> = {
  ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".html": "text/html",
  ".txt": "text/plain", ".gz": "application/octet-stream", ".map": "application/json",
};
// What the page may load: the package as built, the page's workload, the fixtures.
const MOUNTS: Array<[string, string]> = [
  ["/dist/", join(ROOT, "dist")],
  ["/build/", join(ROOT, "build")],
  ["/test/browser/", join(ROOT, "test/browser")],
  ["/fixtures/", FIXTURES],
];

describe.skipIf(!HAVE_BROWSER)("in Chromium", () => {
  let server: Server;
  let origin: string;
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  const requested: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      requested.push(path);
      if (path === "/") {
        res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><meta charset=utf-8><title>wasm-mmu</title>");
        return;
      }
      for (const [prefix, dir] of MOUNTS) {
        if (!path.startsWith(prefix)) continue;
        const file = normalize(join(dir, path.slice(prefix.length)));
        if (!file.startsWith(dir)) break;
        try {
          if (!statSync(file).isFile()) break;
          res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
          return;
        } catch {
          break;
        }
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const addr = server.address();
    origin = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
    userDataDir = mkdtempSync(join(tmpdir(), "wasm-mmu-chromium-"));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(origin + "/");
    expect(errors).toEqual([]);
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await new Promise((resolve) => server?.close(resolve));
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  /**
   * Runs a workload function of workload.js in the page, on the package loaded from /dist/. The
   * page code is a string: vitest rewrites import() in functions it compiles.
   */
  async function inPage(fn: "fixtureSummary" | "kernelWorkload", arg: string): Promise<unknown> {
    const script = `(async () => {
      const mmu = await import("/dist/index.js");
      const w = await import("/test/browser/workload.js");
      const files = {
        text: async (p) => (await fetch("/fixtures/" + p)).text(),
        gunzip: async (p) => {
          const body = (await fetch("/fixtures/" + p)).body.pipeThrough(new DecompressionStream("gzip"));
          return new Uint8Array(await new Response(body).arrayBuffer());
        },
      };
      const r = ${JSON.stringify(fn)} === "fixtureSummary" ? await w.fixtureSummary(mmu, files, ${JSON.stringify(arg)}) : await w.kernelWorkload(mmu, ${JSON.stringify(arg)});
      return JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? "0x" + v.toString(16) : v));
    })()`;
    return JSON.parse((await page.evaluate(script)) as string);
  }

  async function inNode(fn: "fixtureSummary" | "kernelWorkload", arg: string): Promise<unknown> {
    const mmu = await import(new URL("../dist/index.js", import.meta.url).href);
    const files = {
      text: async (p: string) => readFileSync(join(FIXTURES, p), "utf8"),
      gunzip: async (p: string) => new Uint8Array(gunzipSync(readFileSync(join(FIXTURES, p)))),
    };
    const r = fn === "fixtureSummary" ? await fixtureSummary(mmu, files, arg) : await kernelWorkload(mmu, arg);
    return JSON.parse(JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v)));
  }

  it("the page loaded the package from dist/ and the core from build/ over HTTP", async () => {
    const mode = await page.evaluate(`(async () => {
      const { Machine } = await import("/dist/index.js");
      const m = await Machine.create({ ramBytes: 1 << 20 });
      return m.mode;
    })()`);
    expect(mode).toBe("off");
    expect(requested).toContain("/build/release.wasm");
    expect(requested.some((p) => p.startsWith("/dist/wasm/"))).toBe(true);
  });

  it.each(fixtureNames())("fixture %s: mappings, ranges, translations and A/D bytes equal Node's", async (name) => {
    const [browser, node] = await Promise.all([inPage("fixtureSummary", name), inNode("fixtureSummary", name)]);
    expect(browser).toEqual(node);
    expect((node as { mappings: number }).mappings).toBeGreaterThan(1000);
  }, 120_000);

  it("fork/exit workload in every design equals Node's", async () => {
    const { DESIGN_NAMES } = await import(new URL("../dist/index.js", import.meta.url).href);
    for (const design of DESIGN_NAMES as string[]) {
      const [browser, node] = await Promise.all([inPage("kernelWorkload", design), inNode("kernelWorkload", design)]);
      expect(browser, design).toEqual(node);
      const after = (node as { after: { freeFrames: number; totalFrames: number } }).after;
      expect(after.freeFrames, design).toBeGreaterThan(0);
    }
  }, 120_000);
});
