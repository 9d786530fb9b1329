#!/usr/bin/env python3
"""Tokens/s of the browser playground beside the unix MicroPython, on the same models.

Browser: the site `make playground` builds (build/web), served on 127.0.0.1, in headless
Chromium (Debian's), with the C kernels (MicroPython's webassembly port with nanollm_native,
`make wasm`) and with npm's port (plain Python kernels). Unix: the PyPI `micropython`
(viper kernels) and the unix port with nanollm_native built in (`make firmware-unix`).
Models: the default one and the 6-layer 256-wide q8_0 random-weight model `make bench`
uses. Every cell uses the page's settings (prompt "Once upon a time", top-k 40, top-p 0.95,
seed 42) at temperature 0.8 and greedy; tokens/s is generated tokens over the time after
the prompt, as the page shows it. Rounds are interleaved (browser, viper, native, then
again) and the table gives the median and the spread; the machine is shared, so distrust a
wide spread. Prints a Markdown table.

  python host_tools/harness/bench_playground.py                 # 3 rounds (about 3 minutes)
  python host_tools/harness/bench_playground.py --rounds 1 --tokens 50
"""
import argparse
import functools
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading

from nanollm_host import tools
from nanollm_host.paths import BUILD, CACHE, DEFAULT_MODEL, LIB, ROOT

SITE = os.path.join(BUILD, "web")
SPEED = os.path.join(ROOT, "web", "tests", "speed.mjs")
UNIX_VIPER = tools.micropython(required=False)
UNIX_NATIVE = os.path.join(BUILD, "firmware", "unix", "micropython")
BIG_MODEL = os.path.join(CACHE, "bench", "random-mid-6L-256E-8192V-q8_0.gguf")
BIG_SHAPE = (6, 256, 4, 8192, 256)  # layers, embd, heads, vocab, ctx: host_tools/harness/bench.py's "mid"
PROMPT = "Once upon a time"
TOP_K, TOP_P, SEED = 40, 0.95, 42
TEMPS = (0.8, 0.0)

UNIX_SCRIPT = """
import sys, time, nanollm
m = nanollm.load(sys.argv[1])
n_prompt = len(m.tokenize(%r))
st = [0, 0]  # forwards, ticks when the prompt was through (as the page's glue counts)
fwd = m.forward
def counting(tok, pos, logits=True):
    r = fwd(tok, pos, logits)
    st[0] += 1
    if st[0] == n_prompt:
        st[1] = time.ticks_ms()
    return r
m.forward = counting
for temp in (%s):
    st[0] = 0
    m.generate(%r, max_new_tokens=int(sys.argv[2]), temperature=temp, top_k=%d, top_p=%r, seed=%d)
    print('RUN', temp, nanollm.backend(), st[0] - n_prompt, time.ticks_diff(time.ticks_ms(), st[1]))
"""


class ToolError(Exception):
    pass


def log(msg):
    print("bench_playground: " + msg, file=sys.stderr, flush=True)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=directory))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, "http://127.0.0.1:%d/" % httpd.server_address[1]


def big_model():
    if not os.path.exists(BIG_MODEL):
        from gen import make_random_gpt2
        os.makedirs(os.path.dirname(BIG_MODEL), exist_ok=True)
        log("making %s (once)" % os.path.relpath(BIG_MODEL, ROOT))
        L, E, H, V, C = BIG_SHAPE
        make_random_gpt2.make_model(BIG_MODEL, L, E, H, V, C, outtype="q8_0", seed=1, log=lambda *a: None)
    return BIG_MODEL


def browser_round(url, chromium, runs, tmp):
    cfg = {"url": url, "chromium": chromium, "prompt": PROMPT, "top_k": TOP_K, "top_p": TOP_P, "seed": SEED,
           "runs": runs}
    path = os.path.join(tmp, "speed.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    r = subprocess.run(["node", SPEED, path], capture_output=True, text=True, cwd=os.path.join(ROOT, "web"),
                       timeout=3600)
    if r.returncode != 0 or not r.stdout.strip():
        raise ToolError("the browser driver failed: %s" % (r.stderr.strip().splitlines() or ["?"])[-1])
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if "error" in out:
        raise ToolError("the browser driver failed: %s" % out["error"])
    return out["runs"]


