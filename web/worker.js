// The interpreter's thread: MicroPython's WebAssembly port runs here, so generation never
// blocks the page. The page talks to it with messages:
//   in:  {cmd: "init", heapsize, model: {url} | {name, buffer}}   {cmd: "generate", ...}
//        {cmd: "load", name, buffer}                               {cmd: "plan", boards}
//   out: {type: "ready"|"loaded"|"piece"|"done"|"plan"|"error"|"log", ...}
// Stop is the page terminating this worker and starting a fresh one.
import { loadMicroPython } from "./micropython.js";

let mp = null;
const log = (text) => postMessage({ type: "log", text });

// runPython executes statements; a result comes back through a global
function pyEval(expr) {
  mp.runPython("_pg_result = " + expr);
  return mp.globals.get("_pg_result");
}

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

function safeName(name) {
  return (name || "model.gguf").replace(/[^A-Za-z0-9._-]/g, "_").slice(-80) || "model.gguf";
}

function loadModel(name, bytes) {
  const path = "/models/" + safeName(name);
  mp.FS.writeFile(path, bytes);
  const res = JSON.parse(pyEval(`playground_glue.load(${JSON.stringify(path)})`));
  if (!res.ok) {
    try { mp.FS.unlink(path); } catch (e) { /* already gone */ }
  }
  return res;
}

async function init(msg) {
  const manifest = await (await fetch("manifest.json")).json();
  mp = await loadMicroPython({
    heapsize: msg.heapsize,
    url: new URL("micropython.wasm", import.meta.url).href,
    stdout: (line) => log(line),
    stderr: (line) => log(line),
  });
  mp.FS.mkdir("/lib");
  mp.FS.mkdir("/lib/nanollm");
  mp.FS.mkdir("/models");
  const files = await Promise.all(manifest.nanollm.map((f) => fetchBytes("nanollm/" + f)));
  manifest.nanollm.forEach((f, i) => mp.FS.writeFile("/lib/nanollm/" + f, files[i]));
  mp.FS.writeFile("/lib/playground_glue.py", await fetchBytes("playground_glue.py"));
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
    bytes = await fetchBytes(msg.model.url);
    name = msg.model.name;
  }
  const res = loadModel(name, bytes);
  postMessage({ type: "ready", version, res, name });
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
    }
  } catch (e) {
    postMessage({ type: "error", cmd: msg.cmd, message: String((e && e.message) || e) });
  }
};
