// Run a MicroPython script on a webassembly build of MicroPython under node, with the
// nanollm package in its filesystem: how the tests hold the browser's kernels to the same
// cases as every other backend (tests/test_wasm.py).
//
//   node firmware/wasm/run_node.mjs PORT.mjs LIB_DIR SCRIPT.py [--file HOST=MP ...] [-- ARGS...]
//
// LIB_DIR (the repo's lib/) is copied to /lib and put first on sys.path; each --file copies
// a host file into MicroPython's filesystem; sys.argv is [SCRIPT, ARGS...]. Output goes to
// stdout/stderr; the exit status is 1 when the script raises.
import fs from "fs";
import path from "path";
import { createRequire } from "module";
import { pathToFileURL } from "url";

const argv = process.argv.slice(2);
if (argv.length < 3 || argv[0] === "--help") {
  console.error("usage: node run_node.mjs PORT.mjs LIB_DIR SCRIPT.py [--file HOST=MP ...] [-- ARGS...]");
  process.exit(2);
}
const [portPath, libDir, script] = argv;
const files = [];
let args = [];
for (let i = 3; i < argv.length; i++) {
  if (argv[i] === "--file") files.push(argv[++i].split("="));
  else if (argv[i] === "--") { args = argv.slice(i + 1); break; }
}

// Emscripten 3.1.6 writes an ES module whose node branch still uses require() and
// __dirname (absent in ES modules) and fetches the .wasm with fetch() when it exists
// (node's fetch does not read files): give it both, and no fetch, so it reads the file.
globalThis.require = createRequire(import.meta.url);
globalThis.__dirname = path.dirname(path.resolve(portPath));
delete globalThis.fetch;

const { loadMicroPython } = await import(pathToFileURL(path.resolve(portPath)).href);
const mp = await loadMicroPython({
  heapsize: Number(process.env.MP_HEAP || 32 * 1024 * 1024),
  url: path.resolve(portPath).replace(/\.m?js$/, ".wasm"),
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

function copyTree(src, dst) {
  mp.FS.mkdir(dst);
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (e.name !== "__pycache__") copyTree(path.join(src, e.name), dst + "/" + e.name);
    } else if (e.name.endsWith(".py") || e.name.endsWith(".gguf")) {
      mp.FS.writeFile(dst + "/" + e.name, fs.readFileSync(path.join(src, e.name)));
    }
  }
}
copyTree(libDir, "/lib");
for (const [host, dst] of files) {
  let dir = "";
  for (const part of dst.split("/").slice(1, -1)) {
    dir += "/" + part;
    try { mp.FS.mkdir(dir); } catch (e) { /* exists */ }
  }
  mp.FS.writeFile(dst, fs.readFileSync(host));
}
mp.FS.writeFile("/main.py", fs.readFileSync(script));
mp.globals.set("_argv", JSON.stringify([script, ...args]));
try {
  mp.runPython("import sys, json\nsys.path.insert(0, '/lib')\nsys.argv[:] = json.loads(_argv)\n" +
    "exec(open('/main.py').read(), {'__name__': '__main__'})");
} catch (e) {
  process.stderr.write(String((e && e.message) || e) + "\n");
  process.exit(1);
}
