// The page: settings, streaming output, stats, board verdicts. The interpreter lives in
// worker.js; this thread only sends it commands and shows what comes back, so the page
// stays responsive whatever MicroPython is doing.

const $ = (id) => document.getElementById(id);
const PARAMS = new URLSearchParams(location.search);
// MicroPython's heap to start with; both ports add heap areas as a model needs them, so a
// small start keeps the heap walks of gc.mem_alloc() (the heap shown) short
const HEAPSIZE = Number(PARAMS.get("heap")) || 4 * 1024 * 1024;
// ?kernels=python: skip the port with the C kernels (to compare, or if it misbehaves)
const KERNELS = PARAMS.get("kernels") === "python" ? "python" : "any";
// ?model=URL: start with another GGUF served from the same site instead of the default one
const MODEL_URL = PARAMS.get("model");
// Files above this are refused before reading: MicroPython's filesystem in the worker keeps
// a copy, the page keeps one to restart the worker after Stop, and the heap holds the weights.
const MAX_FILE = Number(PARAMS.get("maxfile")) || 256 * 1024 * 1024;

let manifest = null;
let worker = null;
let defaultModel = null; // {name, url}
let model = null; // the model the worker should hold: {name, url} or {name, buffer}
let pending = null; // a user model being tried: {name, buffer}
let busy = false;
let genStart = 0;

function setStatus(s) {
  $("status").textContent = s;
  document.body.dataset.status = s;
}

function message(text, kind = "error") {
  const m = $("message");
  if (!text) { m.hidden = true; m.textContent = ""; return; }
  m.hidden = false;
  m.className = "message " + kind;
  m.textContent = text;
}

function kb(n) { return (n / 1024).toFixed(n < 10240 ? 1 : 0) + " KB"; }
function mb(n) { return (n / 1048576).toFixed(1) + " MB"; }

// Loading a model of tens of MB takes seconds: show each stage, with the bytes so far
let progressStart = 0;
let progressTimer = null;
function showProgress(stage, done, total) {
  const box = $("progress");
  if (stage === null) {
    box.hidden = true;
    clearInterval(progressTimer);
    progressTimer = null;
    return;
  }
  if (box.hidden) {
    progressStart = performance.now();
    progressTimer = setInterval(() => {
      $("progress-time").textContent = ((performance.now() - progressStart) / 1000).toFixed(1) + " s";
    }, 100);
  }
  box.hidden = false;
  const bar = $("progress-bar");
  if (total > 0 && done > 0) { bar.max = total; bar.value = done; } else bar.removeAttribute("value");
  $("progress-text").textContent = total > 0 && done > 0 ? `${stage}: ${mb(done)} of ${mb(total)}` :
    total > 0 ? `${stage} (${mb(total)})` : stage;
}

function setBusy(b) {
  busy = b;
  $("generate").disabled = b || !worker;
  $("stop").disabled = !b;
  $("file").disabled = b;
}

function startWorker(m) {
  if (worker) worker.terminate();
  setBusy(true);
  $("stop").disabled = true;
  $("generate").disabled = true;
  setStatus("loading");
  const w = new Worker("worker.js", { type: "module" });
  worker = w;
  w.onmessage = (ev) => { if (w === worker) onWorker(ev.data); };
  w.onerror = (ev) => {
    if (w !== worker) return;
    ev.preventDefault();
    crashed(ev.message || "the interpreter's worker failed");
  };
  showProgress("starting MicroPython", 0, 0);
  const msg = { cmd: "init", heapsize: HEAPSIZE, kernels: KERNELS, model: { name: m.name } };
  if (m.buffer) msg.model.buffer = m.buffer.slice(0);
  else msg.model.url = m.url;
  w.postMessage(msg);
}

function crashed(why) {
  // e.g. WebAssembly ran out of memory: start over with the default model
  message(`The interpreter stopped (${why}). Restarted with the default model.`);
  model = defaultModel;
  pending = null;
  startWorker(model);
}

function showModel(info, name) {
  if (!info) { $("model-info").textContent = "no model loaded"; return; }
  $("model-info").textContent =
    `${name}: GPT-2, ${info.n_layer} layers, width ${info.n_embd}, ${info.n_head} heads, ` +
    `vocabulary ${info.n_vocab}, context ${info.n_ctx}; weights ${kb(info.weights)}; ` +
    `${info.mode} path; kernels: ${info.backend}` + (info.backend_note ? ` (${info.backend_note})` : "");
  $("heap").textContent = kb(info.heap);
}