def unix_round(exe, model, tokens):
    """Generated tokens/s per temperature (time after the prompt, as the page counts it)."""
    script = UNIX_SCRIPT % (PROMPT, ", ".join(repr(t) for t in TEMPS), PROMPT, TOP_K, TOP_P, SEED)
    r = subprocess.run([exe, "-c", script, model, str(tokens)], env=dict(os.environ, MICROPYPATH=".frozen:" + LIB),
                       capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise ToolError("%s failed: %s" % (exe, (r.stderr.strip().splitlines() or ["?"])[-1]))
    res = {}
    for line in r.stdout.splitlines():
        p = line.split()
        if p and p[0] == "RUN":
            res["backend"] = p[2]
            n, ms = int(p[3]), int(p[4])
            res[float(p[1])] = n * 1000.0 / ms if ms > 0 and n > 0 else None
    return res


def cell(values):
    vals = [v for v in values if v]
    if not vals:
        return "–"
    med = statistics.median(vals)
    fmt = (lambda v: "%.0f" % v) if med >= 100 else (lambda v: "%.1f" % v) if med >= 1 else (lambda v: "%.2f" % v)
    return "%s (%s..%s)" % (fmt(med), fmt(min(vals)), fmt(max(vals))) if len(vals) > 1 else fmt(med)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="Needs make playground, make firmware-unix and Debian's chromium.")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--tokens", type=int, default=100, help="tokens per run, default model (default 100)")
    ap.add_argument("--big-tokens", type=int, default=30, help="tokens per run, 6-layer model (default 30)")
    ap.add_argument("--fallback-tokens", type=int, default=8,
                    help="tokens per run with the plain Python kernels (default 8; 0 skips)")
    a = ap.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    missing = [what for what, ok in (("build/web (make playground)", os.path.exists(os.path.join(SITE, "manifest.json"))),
                                     ("chromium (make sysdeps)", chromium),
                                     ("the unix micropython (make setup)", os.path.exists(UNIX_VIPER)),
                                     ("build/firmware/unix/micropython (make firmware-unix)", os.path.exists(UNIX_NATIVE)))
               if not ok]
    if missing:
        print("bench_playground.py: missing %s" % ", ".join(missing), file=sys.stderr)
        return 1
    models = {"default": (DEFAULT_MODEL, a.tokens), "6x256 q8_0": (big_model(), a.big_tokens)}
    # browser runs: per model, C kernels at both temperatures, then the fallback (sampled only)
    runs = []
    for name, (path, tokens) in models.items():
        for t in TEMPS:
            runs.append({"name": name, "kernels": "any", "model": None if name == "default" else path,
                         "tokens": tokens, "temperature": t, "repeats": 1})
    if a.fallback_tokens:
        runs.append({"name": "default", "kernels": "python", "model": None, "tokens": a.fallback_tokens,
                     "temperature": TEMPS[0], "repeats": 1})
    cells = {}
    httpd, url = serve(SITE)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for rnd in range(a.rounds):
                log("round %d of %d: browser" % (rnd + 1, a.rounds))
                for r in browser_round(url, chromium, runs, tmp):
                    kern = r["model_info"].split("kernels: ")[-1].split(" ")[0]
                    key = (r["name"], "browser (Chromium), %s" % r["runtime"].split(": ")[-1].rstrip("."), kern,
                           r["tokens"])
                    cells.setdefault(key, {}).setdefault(r["temperature"], []).extend(r["tps"])
                for exe, label in ((UNIX_VIPER, "unix micropython (PyPI)"), (UNIX_NATIVE, "unix port + nanollm_native")):
                    for name, (path, tokens) in models.items():
                        log("round %d of %d: %s, %s" % (rnd + 1, a.rounds, label, name))
                        res = unix_round(exe, path, tokens)
                        key = (name, label, res["backend"], tokens)
                        for t in TEMPS:
                            cells.setdefault(key, {}).setdefault(t, []).append(res[t])
    except ToolError as e:
        print("bench_playground.py: %s" % e, file=sys.stderr)
        return 1
    finally:
        httpd.shutdown()
    print("| model | where | kernels | tokens/run | tokens/s, temperature 0.8 | tokens/s, greedy |")
    print("|---|---|---|---|---|---|")
    for (name, where, kern, tokens), by_t in sorted(cells.items(), key=lambda kv: (kv[0][0] != "default", kv[0][0])):
        print("| %s | %s | %s | %d | %s | %s |" % (name, where, kern, tokens, cell(by_t.get(0.8, [])),
                                                  cell(by_t.get(0.0, []))))
    print("\n%d rounds; median (min..max) of the rounds; prompt %r, top-k %d, top-p %s, seed %d."
          % (a.rounds, PROMPT, TOP_K, TOP_P, SEED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
