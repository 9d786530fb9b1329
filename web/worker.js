// The interpreter's thread: MicroPython's WebAssembly port runs here, so generation never
// blocks the page. The page talks to it with messages:
//   in:  {cmd: "init", heapsize, kernels, model: {url} | {name, buffer}}   {cmd: "generate", ...}
//        {cmd: "load", name, buffer}   {cmd: "plan", boards}   {cmd: "exec", code} (tests)
//   out: {type: "ready"|"loaded"|"progress"|"piece"|"done"|"plan"|"exec-done"|"error"|"log", ...}
// Stop is the page terminating this worker and starting a fresh one.
//
// Which port: manifest.json lists them, fastest first: MicroPython built with nanollm's C
// kernels (make wasm), then npm's port, where the runtime uses its plain Python kernels.
// The first that starts is used; why the others did not is reported with "ready".
// kernels: "python" skips the ports with C kernels (the page's ?kernels=python).

let mp = null;
const log = (text) => postMessage({ type: "log", text });
const progress = (stage, done, total) => postMessage({ type: "progress", stage, done, total });

// runPython executes statements; a result comes back through a global
function pyEval(expr) {
  mp.runPython("_pg_result = " + expr);
  return mp.globals.get("_pg_result");
}

async function fetchBytes(url, stage) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  const total = Number(r.headers.get("content-length")) || 0;
  if (!stage || !r.body || !total) return new Uint8Array(await r.arrayBuffer());
  // a large model takes a while: report the bytes as they arrive
  const buf = new Uint8Array(total);
  const reader = r.body.getReader();
  let done = 0;
  let last = 0;
  for (;;) {
    const { done: end, value } = await reader.read();
    if (end) break;
    if (done + value.length > total) throw new Error(`${url}: more bytes than its Content-Length`);
    buf.set(value, done);
    done += value.length;
    if (done - last >= 262144 || done === total) { progress(stage, done, total); last = done; }
  }
  if (done !== total) throw new Error(`${url}: got ${done} of ${total} bytes`);
  return buf;
}

async function startPort(ports, heapsize) {
  const notes = [];
  for (const port of ports) {
    try {
      const { loadMicroPython } = await import(new URL(port.js, import.meta.url).href);
      const m = await loadMicroPython({
        heapsize,
        url: new URL(port.wasm, import.meta.url).href,
        stdout: (line) => log(line),
        stderr: (line) => log(line),
      });
      return { mp: m, port, notes };
    } catch (e) {
      notes.push(`${port.title} did not start: ${(e && e.message) || e}`);
    }
  }
  throw new Error(notes.join("; ") || "no MicroPython port in manifest.json");
}

function safeName(name) {
  return (name || "model.gguf").replace(/[^A-Za-z0-9._-]/g, "_").slice(-80) || "model.gguf";
}

function loadModel(name, bytes) {
  const path = "/models/" + safeName(name);
  progress("copying into MicroPython's filesystem", 0, bytes.length);
  mp.FS.writeFile(path, bytes);
  progress("nanollm.load: reading the weights into MicroPython's heap", 0, bytes.length);
  const res = JSON.parse(pyEval(`playground_glue.load(${JSON.stringify(path)})`));
  if (!res.ok) {
    try { mp.FS.unlink(path); } catch (e) { /* already gone */ }
  }
  return res;
}

async function init(msg) {
  const manifest = await (await fetch("manifest.json")).json();
  let ports = manifest.ports || [{ js: "micropython.js", wasm: "micropython.wasm", kernels: "python", title: "npm package" }];
  if (msg.kernels === "python") ports = ports.filter((p) => p.kernels === "python");
  const started = await startPort(ports, msg.heapsize);
  mp = started.mp;
  mp.FS.mkdir("/lib");
  mp.FS.mkdir("/lib/nanollm");
  mp.FS.mkdir("/models");
  const files = await Promise.all(manifest.nanollm.map((f) => fetchBytes("nanollm/" + f, null)));
  manifest.nanollm.forEach((f, i) => mp.FS.writeFile("/lib/nanollm/" + f, files[i]));
  mp.FS.writeFile("/lib/playground_glue.py", await fetchBytes("playground_glue.py", null));
  mp.registerJsModule("pgjs", {
    piece: (text, tokens, heap, ms) => postMessage({ type: "piece", text, tokens, heap, ms }),
  });
  mp.runPython("import sys\nsys.path.insert(0, '/lib')\nimport playground_glue");
  const version = pyEval("sys.implementation._machine + ', MicroPython ' + '.'.join(str(v) for v in sys.implementation.version[:3])");
  let bytes, name;
  if (msg.model.buffer) {
    bytes = new Uint8Array(msg.model.buffer);
    name = msg.model.name;
  } else {
    bytes = await fetchBytes(msg.model.url, "downloading " + msg.model.name);
    name = msg.model.name;
  }
  const res = loadModel(name, bytes);
  postMessage({ type: "ready", version, res, name, port: started.port.title, notes: started.notes });
}

onmessage = async (ev) => {
  const msg = ev.data;
  try {
    if (msg.cmd === "init") {
      await init(msg);
    } else if (msg.cmd === "load") {
      const res = loadModel(msg.name, new Uint8Array(msg.buffer));
      postMessage({ type: "loaded", res, name: msg.name });
    } else if (msg.cmd === "generate") {
      const p = msg.params;
      const seed = p.seed === null ? "None" : String(p.seed | 0);
      const code = `playground_glue.run(${JSON.stringify(p.prompt)}, ${p.max_new_tokens | 0}, ` +
        `${Number(p.temperature)}, ${p.top_k | 0}, ${Number(p.top_p)}, ${seed})`;
      postMessage({ type: "done", res: JSON.parse(pyEval(code)) });
    } else if (msg.cmd === "plan") {
      const out = pyEval(`playground_glue.fits(${JSON.stringify(JSON.stringify(msg.boards))}, ` +
        `${JSON.stringify(JSON.stringify(msg.code || null))})`);
      postMessage({ type: "plan", boards: JSON.parse(out) });
    } else if (msg.cmd === "exec") {
      // Python source run as is, its output arriving as "log" messages: how the tests run
      // the kernel cases on this port inside the browser (web/tests/drive.mjs)
      mp.runPython(msg.code);
      postMessage({ type: "exec-done" });
    }
  } catch (e) {
    postMessage({ type: "error", cmd: msg.cmd, message: String((e && e.message) || e) });
  }
};
