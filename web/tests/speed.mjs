// Times generation in the playground (headless Chromium, Debian's, through playwright-core)
// for host_tools/bench_playground.py: prints one JSON object with the page's own figures.
//
//   node web/tests/speed.mjs CONFIG.json
// CONFIG: {url, chromium, prompt, runs: [{kernels: "any"|"python", model: FILE|null,
//          tokens, temperature, repeats}], top_k, top_p, seed, timeout_ms}
// For each run: open the page (?kernels=python for the fallback), load the model from disk
// when one is given, then generate `repeats` times; the page's tokens/s (generated tokens
// over the time after the prompt) and its kernels are reported.
import { chromium } from "playwright-core";
import fs from "fs";

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const T = cfg.timeout_ms || 600000;
const out = { runs: [] };
const browser = await chromium.launch({
  executablePath: cfg.chromium,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  const waitStatus = (values) => page.waitForFunction(
    (vs) => vs.includes(document.body.dataset.status), values, { timeout: T });
  for (const run of cfg.runs) {
    await page.goto(cfg.url + (run.kernels === "python" ? "?kernels=python" : ""));
    await waitStatus(["ready", "error"]);
    if (run.model) {
      await page.setInputFiles("#file", run.model);
      await waitStatus(["loading"]);
      await waitStatus(["ready", "error"]);
    }
    const res = { ...run, model_info: await page.locator("#model-info").textContent(),
      runtime: await page.locator("#runtime").textContent(), tps: [], generated: [] };
    await page.fill("#prompt", cfg.prompt);
    for (const [k, v] of [["max_new_tokens", run.tokens], ["temperature", run.temperature], ["top_k", cfg.top_k],
      ["top_p", cfg.top_p], ["seed", cfg.seed]]) await page.fill("#" + k, String(v));
    for (let i = 0; i < run.repeats; i++) {
      await page.click("#generate");
      await waitStatus(["done", "error"]);
      res.generated.push(Number(await page.evaluate(() => document.body.dataset.tokens)));
      const ms = Number(await page.evaluate(() => document.body.dataset.genMs));
      res.tps.push(ms > 0 ? res.generated[i] * 1000 / ms : null);
    }
    res.message = await page.locator("#message").textContent();
    out.runs.push(res);
  }
} catch (e) {
  out.error = String((e && e.message) || e).split("\n")[0];
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
