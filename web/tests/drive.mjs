// Drives the playground in headless Chromium (Debian's, through playwright-core) and prints
// one JSON object with what the page showed. tests/test_web.py starts the server, runs this
// and compares the text with the unix MicroPython's.
//
//   node web/tests/drive.mjs CONFIG.json
// CONFIG: {url, chromium, screenshot, prompt, settings: {max_new_tokens, temperature, top_k,
//          top_p, seed}, min_tokens, long_prompt, maxfile, big_file, user_model, empty_tokens,
//          stop_test, again_tokens, speed_tokens, big_model, big_model_tokens, fallback_tokens,
//          scripts: {name: python source}, timeout_ms}
import { chromium } from "playwright-core";
import fs from "fs";

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const T = cfg.timeout_ms || 240000;
const out = { console: [], steps: {} };

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (m) => out.console.push(m.text()));
  page.on("pageerror", (e) => out.console.push("pageerror: " + e.message));
  const status = () => page.locator("#status").textContent();
  const waitStatus = (values) => page.waitForFunction(
    (vs) => vs.includes(document.body.dataset.status), values, { timeout: T });

  await page.goto(cfg.url + (cfg.maxfile ? "?maxfile=" + cfg.maxfile : ""));
  await waitStatus(["ready", "error"]);
  out.steps.load = { status: await status(), runtime: await page.locator("#runtime").textContent(),
    model: await page.locator("#model-info").textContent(), message: await page.locator("#message").textContent() };

  const setSettings = async (prompt) => {
    await page.fill("#prompt", prompt);
    for (const [k, v] of Object.entries(cfg.settings)) await page.fill("#" + k, String(v));
  };

  // 1. the main run: type, Generate, watch it stream, wait for the end
  await setSettings(cfg.prompt);
  // streaming: every state the output passes through, recorded in the page as it changes
  // (with the C kernels 20 tokens take a fraction of a second: polling would miss them)
  await page.evaluate(() => {
    window.seenOutputs = new Set();
    new MutationObserver(() => window.seenOutputs.add(document.getElementById("out-gen").textContent))
      .observe(document.getElementById("out-gen"), { childList: true, characterData: true, subtree: true });
  });
  const t0 = Date.now();
  await page.click("#generate");
  // the page must answer while MicroPython works
  let responsiveMax = 0;
  while (true) {
    const t = Date.now();
    const s = await page.evaluate(() => [document.body.dataset.status, document.getElementById("out-gen").textContent,
      Number(document.getElementById("tokens").textContent)]);
    responsiveMax = Math.max(responsiveMax, Date.now() - t);
    if (s[0] !== "generating") break;
    if (Date.now() - t0 > T) throw new Error("generation did not finish in time");
    await page.waitForTimeout(100);
  }
  await page.waitForFunction(
    (n) => Number(document.getElementById("tokens").textContent) >= n || document.body.dataset.status !== "done",
    cfg.min_tokens, { timeout: T });
  out.steps.generate = {
    status: await status(), text: await page.locator("#out-gen").textContent(),
    tokens: Number(await page.locator("#tokens").textContent()), tps: await page.locator("#tps").textContent(),
    heap: await page.locator("#heap").textContent(), gen_ms: Number(await page.evaluate(() => document.body.dataset.genMs)),
    wall_ms: Date.now() - t0, distinct_partial_outputs: await page.evaluate(() => window.seenOutputs.size),
    slowest_page_answer_ms: responsiveMax,
    message: await page.locator("#message").textContent(),
    board_rows: await page.locator("#boards tbody tr").count(),
    board_verdict: await page.locator("#board-verdict").textContent(),
    board_options: await page.locator("#board option").allTextContents(),
  };
  await page.screenshot({ path: cfg.screenshot, fullPage: true });

  // 2. a file that is not a GGUF model: a message, and the model stays loaded
  await page.setInputFiles("#file", { name: "notes.gguf", mimeType: "application/octet-stream",
    buffer: Buffer.from(cfg.bad_file_text || "this is not a model\n".repeat(20)) });
  await page.waitForFunction(() => document.getElementById("message").textContent !== "", null, { timeout: T });
  await waitStatus(["ready", "error"]);
  out.steps.bad_file = { status: await status(), message: await page.locator("#message").textContent(),
    model: await page.locator("#model-info").textContent() };

  // 2b. a file over the page's size limit (the URL's ?maxfile= lowers it): refused before reading
  if (cfg.big_file) {
    await page.evaluate(() => { document.getElementById("message").textContent = ""; });
    await page.setInputFiles("#file", cfg.big_file);
    await page.waitForFunction(() => document.getElementById("message").textContent !== "", null, { timeout: T });
    out.steps.big_file = { status: await status(), message: await page.locator("#message").textContent() };
  }

  // 2c. a real GGUF from the user's disk
  if (cfg.user_model) {
    await page.goto(cfg.url);  // without ?maxfile=
    await waitStatus(["ready", "error"]);
    await page.setInputFiles("#file", cfg.user_model);
    await page.waitForFunction((n) => document.getElementById("model-info").textContent.startsWith(n),
      cfg.user_model.split("/").pop(), { timeout: T });
    await waitStatus(["ready", "error"]);
    out.steps.user_model = { status: await status(), model: await page.locator("#model-info").textContent(),
      message: await page.locator("#message").textContent() };
  }

  // 2d. an empty prompt: the model starts from its end-of-text token
  if (cfg.empty_tokens) {
    await setSettings("");
    await page.fill("#max_new_tokens", String(cfg.empty_tokens));
    await page.click("#generate");
    await waitStatus(["done", "error"]);
    out.steps.empty_prompt = { status: await status(), text: await page.locator("#out-gen").textContent(),
      message: await page.locator("#message").textContent() };
  }

  // 3. a prompt longer than the context
  await setSettings(cfg.long_prompt);
  await page.click("#generate");
  await waitStatus(["done", "error"]);
  out.steps.long_prompt = { status: await status(), message: await page.locator("#message").textContent() };

  // 4. Stop in the middle of a run, then the page works again
  if (cfg.stop_test) {
    await setSettings(cfg.prompt);
    await page.fill("#max_new_tokens", "1000");
    // Stop is clicked inside the page as the second token shows: with the C kernels the whole
    // run can end before a click sent from here would land. Messages the stopped worker had
    // already sent are ignored by the page (it starts a fresh worker), so this is deterministic.
    await page.evaluate(() => {
      const t = document.getElementById("tokens");
      const obs = new MutationObserver(() => {
        if (Number(t.textContent) >= 2) { obs.disconnect(); document.getElementById("stop").click(); }
      });
      obs.observe(t, { childList: true, characterData: true, subtree: true });
    });
    await page.click("#generate");
    await waitStatus(["ready", "error"]);
    out.steps.stop = { status: await status(), text: await page.locator("#out-gen").textContent() };
  }

  // 5. the same run again after all that: the same text
  await setSettings(cfg.prompt);
  await page.fill("#max_new_tokens", String(cfg.again_tokens || cfg.settings.max_new_tokens));
  await page.click("#generate");
  await waitStatus(["done", "error"]);
  out.steps.again = { status: await status(), text: await page.locator("#out-gen").textContent(),
    message: await page.locator("#message").textContent() };

  // 6. tokens/s over a longer run of the same model (the figure the page shows)
  const timedRun = async (tokens) => {
    await setSettings(cfg.prompt);
    await page.fill("#max_new_tokens", String(tokens));
    await page.click("#generate");
    await waitStatus(["done", "error"]);
    return { status: await status(), tokens: Number(await page.locator("#tokens").textContent()),
      tps: Number(await page.locator("#tps").textContent()), gen_ms: Number(await page.evaluate(() => document.body.dataset.genMs)),
      model: await page.locator("#model-info").textContent(), message: await page.locator("#message").textContent(),
      text: await page.locator("#out-gen").textContent() };
  };
  if (cfg.speed_tokens) out.steps.speed = await timedRun(cfg.speed_tokens);

  // 7. a model of several MB from disk: the load shows its progress, then it generates
  if (cfg.big_model) {
    const t1 = Date.now();
    await page.setInputFiles("#file", cfg.big_model);
    await waitStatus(["loading"]);
    const texts = new Set();
    while (true) {
      const s = await page.evaluate(() => [document.body.dataset.status, document.getElementById("progress").hidden,
        document.getElementById("progress-text").textContent]);
      if (!s[1]) texts.add(s[2]);
      if (s[0] !== "loading") break;
      if (Date.now() - t1 > T) throw new Error("the big model did not load in time");
      await page.waitForTimeout(20);
    }
    out.steps.big_model = { status: await status(), load_ms: Date.now() - t1, progress: [...texts],
      model: await page.locator("#model-info").textContent(), message: await page.locator("#message").textContent() };
    if (out.steps.big_model.status === "ready") Object.assign(out.steps.big_model, { run: await timedRun(cfg.big_model_tokens || 30) });
  }

  // 7b. scripts (the kernel test cases) run in a worker of the page's own kind, on the port
  // the page uses: their printed lines come back
  if (cfg.scripts) {
    out.steps.scripts = {};
    for (const [name, code] of Object.entries(cfg.scripts)) {
      out.steps.scripts[name] = await page.evaluate(([code, timeout]) => new Promise((resolve) => {
        const w = new Worker("worker.js", { type: "module" });
        const lines = [];
        const timer = setTimeout(() => { w.terminate(); resolve({ error: "timeout", lines }); }, timeout);
        const end = (r) => { clearTimeout(timer); w.terminate(); resolve(r); };
        w.onmessage = (ev) => {
          const d = ev.data;
          if (d.type === "log") lines.push(d.text);
          else if (d.type === "ready") {
            lines.length = 0;
            w.postMessage({ cmd: "exec", code });
          } else if (d.type === "exec-done") end({ lines });
          else if (d.type === "error") end({ error: d.message, lines });
        };
        w.postMessage({ cmd: "init", heapsize: 16 * 1024 * 1024, kernels: "any",
          model: { name: "model.gguf", url: "model.gguf" } });
      }), [code, cfg.script_timeout_ms || T]);
    }
  }

  // 8. the fallback: npm's port, where the runtime picks its plain Python kernels
  if (cfg.fallback_tokens) {
    await page.goto(cfg.url + "?kernels=python");
    await waitStatus(["ready", "error"]);
    out.steps.fallback = { status: await status(), runtime: await page.locator("#runtime").textContent(),
      model: await page.locator("#model-info").textContent() };
    if (out.steps.fallback.status === "ready") Object.assign(out.steps.fallback, { run: await timedRun(cfg.fallback_tokens) });
  }
} catch (e) {
  out.error = String((e && e.message) || e).split("\n")[0];
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