function onWorker(d) {
  if (d.type === "log") {
    console.log("[micropython]", d.text);
  } else if (d.type === "progress") {
    showProgress(d.stage, d.done, d.total);
  } else if (d.type === "ready" || d.type === "loaded") {
    showProgress(null);
    if (d.type === "ready") {
      $("runtime").textContent = `Running on ${d.version} (WebAssembly): ${d.port}.`;
      for (const n of d.notes || []) console.warn("[playground]", n);
      if (d.notes && d.notes.length) $("runtime").textContent += ` (${d.notes.join("; ")})`;
    }
    setBusy(false);
    setStatus("ready");
    if (d.res.ok) {
      if (pending) { model = pending; pending = null; }
      showModel(d.res.info, model.name);
      requestPlan();
    } else {
      message(`Could not load ${d.name}: ${d.res.error}`);
      pending = null;
      if (d.res.info) { showModel(d.res.info, model.name); requestPlan(); }
      else if (model !== defaultModel) { model = defaultModel; startWorker(model); }
      else showModel(null);
    }
  } else if (d.type === "piece") {
    $("out-gen").textContent += d.text;
    $("tokens").textContent = d.tokens;
    if (d.ms > 0 && d.tokens > 1) $("tps").textContent = ((d.tokens - 1) * 1000 / d.ms).toFixed(2);
    $("heap").textContent = kb(d.heap);
  } else if (d.type === "done") {
    setBusy(false);
    const r = d.res;
    if (r.ok) {
      setStatus("done");
      $("out-gen").textContent = r.text; // the runtime's return value: the exact text
      $("tokens").textContent = r.tokens;
      if (r.gen_ms > 0 && r.tokens > 0) $("tps").textContent = (r.tokens * 1000 / r.gen_ms).toFixed(2);
      document.body.dataset.genMs = r.gen_ms;
      document.body.dataset.promptMs = r.prompt_ms;
      document.body.dataset.tokens = r.tokens;
    } else {
      setStatus("error");
      message(r.error);
    }
    if (r.heap) $("heap").textContent = kb(r.heap);
  } else if (d.type === "plan") {
    showBoards(d.boards);
  } else if (d.type === "error") {
    showProgress(null);
    setBusy(false);
    setStatus("error");
    message(`${d.cmd}: ${d.message}`);
    if (d.cmd === "init") { worker = null; $("generate").disabled = true; }
  }
}

function requestPlan() {
  if (manifest.boards.length) worker.postMessage({ cmd: "plan", boards: manifest.boards, code: manifest.runtime_code_bytes });
  else $("board-verdict").textContent = "No board profiles (boards/*.json) were found when the page was built.";
}

let boardResults = [];
function verdict(r) {
  if (r.error) return { short: "unknown", long: `${r.title}: ${r.error}`, cls: "" };
  const amount = kb(Math.abs(r.spare));
  const weights = r.streamed > 0 ? `${kb(r.streamed)} of weights streamed from flash` : "all weights in RAM";
  const code = r.code != null ? `, less ${kb(r.code)} for nanollm's own code` : " (nanollm's own code not counted)";
  let fsNote = "";
  if (r.fs != null && r.file != null && r.file > r.fs) fsNote = ` The file (${kb(r.file)}) is larger than its ${kb(r.fs)} filesystem.`;
  const detail = `the model needs ${kb(r.need)} (${weights}); ${r.basis}: ${kb(r.free)}${code}.${fsNote}`;
  if (r.file_fits === false) return { short: `short by ${kb(r.file - r.fs)} of flash`, cls: "no", long: `${r.title}: does not fit, the file is larger than its filesystem: ${detail}` };
  if (r.fits) return { short: `fits, ${amount} spare`, cls: "yes", long: `${r.title}: fits with ${amount} to spare: ${detail}` };
  return { short: `short by ${amount}`, cls: "no", long: `${r.title}: does not fit, short by ${amount}: ${detail}` };
}

