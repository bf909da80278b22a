// Opens the page in headless Chromium, feeds it photos through its file input and writes what it
// found as JSON: node run_page.mjs URL LIST.json OUT.json, LIST.json being an array of file paths.
// Used by tests/test_web_demo.py and benchmarks/web.py. $CHROMIUM names the browser binary.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

const [url, listPath, outPath] = process.argv.slice(2);
const files = JSON.parse(readFileSync(listPath, "utf8"));
const profile = mkdtempSync(join(tmpdir(), "edge-detect-chromium-"));
// Root in a container needs --no-sandbox; the rest keeps a headless run off the network.
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    `--user-data-dir=${profile}`,
  ],
});
const requests = [];
try {
  const page = await browser.newPage();
  // LiteRT's wasm prints its INFO lines as console errors: shown only when asked for.
  if (process.env.EDGE_DETECT_WEB_DEBUG) page.on("console", (m) => console.error("page:", m.text()));
  page.on("pageerror", (e) => console.error("page error:", e.message));
  page.on("requestfinished", async (r) => {
    const resp = r.response();
    let bytes = 0;
    try { bytes = (await resp.buffer()).length; } catch { /* redirected or gone */ }
    requests.push({ url: r.url(), status: resp ? resp.status() : 0, bytes });
  });
  const opened = Date.now();
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.edgeDetect && (window.edgeDetect.readyMs !== null || window.edgeDetect.loadError), { timeout: 120000 });
  const load = await page.evaluate(() => ({ readyMs: window.edgeDetect.readyMs, error: window.edgeDetect.loadError || null }));
  if (load.error) throw new Error(`page could not load its models: ${load.error}`);
  const input = await page.$("#files");
  const started = Date.now();
  if (files.length) {
    await input.uploadFile(...files);
    await page.waitForFunction((n) => window.edgeDetect.done >= n, { timeout: 600000, polling: 100 }, files.length);
  }
  const state = await page.evaluate(() => ({
    results: window.edgeDetect.results, firstVerdictMs: window.edgeDetect.firstVerdictMs,
    modelBytes: window.edgeDetect.modelBytes,
  }));
  writeFileSync(outPath, JSON.stringify({
    files, results: state.results, ready_ms: load.readyMs, first_verdict_ms: state.firstVerdictMs,
    feed_ms: Date.now() - started, page_open_to_ready_ms: started - opened,
    requests, browser: await browser.version(), model_bytes: state.modelBytes,
  }));
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
