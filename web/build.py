"""Assemble the browser playground as a static site.

    python web/build.py OUT_DIR --model MODEL.gguf [--kernels-port build/wasm]

Copies the page, MicroPython's WebAssembly port (from web/node_modules, installed by npm
from the pinned package), the nanollm package's .py files, the model and the board profiles
into OUT_DIR, with a manifest.json the page reads to know what to put in MicroPython's
filesystem. No file of the runtime is changed or rewritten: the browser runs these copies.

With --kernels-port, the port built by `make wasm` (MicroPython with nanollm_native, the C
kernels, built in) goes into OUT_DIR/native/ and the page starts it first; npm's port, with
the plain Python kernels, stays as the fallback.
"""
import argparse
import glob
import json
import os
import shutil
import sys

WEB = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(WEB)
MP_PKG = os.path.join(WEB, "node_modules", "@micropython", "micropython-webassembly-pyscript")
PAGE_FILES = ("index.html", "app.js", "worker.js", "style.css", "playground_glue.py")
KERNELS_PORT_FILES = ("micropython.mjs", "micropython.wasm")


def read_boards():
    """Every boards/*.json that parses, in name order; a broken profile is skipped with a note."""
    boards = []
    for p in sorted(glob.glob(os.path.join(ROOT, "boards", "*.json"))):
        try:
            with open(p) as f:
                b = json.load(f)
        except ValueError as e:
            print("build.py: skipping %s: %s" % (os.path.basename(p), e), file=sys.stderr)
            continue
        if isinstance(b, dict):
            b.setdefault("name", os.path.basename(p)[:-5])
            boards.append(b)
    return boards


def runtime_code_bytes():
    """Heap the runtime's own code takes on a board ({"py": n, "mpy": n}), as host_tools/plan.py
    counts it when a board profile has no figure of its own; None when it can't be measured."""
    try:
        import plan as host_plan  # host_tools/plan.py (host_tools/ is on the venv's path)
        return host_plan.measure_code_unix()
    except Exception as e:  # no unix micropython here: the page says code is not counted
        print("build.py: runtime code size not measured (%s)" % e, file=sys.stderr)
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--model", required=True, help="GGUF file served as the default model")
    ap.add_argument("--kernels-port", metavar="DIR",
                    help="a webassembly port with nanollm_native built in (micropython.mjs + .wasm; make wasm)")
    a = ap.parse_args(argv)
    if a.kernels_port and not all(os.path.exists(os.path.join(a.kernels_port, f)) for f in KERNELS_PORT_FILES):
        sys.exit("build.py: no micropython.mjs and micropython.wasm in %s: run `make wasm`" % a.kernels_port)
    if not os.path.exists(os.path.join(MP_PKG, "micropython.mjs")):
        sys.exit("build.py: MicroPython's WebAssembly port is not installed: run `npm ci` in web/")
    if not os.path.exists(a.model):
        sys.exit("build.py: no model at %s" % a.model)
    out = a.out
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "nanollm"))
    for f in PAGE_FILES:
        shutil.copy(os.path.join(WEB, f), os.path.join(out, f))
    # .js rather than .mjs: every static server knows its MIME type (module scripts need it)
    shutil.copy(os.path.join(MP_PKG, "micropython.mjs"), os.path.join(out, "micropython.js"))
    shutil.copy(os.path.join(MP_PKG, "micropython.wasm"), os.path.join(out, "micropython.wasm"))
    with open(os.path.join(MP_PKG, "package.json")) as f:
        mp_version = json.load(f)["version"]
    # the ports the worker tries, in order: the one with the C kernels first
    ports = []
    if a.kernels_port:
        os.makedirs(os.path.join(out, "native"))
        shutil.copy(os.path.join(a.kernels_port, "micropython.mjs"), os.path.join(out, "native", "micropython.js"))
        shutil.copy(os.path.join(a.kernels_port, "micropython.wasm"), os.path.join(out, "native", "micropython.wasm"))
        ports.append({"js": "native/micropython.js", "wasm": "native/micropython.wasm", "kernels": "native",
                      "title": "MicroPython built with nanollm's C kernels"})
    ports.append({"js": "micropython.js", "wasm": "micropython.wasm", "kernels": "python",
                  "title": "npm package %s" % mp_version})
    py = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "lib", "nanollm", "*.py"))
                + glob.glob(os.path.join(ROOT, "lib", "nanollm", "*.bin")))
    for f in py:
        shutil.copy(os.path.join(ROOT, "lib", "nanollm", f), os.path.join(out, "nanollm", f))
    shutil.copy(a.model, os.path.join(out, "model.gguf"))
    manifest = {
        "nanollm": py,
        "model": {"url": "model.gguf", "name": os.path.basename(a.model), "bytes": os.path.getsize(a.model)},
        "micropython_webassembly": mp_version,
        "ports": ports,
        "boards": read_boards(),
        "runtime_code_bytes": runtime_code_bytes(),
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("playground: %d runtime files, model %s (%d KB), %d board profiles, ports: %s"
          % (len(py), os.path.basename(a.model), os.path.getsize(a.model) // 1024, len(manifest["boards"]),
             ", ".join("%s (%s kernels)" % (p["title"], p["kernels"]) for p in ports)))


if __name__ == "__main__":
    main()