function showBoards(results) {
  boardResults = results;
  const sel = $("board");
  const prev = sel.value;
  sel.innerHTML = "";
  const body = $("boards").querySelector("tbody");
  body.innerHTML = "";
  for (const r of results) {
    const v = verdict(r);
    const o = document.createElement("option");
    o.value = r.name; o.textContent = `${r.name}: ${v.short}`;
    sel.appendChild(o);
    const tr = document.createElement("tr");
    tr.dataset.board = r.name;
    for (const [text, cls] of [[r.name, ""], [r.free != null ? kb(r.free) : "–", ""], [r.total != null ? kb(r.total) : "–", ""], [v.short, v.cls]]) {
      const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  if (results.some((r) => r.name === prev)) sel.value = prev;
  showVerdict();
}

function showVerdict() {
  const r = boardResults.find((b) => b.name === $("board").value);
  $("board-verdict").textContent = r ? verdict(r).long : "–";
  for (const tr of $("boards").querySelectorAll("tbody tr")) tr.classList.toggle("selected", r && tr.dataset.board === r.name);
}

function readParams() {
  const num = (id) => Number($(id).value);
  const p = {
    prompt: $("prompt").value,
    max_new_tokens: num("max_new_tokens"), temperature: num("temperature"),
    top_k: num("top_k"), top_p: num("top_p"),
    seed: $("seed").value.trim() === "" ? null : num("seed"),
  };
  if (!Number.isInteger(p.max_new_tokens) || p.max_new_tokens < 1) return "max new tokens must be a whole number ≥ 1";
  if (!Number.isFinite(p.temperature) || p.temperature < 0) return "temperature must be a number ≥ 0";
  if (!Number.isInteger(p.top_k) || p.top_k < 0) return "top-k must be a whole number ≥ 0";
  if (!Number.isFinite(p.top_p) || p.top_p <= 0 || p.top_p > 1) return "top-p must be in (0, 1]";
  if (p.seed !== null && !Number.isInteger(p.seed)) return "seed must be a whole number (or empty for a random one)";
  return p;
}

function generate() {
  if (busy || !worker) return;
  const p = readParams();
  if (typeof p === "string") { message(p); return; }
  message(p.prompt === "" ? "Empty prompt: the model starts from its end-of-text token." : "", "info");
  $("out-prompt").textContent = p.prompt;
  $("out-gen").textContent = "";
  $("tokens").textContent = "0";
  $("tps").textContent = "–";
  setBusy(true);
  setStatus("generating");
  genStart = performance.now();
  worker.postMessage({ cmd: "generate", params: p });
}

function stop() {
  if (!busy) return;
  $("out-gen").textContent += " [stopped]";
  setStatus("stopped");
  startWorker(model); // the interpreter is busy: end it and start a fresh one with the same model
}

async function loadFile(file) {
  if (!file) return;
  message("");
  if (file.size > MAX_FILE) {
    message(`${file.name} is ${(file.size / 1048576).toFixed(2)} MB: too big for this page ` +
      `(it keeps models up to ${(MAX_FILE / 1048576).toFixed(MAX_FILE < 1048576 ? 2 : 0)} MB in the browser's memory).`);
    return;
  }
  let buffer;
  showProgress("reading " + file.name, 0, file.size);
  try {
    buffer = await file.arrayBuffer();
  } catch (e) {
    showProgress(null);
    message(`Could not read ${file.name}: ${e.message}`);
    return;
  }
  pending = { name: file.name, buffer };
  setBusy(true);
  $("stop").disabled = true;
  setStatus("loading");
  showProgress("sending " + file.name + " to the interpreter", 0, file.size);
  worker.postMessage({ cmd: "load", name: file.name, buffer: buffer.slice(0) });
}

async function main() {
  $("generate").addEventListener("click", generate);
  $("stop").addEventListener("click", stop);
  $("board").addEventListener("change", showVerdict);
  $("file").addEventListener("change", (ev) => { loadFile(ev.target.files[0]); ev.target.value = ""; });
  try {
    manifest = await (await fetch("manifest.json")).json();
  } catch (e) {
    message(`Could not read manifest.json (${e.message}): build the site with \`make playground\`.`);
    return;
  }
  defaultModel = { name: manifest.model.name, url: manifest.model.url };
  model = MODEL_URL ? { name: decodeURIComponent(MODEL_URL.split("/").pop()) || "model.gguf", url: MODEL_URL } : defaultModel;
  startWorker(model);
}

main();
