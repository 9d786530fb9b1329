#!/usr/bin/env python3
"""Benchmark nanollm beside llama.cpp on the same GGUF files; writes docs/bench.md + docs/bench.png.

Backends: our runtime under CPython (plain Python) and under the unix MicroPython with
plain bytecode, viper and the native module; llama.cpp (host_tools/harness/llama_run.c) with one
thread and with all threads. Models: the default model, a random-weight model in between
and a random-weight GPT-2-117M-shaped model, each as f32, q8_0 and q4_0 (random models are
generated into .cache/bench/ by host_tools/gen/make_random_gpt2.py, once).

Per cell: prompt ms/token (ours: one forward per token; llama.cpp: one batch) and
generation ms/token (greedy) separately, median and spread (min..max) over repeats, peak
RSS of the process (and the MicroPython heap in use), file size, ratio to llama.cpp
single-thread generation, the SIMD level each side's kernels used, and the host's load.
The host is shared, so the repeats are interleaved (each round runs every backend of a cell
once), each run first waits (up to --quiet-wait s) for the 1-minute load average to fall to
--quiet-load, and the load at each run's start is reported beside the cell. Slow cells time fewer tokens (counts are in the table); a cell
whose estimated cost is above --max-token-s is marked "not run: est. N s/token", a backend
that is absent is marked "missing". With --callgrind, instructions per generated token on
the 117M q8_0 model are counted with valgrind (noise-free ratio), and a per-op time
breakdown of our forward is measured.

  python host_tools/harness/bench.py                   # everything (about 30-60 minutes)
  python host_tools/harness/bench.py --quick           # default model only, 1 repeat
  python host_tools/harness/bench.py --models default,mid --types q8_0 --no-callgrind
"""
import argparse
import ast
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from nanollm_host import gguf_model as gm
from nanollm_host import llamacpp, tools
from nanollm_host.paths import CACHE as _CACHE, DEFAULT_MODEL, DOCS, FIXTURES, LIB, NATMOD as _NATMOD, ROOT, rel

CACHE = os.path.join(_CACHE, "bench")
NATMOD = os.path.join(_NATMOD, "nanollm_native_x64.mpy")
MICROPYTHON = tools.micropython(required=False) or "micropython"
TRAINED_FIXTURE = os.path.join(FIXTURES, "gpt2_trained")
PROMPT = "Once upon a time, in a land far away, there lived a"
TYPES = ("f32", "q8_0", "q4_0")
OURS = ("cpython", "mp-bytecode", "mp-viper", "mp-native")
LLAMA = ("llama.cpp-1t", "llama.cpp-all")
BACKENDS = OURS + LLAMA
LABEL = {"cpython": "nanollm, CPython (plain)", "mp-bytecode": "nanollm, MicroPython bytecode",
         "mp-viper": "nanollm, MicroPython viper", "mp-native": "nanollm, MicroPython native .mpy",
         "llama.cpp-1t": "llama.cpp, 1 thread", "llama.cpp-all": "llama.cpp, all threads"}
# random models: name -> (layers, embd, heads, vocab, ctx)
RANDOM = {"mid": (6, 256, 4, 8192, 256), "117m": (12, 768, 12, 50257, 1024)}


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ------------------------------------------------------------------ model files

def default_model_files(types):
    """The default model as f32/q8_0/q4_0; from lib/nanollm/model.gguf (requantized with our
    quantize.py) when it has landed, else converted from tests/fixtures/gpt2_trained."""
    os.makedirs(CACHE, exist_ok=True)
    out = {}
    if os.path.exists(DEFAULT_MODEL):
        src, note = DEFAULT_MODEL, "lib/nanollm/model.gguf"
        st = os.stat(src)
        tag = "%d-%d" % (st.st_size, int(st.st_mtime))
        for t in types:
            p = os.path.join(CACHE, "default-%s-%s.gguf" % (tag, t))
            if not os.path.exists(p):
                gm.quantize_file(src, p, t, log=lambda s: None)
            out[t] = p
    else:
        note = "tests/fixtures/gpt2_trained (lib/nanollm/model.gguf had not landed)"
        for t in types:
            p = os.path.join(CACHE, "trained-fixture-%s.gguf" % t)
            if not os.path.exists(p):
                gm.convert_checkpoint(TRAINED_FIXTURE, p, t)
            out[t] = p
    return out, note


def random_model_files(name, types):
    from gen import make_random_gpt2 as mr
    layers, embd, heads, vocab, ctx = RANDOM[name]
    os.makedirs(CACHE, exist_ok=True)
    out = {}
    for t in types:
        p = os.path.join(CACHE, "random-%s-%dL-%dE-%dV-%s.gguf" % (name, layers, embd, vocab, t))
        if not os.path.exists(p):
            log("generating %s (once)" % rel(p))
            mr.make_model(p, layers, embd, heads, vocab, ctx, outtype=t, seed=1, log=lambda s: log("  " + s))
        out[t] = p
    return out


def model_shape(path):
    from gguf import GGUFReader
    r = GGUFReader(path)

    def kv(k):
        return int(r.fields[k].contents())
    n_vocab = next(int(t.shape[1]) for t in r.tensors if t.name == "token_embd.weight")
    return {"n_layer": kv("gpt2.block_count"), "n_embd": kv("gpt2.embedding_length"), "n_vocab": n_vocab,
            "n_ff": kv("gpt2.feed_forward_length"), "n_ctx": kv("gpt2.context_length"),
            "n_head": kv("gpt2.attention.head_count")}


def macs_per_token(s):
    """Multiply-accumulates of the weight matrices per token (the dominant work)."""
    d, f = s["n_embd"], s["n_ff"]
    return s["n_layer"] * (3 * d * d + d * d + 2 * d * f) + d * s["n_vocab"]


# ------------------------------------------------------------------ our runtime in a child process

CHILD = r"""
import sys, gc
try:
    import time
    clock = time.ticks_us
    diff = time.ticks_diff
    def now():
        return clock()
    def ms(a, b):
        return diff(b, a) / 1000.0
except AttributeError:
    import time
    def now():
        return time.perf_counter()
    def ms(a, b):
        return (b - a) * 1000.0
import nanollm
from nanollm import kernels
from nanollm.sampling import Sampler
BACKEND = %(backend)r
kernels.use(BACKEND)
try:
    import nanollm_native
    SIMD = ("plain C", "SSE2", "AVX2")[nanollm_native.simd_level()] if BACKEND == "native" else "-"
except (ImportError, AttributeError):
    SIMD = "-"
PROFILE = %(profile)r
prof = {}
if PROFILE:
    K = kernels.K
    def wrap(name, f):
        def w(*a):
            t = now()
            r = f(*a)
            prof[name] = prof.get(name, 0.0) + ms(t, now())
            return r
        return w
    for n in kernels.KERNEL_NAMES:
        if not n.startswith("matvec_q"):
            setattr(K, n, wrap(n, getattr(K, n)))
    # the float path's kernels are module functions (kernels_float), looked up per call
    import nanollm.kernels_float as F
    for n in ("dequant_row_f", "matvec_f32"):
        setattr(F, n, wrap(n, getattr(F, n)))
    for k in list(K.matvec_q):
        K.matvec_q[k] = wrap("matvec", K.matvec_q[k])
t0 = now()
m = nanollm.load(%(path)r, ctx=%(ctx)d)
load_ms = ms(t0, now())
gc.collect()
heap_model = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
ids = %(ids)r
budget_ms = %(budget_ms)f
n_prompt = %(n_prompt)d
n_gen = %(n_gen)d
s = Sampler(m.n_vocab, m.logit_scale, 0, 0, 1.0, 1)
t0 = now()
logits = m.forward(ids[0], 0, n_prompt == 1)
first = ms(t0, now())
# fewer tokens when the cell would take longer than its budget
per = first if first > 0 else 0.001
if per * (n_prompt + n_gen) > budget_ms:
    n_prompt = max(1, min(n_prompt, int(budget_ms / 2 / per)))
    n_gen = max(1, min(n_gen, int(budget_ms / 2 / per)))
if logits is None and n_prompt == 1:  # the budget cut the prompt to its first token
    logits = m.forward(ids[0], 0)
for p in range(1, n_prompt):
    # as generate() does (and llama.cpp's batch): logits for the prompt's last token only
    logits = m.forward(ids[p], p, p == n_prompt - 1)
prompt_ms = ms(t0, now())
toks = []
t1 = now()
for k in range(n_gen):
    tok = s.sample(logits)
    toks.append(tok)
    logits = m.forward(tok, n_prompt + k)
gen_ms = ms(t1, now())
heap_end = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
print("RESULT", {"backend": kernels.backend_name(), "load_ms": load_ms, "prompt_ms": prompt_ms,
      "n_prompt": n_prompt, "gen_ms": gen_ms, "n_gen": n_gen, "tokens": toks, "heap_model": heap_model,
      "heap_end": heap_end, "mode": m.mode, "placement": m.plan.get("placement"), "prof": prof, "simd": SIMD})
try:
    with open("/proc/self/status") as f:
        for ln in f:
            if ln.startswith("VmHWM:"):
                print("VMHWM", ln.split()[1])
except Exception:
    pass
"""


def _vmhwm(pid):
    """Peak resident set of a running process (VmHWM is per address space: exec resets it,
    unlike getrusage's ru_maxrss, which carries the forking parent's peak over)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmHWM:"):
                    return int(ln.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def run_child(cmd, env=None, timeout=None):
    """Run cmd; returns (returncode, stdout, stderr, peak RSS in bytes of that process, CPU share:
    its CPU time over its wall time, about 1 for a single thread that had a core to itself)."""
    out_f = tempfile.TemporaryFile()
    err_f = tempfile.TemporaryFile()
    p = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, env=env, cwd=ROOT)
    t0 = time.time()
    peak = 0
    while True:
        peak = max(peak, _vmhwm(p.pid))
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if timeout and time.time() - t0 > timeout:
            p.kill()
            pid, status, ru = os.wait4(p.pid, 0)
            break
        time.sleep(0.02)
    p.returncode = os.waitstatus_to_exitcode(status)
    out_f.seek(0)
    err_f.seek(0)
    out = out_f.read().decode(errors="replace")
    for ln in out.splitlines():  # the child's own last word on its peak, when it gives one
        if ln.startswith("VMHWM "):
            peak = max(peak, int(ln.split()[1]) * 1024)
    wall = max(time.time() - t0, 1e-6)
    share = (ru.ru_utime + ru.ru_stime) / wall
    return p.returncode, out, err_f.read().decode(errors="replace"), peak, share


def wait_quiet(max_load, max_wait):
    """Wait up to max_wait seconds for the 1-minute load average to fall to max_load (this
    host is shared); returns the load average when the run starts, for the report."""
    t0 = time.time()
    load = os.getloadavg()[0]
    if load > max_load and max_wait > 0:
        log("load average %.2f > %.2f: waiting up to %.0f s for a quieter machine" % (load, max_load, max_wait))
    while load > max_load and time.time() - t0 < max_wait:
        time.sleep(5)
        load = os.getloadavg()[0]
    return load


def natmod_dir():
    if not os.path.exists(NATMOD):
        return None
    d = os.path.join(CACHE, "natmod")
    os.makedirs(d, exist_ok=True)
    dst = os.path.join(d, "nanollm_native.mpy")
    if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(NATMOD):
        shutil.copyfile(NATMOD, dst + ".tmp")
        os.replace(dst + ".tmp", dst)
    return d


def ours_command(backend, path, ids, n_prompt, n_gen, budget_s, ctx, profile=False, heap=None):
    script = CHILD % {"backend": "python" if backend in ("cpython", "mp-bytecode") else backend[3:],
                      "path": path, "ids": list(ids), "n_prompt": n_prompt, "n_gen": n_gen,
                      "budget_ms": budget_s * 1000.0, "ctx": ctx, "profile": profile}
    env = dict(os.environ)
    if backend == "cpython":
        return [sys.executable, "-c", script], env
    nd = natmod_dir()
    env["MICROPYPATH"] = ":".join([".frozen", LIB] + ([nd] if nd and backend == "mp-native" else []))
    return [MICROPYTHON, "-X", "heapsize=%s" % heap, "-c", script], env


# The heap given to MicroPython, so that the whole file stays in RAM as llama.cpp's does.
# Below 4x the file the loader measures the heap's largest free piece and keeps resident
# only what half the free heap and that piece allow (plan.py, a small board's caution): at
# 1.3x it streamed part of the 117M model and the table timed the stream, not the kernels.
# The unix port's heap is resident as a whole, so its RSS shows this size: the MP heap
# column is what the model takes.
MP_HEAP_FACTOR = float(os.environ.get("NANOLLM_BENCH_HEAP_FACTOR", "4.2"))


def mp_heap_for(path):
    size = os.path.getsize(path)
    return "%dM" % (max(64, int(size * MP_HEAP_FACTOR / 2 ** 20) + 64))


def missing_reason(backend):
    if backend.startswith("mp-") and not os.path.exists(MICROPYTHON):
        return "missing: no micropython (make setup)"
    if backend == "mp-native" and not os.path.exists(NATMOD):
        return "missing: %s not built (make native)" % rel(NATMOD)
    if backend.startswith("llama") and not llamacpp.available():
        return "missing: llama.cpp not built (make llamacpp)"
    return None


def run_ours(backend, path, ids, n_prompt, n_gen, budget_s, ctx, profile=False):
    cmd, env = ours_command(backend, path, ids, n_prompt, n_gen, budget_s, ctx, profile, mp_heap_for(path))
    rc, out, err, rss, share = run_child(cmd, env, timeout=budget_s * 4 + 600)
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if rc != 0 or not line:
        raise RuntimeError("%s on %s failed (exit %s): %s" % (backend, rel(path), rc, (err or out).strip()[-600:]))
    r = ast.literal_eval(line[-1][7:])
    want = {"cpython": "python", "mp-bytecode": "python", "mp-viper": "viper", "mp-native": "native"}[backend]
    if r["backend"] != want:
        raise RuntimeError("%s: runtime reports backend %r" % (backend, r["backend"]))
    r["rss"] = rss
    r["cpu_share"] = share
    return r


def llama_simd(system_info):
    """The widest x86 SIMD level llama.cpp's CPU backend says it uses ('CPU : SSE3 = 1 | ...')."""
    on = {kv.split("=")[0].strip() for kv in system_info.split("|") if kv.strip().endswith("= 1")}
    for level in ("AVX512", "AVX2", "AVX", "SSSE3", "SSE3"):
        if level in on:
            return level
    return "none"


def run_llama(backend, path, ids, n_prompt, n_gen):
    threads = 1 if backend == "llama.cpp-1t" else (os.cpu_count() or 1)
    cmd = [llamacpp.DRIVER, path, "-p", ",".join(map(str, ids[:n_prompt])), "-n", str(n_gen + 1), "-t", str(threads)]
    rc, out, err, rss, share = run_child(cmd, timeout=600)
    if rc != 0:
        raise RuntimeError("llama_run failed on %s: %s" % (rel(path), err.strip()[-600:]))
    j = json.loads(out)
    info = j.get("system_info", "")
    return {"prompt_ms": j["prompt_ms"], "n_prompt": j["n_prompt"], "gen_ms": j["gen_ms"], "n_gen": j["n_gen_evals"],
            "tokens": j["tokens"], "rss": rss, "threads": threads, "heap_end": 0, "heap_model": 0,
            "cpu_share": share, "simd": llama_simd(info), "system_info": info}


# ------------------------------------------------------------------ callgrind

def callgrind_ir(cmd, env=None, timeout=7200):
    """Total instructions (Ir) of cmd under valgrind --tool=callgrind."""
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind is missing (APT_PACKAGES += valgrind in mk/bench.mk)")
    fd, outfile = tempfile.mkstemp(prefix="callgrind.", suffix=".out")
    os.close(fd)
    try:
        r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + outfile] + cmd,
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("callgrind run failed: %s" % r.stderr.strip()[-600:])
        with open(outfile) as f:
            for ln in f:
                if ln.startswith("summary:") or ln.startswith("totals:"):
                    return int(ln.split()[1])
        raise RuntimeError("no totals in callgrind output")
    finally:
        os.unlink(outfile)


CG_CACHE = os.path.join(CACHE, "callgrind.json")


def _cg_key(backend, path):
    """Counts stay valid while the model file and the program measured are unchanged (the
    program by its bytes: a rebuild that makes the same file keeps them)."""
    import hashlib
    prog = llamacpp.DRIVER if backend.startswith("llama") else (NATMOD if backend == "mp-native" else MICROPYTHON)
    h = "-"
    if os.path.exists(prog):
        with open(prog, "rb") as f:
            h = hashlib.sha256(f.read()).hexdigest()[:16]
    st = os.stat(path)
    return "%s|%s|%d|%d|%s" % (backend, os.path.basename(path), st.st_size, int(st.st_mtime), h)


def _cg_load():
    try:
        with open(CG_CACHE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def cg_cached(backend, path):
    return _cg_load().get(_cg_key(backend, path))


def cg_store(backend, path, value):
    d = _cg_load()
    d[_cg_key(backend, path)] = value
    os.makedirs(CACHE, exist_ok=True)
    with open(CG_CACHE + ".tmp", "w") as f:
        json.dump(d, f, indent=1)
    os.replace(CG_CACHE + ".tmp", CG_CACHE)


def ir_per_token(backend, path, ids, ctx):
    """Instructions of one generated token: Ir(3 generated) - Ir(1 generated), halved (load cancels)."""
    irs = []
    for n_gen in (1, 3):
        if backend.startswith("llama"):
            cmd = [llamacpp.DRIVER, path, "-p", str(ids[0]), "-n", str(n_gen + 1), "-t", "1"]
            env = None
        else:
            cmd, env = ours_command(backend, path, ids, 1, n_gen, 1e9, ctx, heap=mp_heap_for(path))
        irs.append(callgrind_ir(cmd, env))
    return (irs[1] - irs[0]) / 2.0


# ------------------------------------------------------------------ report

def fmt_ms(x):
    if x is None:
        return "-"
    return "%.3g" % x if x < 100 else "%.0f" % x


def fmt_bytes(n):
    if not n:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%.0f %s" if unit == "B" else "%.1f %s") % (n, unit)
        n /= 1024.0


def summarize(runs):
    pm = [r["prompt_ms"] / r["n_prompt"] for r in runs]
    gm = [r["gen_ms"] / r["n_gen"] for r in runs if r["n_gen"]]
    loads = [r["load"] for r in runs if "load" in r]
    return {"prompt": statistics.median(pm), "prompt_lo": min(pm), "prompt_hi": max(pm),
            "gen": statistics.median(gm) if gm else None, "gen_lo": min(gm) if gm else None,
            "gen_hi": max(gm) if gm else None, "n": len(runs),
            "n_prompt": runs[0]["n_prompt"], "n_gen": runs[0]["n_gen"],
            "rss": max(r["rss"] for r in runs), "heap": max(r.get("heap_end", 0) for r in runs),
            "tokens": runs[0]["tokens"],
            "load": statistics.median(loads) if loads else None,
            "load_lo": min(loads) if loads else None, "load_hi": max(loads) if loads else None,
            "cpu_share": statistics.median([r.get("cpu_share", 0.0) for r in runs]),
            "simd": runs[0].get("simd", "-"), "system_info": runs[0].get("system_info", "")}


def spread(s, key):
    lo, hi, med = s[key + "_lo"], s[key + "_hi"], s[key]
    if med is None or s["n"] < 2:
        return ""
    return " (%s..%s)" % (fmt_ms(lo), fmt_ms(hi))


def write_report(res, meta, out_md, out_png):
    L = []
    L.append("# nanollm beside llama.cpp")
    L.append("")
    L.append("Generated by `make bench` (`python host_tools/harness/bench.py`) on %s; do not edit by hand." % meta["date"])
    L.append("")
    L.append("Host: %s, %d cores, Python %s, %s; llama.cpp from llama-cpp-python %s (vendored)."
             % (meta["cpu"], meta["cores"], platform.python_version(), meta["micropython"], llamacpp.VERSION))
    L.append("")
    L.append("- llama.cpp's build: `cmake %s` (host_tools/nanollm_host/llamacpp.py: a portable build, "
             "the instruction sets this CPU reports switched on). Its CPU backend reports: `%s`."
             % (" ".join(o for o in llamacpp.cmake_options() if o.startswith("-DGGML_")),
                meta.get("llama_system_info") or "not run"))
    L.append("- Ours: the x64 native module as `make native` builds it (MicroPython's py/dynruntime.mk, "
             "`-O2`, baseline x86-64), with SSE2 and AVX2 forms of the matrix-vector kernels in the same "
             "file, chosen at run time by cpuid (firmware/nanollm_simd.c). This run: %s. Viper, "
             "bytecode and CPython use no SIMD." % (meta.get("our_simd") or "native not run"))
    L.append("- SIMD: the widest instruction set each side's kernels used in the cell.")
    L.append("- load: the host's 1-minute load average when each run started, median (min..max) over the "
             "runs; each run waited up to %.0f s for it to fall to %.2f. CPU share: the process's CPU "
             "time / its wall time (median); below 1 for one thread means it waited for a core."
             % (meta["quiet_wait"], meta["quiet_load"]))
    L.append("")
    L.append("- Prompt: %r, tokenized by our tokenizer (the model's vocabulary: the prompt count is in the "
             "`tokens` column); the same ids go to llama.cpp. Ours runs one forward per token; llama.cpp "
             "evaluates the prompt as one batch. Generation is greedy." % PROMPT)
    L.append("- ms/token: median over repeats, spread min..max in brackets. The repeats are interleaved: "
             "each round runs every backend of the cell once, so the host's load falls on all alike (it is "
             "shared: the callgrind counts below are the noise-free comparison). Slow cells time fewer "
             "tokens and repeats: `tokens` says prompt+generated tokens timed x repeats.")
    L.append("- ratio: our generation ms/token / llama.cpp single-thread generation ms/token, same file.")
    L.append("- memory: peak RSS of the process (the host interpreter or llama_run, with the whole model "
             "resident); for MicroPython also the heap in use at the end (model + state + tokenizer). "
             "MicroPython's RSS includes its whole heap, given %.1fx the file so that the weights stay in RAM "
             "(below 4x the loader streams part of a large model): the MP heap column is the model's memory."
             % MP_HEAP_FACTOR)
    L.append("- f32 files run our float path; its matrix-vector product is plain Python under every "
             "backend (viper and native accelerate the integer path only).")
    L.append("")
    for mname in meta["models"]:
        info = meta["model_info"][mname]
        L.append("## %s" % info["title"])
        L.append("")
        L.append("%s. %d layers, width %d, vocabulary %d, %.2f M weight MACs per token."
                 % (info["source"], info["shape"]["n_layer"], info["shape"]["n_embd"], info["shape"]["n_vocab"],
                    info["macs"] / 1e6))
        L.append("")
        L.append("| type | file | backend | SIMD | prompt ms/tok | gen ms/tok | gen tok/s | ratio to llama.cpp 1t | "
                 "peak RSS | MP heap | tokens | load | CPU share |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for t in meta["types"]:
            key = (mname, t)
            if key not in meta["files"]:
                continue
            fsize = fmt_bytes(os.path.getsize(meta["files"][key]))
            ref = res.get((mname, t, "llama.cpp-1t"))
            refgen = ref["gen"] if isinstance(ref, dict) else None
            for b in meta["backends"]:
                s = res.get((mname, t, b))
                if s is None:
                    continue
                if isinstance(s, str):
                    L.append("| %s | %s | %s | | %s | | | | | | | | |" % (t, fsize, LABEL[b], s))
                    continue
                tps = "%.3g" % (1000.0 / s["gen"]) if s["gen"] else "-"
                ratio = "%.1fx" % (s["gen"] / refgen) if refgen and s["gen"] else "-"
                if b == "llama.cpp-1t":
                    ratio = "1"
                load = "-" if s.get("load") is None else "%.2f" % s["load"] + (
                    " (%.2f..%.2f)" % (s["load_lo"], s["load_hi"]) if s["n"] > 1 else "")
                L.append("| %s | %s | %s | %s | %s%s | %s%s | %s | %s | %s | %s | %d+%d x%d | %s | %s |"
                         % (t, fsize, LABEL[b], s.get("simd", "-"), fmt_ms(s["prompt"]), spread(s, "prompt"),
                            fmt_ms(s["gen"]), spread(s, "gen"), tps, ratio, fmt_bytes(s["rss"]), fmt_bytes(s["heap"]),
                            s["n_prompt"], s["n_gen"], s["n"], load,
                            "%.2f" % s["cpu_share"] if s.get("cpu_share") else "-"))
        L.append("")
    if meta.get("callgrind"):
        cg = meta["callgrind"]
        L.append("## Instructions per generated token (callgrind), 117M-shaped q8_0")
        L.append("")
        L.append("`valgrind --tool=callgrind`, Ir(3 generated tokens) - Ir(1), halved: loading cancels out.")
        L.append("")
        L.append("| backend | instructions / token | ratio to llama.cpp 1t |")
        L.append("|---|---|---|")
        ref = cg.get("llama.cpp-1t")
        for b, v in cg.items():
            if isinstance(v, str):
                L.append("| %s | %s | |" % (LABEL[b], v.splitlines()[0].replace("|", "/")[:160]))
            else:
                L.append("| %s | %.4g | %s |" % (LABEL[b], v, "%.2fx" % (v / ref) if isinstance(ref, float) else "-"))
        L.append("")
    if meta.get("profile"):
        L.append("## Where our time goes (per-op breakdown, 117M-shaped q8_0)")
        L.append("")
        L.append("Each kernel call timed from MicroPython (ticks_us), one prompt token + generated tokens; "
                 "'rest' is interpreter time between kernels.")
        L.append("")
        for b, (total, prof, ntok) in meta["profile"].items():
            L.append("**%s** (%.0f ms/token in total, %d tokens)" % (LABEL[b], total / ntok, ntok))
            L.append("")
            L.append("| op | ms/token | share |")
            L.append("|---|---|---|")
            rest = total - sum(prof.values())
            for op, v in sorted(list(prof.items()) + [("rest", rest)], key=lambda kv: -kv[1]):
                L.append("| %s | %.2f | %.1f%% |" % (op, v / ntok, 100.0 * v / total))
            L.append("")
    L.append("## Targets")
    L.append("")
    for line in meta.get("targets", []):
        L.append("- " + line)
    L.append("")
    prof = (meta.get("profile") or {}).get("mp-native")
    m117 = meta["model_info"].get("117m")
    if prof and m117:
        total, ops, ntok = prof
        mv = ops.get("matvec", 0.0) / ntok
        L.append("### Where the native module's time goes")
        L.append("")
        L.append("The matrix-vector products take %.1f of %.1f ms per token (%.0f%%): %.0f M q8_0 MAC/s "
                 "(%.2f ns per MAC) at SIMD level %s. They are exact integer arithmetic, bit-identical to "
                 "the plain C and Python kernels: int8 weights widened to int16 and multiplied with the "
                 "int16 activations by `pmaddwd` (8 MACs per instruction with AVX2), the per-block scales "
                 "summed exactly in int64, eight blocks at a time (firmware/nanollm_simd.c). llama.cpp "
                 "instead quantizes the activations to int8 and multiplies with `vpmaddubsw` (16 MACs per "
                 "instruction) and float block scales; the same file gives the same greedy tokens (Notes)."
                 % (mv, total / ntok, 100.0 * mv * ntok / total, m117["macs"] / mv / 1e3,
                    mv * 1e6 / m117["macs"], meta.get("our_simd") or "?"))
        L.append("")
        L.append("Selecting the next token over the 50,257 logits is a C kernel too (`argmax_q`, and "
                 "`top_k_q`, `weights_q`, `top_p_q`, `draw_q` when sampling), and prompt tokens skip the "
                 "output matrix (a third of GPT-2 117M's weights), as llama.cpp's prompt batch does. "
                 "The rest is the interpreter between the kernel calls (about 20 calls per layer).")
        L.append("")
    if meta.get("notes"):
        L.append("## Notes")
        L.append("")
        for n in meta["notes"]:
            L.append("- " + n)
        L.append("")
    interop = os.path.join(_CACHE, "llamacpp", "interop.json")
    if os.path.exists(interop):
        with open(interop) as f:
            found = json.load(f)
        L.append("## llama.cpp interoperability (from the last `tests/test_llamacpp.py` run)")
        L.append("")
        for k in sorted(found):
            L.append("- %s: `%s`" % (k, json.dumps(found[k])))
        L.append("")
    boards = os.path.join(DOCS, "boards.md")
    if os.path.exists(boards):
        L.append("## Emulated microcontrollers (estimates, from docs/boards.md)")
        L.append("")
        L.append("Copied from docs/boards.md (`make mcu-bench`): emulated timings are estimates, not board measurements.")
        L.append("")
        rows, prev = [], False
        with open(boards, encoding="utf-8") as f:
            for ln in f:
                is_row = ln.lstrip().startswith("|")
                if is_row:
                    if not prev and rows:
                        rows.append("")  # a blank line between tables
                    rows.append(ln.rstrip("\n"))
                prev = is_row
        L += rows if rows else ["(docs/boards.md has no table yet)"]
        L.append("")
    else:
        L.append("Emulated Cortex-M0 figures: docs/boards.md (`make mcu-bench`) was not present when this ran.")
        L.append("")
    tmp = out_md + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(L))
    os.replace(tmp, out_md)
    plot(res, meta, out_png)


def plot(res, meta, out_png):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: %s not written (pip install matplotlib, see requirements)" % rel(out_png))
        return
    groups = [(m, t) for m in meta["models"] for t in meta["types"] if (m, t) in meta["files"]]
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(groups)) + 3, 5))
    w = 0.8 / len(meta["backends"])
    for i, b in enumerate(meta["backends"]):
        xs, ys = [], []
        for g, (m, t) in enumerate(groups):
            s = res.get((m, t, b))
            if isinstance(s, dict) and s["gen"]:
                xs.append(g + (i - len(meta["backends"]) / 2.0 + 0.5) * w)
                ys.append(s["gen"])
        ax.bar(xs, ys, w, label=LABEL[b])
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(["%s\n%s" % (meta["model_info"][m]["short"], t) for m, t in groups])
    ax.set_ylabel("generation ms/token (log)")
    ax.set_title("nanollm vs llama.cpp, same GGUF files (lower is better)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    tmp = out_png + ".tmp.png"
    fig.savefig(tmp, dpi=90)
    os.replace(tmp, out_png)


# ------------------------------------------------------------------ main

def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench.py", description=__doc__.split("\n\n")[0],
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="default,mid,117m", help="comma list of default, mid, 117m (default: all)")
    ap.add_argument("--types", default=",".join(TYPES), help="comma list of f32, q8_0, q4_0 (default: all)")
    ap.add_argument("--backends", default=",".join(BACKENDS), help="comma list of " + ", ".join(BACKENDS))
    ap.add_argument("--repeats", type=int, default=5,
                    help="runs per cell, interleaved across backends; the median is reported (default 5)")
    ap.add_argument("--quiet-load", type=float, default=1.0,
                    help="start each run once the 1-minute load average is at most this (default 1.0)")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="...but wait at most this many seconds for it (default 60; the load is reported)")
    ap.add_argument("--gen", type=int, default=16, help="tokens to generate per run (default 16)")
    ap.add_argument("--cell-s", type=float, default=40.0,
                    help="time budget of one run of a slow cell: fewer tokens beyond it (default 40)")
    ap.add_argument("--max-token-s", type=float, default=60.0,
                    help="don't run a cell estimated slower than this per token (default 60)")
    ap.add_argument("--callgrind", dest="callgrind", action="store_true", default=True,
                    help="count instructions per token on the 117M q8_0 model (default on)")
    ap.add_argument("--no-callgrind", dest="callgrind", action="store_false")
    ap.add_argument("--quick", action="store_true", help="default model only, 1 repeat, no callgrind")
    ap.add_argument("--out", default=os.path.join(DOCS, "bench.md"), help="markdown output (default docs/bench.md)")
    ap.add_argument("--png", default=os.path.join(DOCS, "bench.png"), help="plot output (default docs/bench.png)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--render", metavar="JSON",
                    help="no measuring: rewrite the report from results saved with --json (same --models/--types)")
    ap.add_argument("--note", action="append", default=[],
                    help="a line for the report's notes (e.g. where a re-rendered report's cells come from)")
    a = ap.parse_args(argv)
    if a.quick:
        a.models, a.repeats, a.callgrind, a.quiet_wait = "default", 1, False, 0
    models = [m.strip() for m in a.models.split(",") if m.strip()]
    types = [t.strip() for t in a.types.split(",") if t.strip()]
    backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    for m in models:
        if m not in ("default", "mid", "117m"):
            ap.error("unknown model %r" % m)
    for t in types:
        if t not in TYPES:
            ap.error("unknown type %r" % t)
    for b in backends:
        if b not in BACKENDS:
            ap.error("unknown backend %r" % b)
    if not os.path.exists(os.path.join(_CACHE, "gpt2", "encoder.json")) and set(models) - {"default"}:
        ap.error("the GPT-2 vocabulary is missing: run `make data` first")

    t_start = time.time()
    meta = {"date": time.strftime("%Y-%m-%d"), "models": models, "types": types, "backends": backends,
            "files": {}, "model_info": {}, "notes": list(a.note), "targets": []}
    meta["cores"] = os.cpu_count() or 1
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    meta["cpu"] = cpu
    meta["simd"] = " ".join(o[7:].replace("=ON", "") for o in llamacpp.cmake_options()
                            if o.startswith("-DGGML_") and o.endswith("=ON") and "NATIVE" not in o) or "no SIMD flags"
    mpver = "no micropython"
    if os.path.exists(MICROPYTHON):
        r = subprocess.run([MICROPYTHON, "-c", "import sys; print(sys.implementation.version)"],
                           capture_output=True, text=True)
        mpver = "MicroPython %s (unix port, x64)" % ".".join(r.stdout.strip("()\n ").split(", ")[:3])
    meta["micropython"] = mpver

    for m in models:
        if m == "default":
            files, src = default_model_files(types)
            title, short = "Default model", "default"
        else:
            files = random_model_files(m, types)
            L_, E_, H_, V_, C_ = RANDOM[m]
            src = "Random weights, made by host_tools/gen/make_random_gpt2.py (GPT-2 vocabulary cut to %d)" % V_
            title = "GPT-2-117M-shaped, random weights" if m == "117m" else "In between, random weights"
            short = "117M" if m == "117m" else "mid %dL/%d" % (L_, E_)
        for t, p in files.items():
            meta["files"][(m, t)] = p
        shape = model_shape(files[types[0]])
        meta["model_info"][m] = {"title": title, "short": short, "source": src, "shape": shape,
                                 "macs": macs_per_token(shape)}

    import nanollm
    res = {}
    cg = {}
    profile = {}
    if a.render:
        with open(a.render) as f:
            saved = json.load(f)
        res = {tuple(k.split("|")): v for k, v in saved["results"].items()}
        cg = saved.get("callgrind") or {}
        profile = {k: tuple(v) for k, v in (saved.get("profile") or {}).items()}
        meta["n_prompt_ids"] = saved.get("n_prompt_ids", 0)
        a.callgrind = False
        if cg:
            meta["callgrind"] = cg
        if profile:
            meta["profile"] = profile
    for m in (models if not a.render else []):
        mdl = nanollm.load(meta["files"][(m, types[0])], ctx=8)
        ids = mdl.tokenize(PROMPT)
        mdl.close()
        meta["n_prompt_ids"] = len(ids)
        shape = meta["model_info"][m]["shape"]
        ctx = min(shape["n_ctx"], len(ids) + a.gen + 2)
        for t in types:
            path = meta["files"][(m, t)]
            active = []
            for b in backends:
                why = missing_reason(b)
                if why:
                    res[(m, t, b)] = why
                    log("%s %s %s: %s" % (m, t, b, why))
                    continue
                # estimate from a smaller model measured with the same backend and type
                est = None
                for m2 in ("mid", "default"):
                    s2 = res.get((m2, t, b))
                    if m2 != m and isinstance(s2, dict) and s2["gen"] and \
                            meta["model_info"][m2]["macs"] < meta["model_info"][m]["macs"]:
                        est = s2["gen"] * meta["model_info"][m]["macs"] / meta["model_info"][m2]["macs"] / 1000.0
                        break
                if est is not None and est > a.max_token_s:
                    res[(m, t, b)] = "not run: est. %.0f s/token (scaled by MACs from the smaller model)" % est
                    log("%s %s %s: %s" % (m, t, b, res[(m, t, b)]))
                    continue
                active.append(b)
            # Interleaved: round r runs every backend once (starting one further along each
            # round), so a change in the machine's load falls on all of them alike; each run
            # starts when the load average is low (or after --quiet-wait) and records it.
            runs = {b: [] for b in active}
            spent = {b: 0.0 for b in active}
            failed = {}
            for rep in range(a.repeats):
                k = rep % len(active) if active else 0
                for b in active[k:] + active[:k]:
                    if b in failed or (rep > 0 and spent[b] > 2 * a.cell_s):
                        continue  # slow cell: fewer repeats
                    load = wait_quiet(a.quiet_load, a.quiet_wait)
                    t_run = time.time()
                    try:
                        if b in LLAMA:
                            r = run_llama(b, path, ids, len(ids), a.gen)
                        else:
                            r = run_ours(b, path, ids, len(ids), a.gen, a.cell_s, ctx)
                    except (RuntimeError, OSError) as e:
                        failed[b] = "failed: %s" % str(e).replace("\n", " ").replace("|", "/")[:200]
                        log("%s %s %s: %s" % (m, t, b, e))
                        continue
                    spent[b] += time.time() - t_run
                    r["load"] = load
                    runs[b].append(r)
            for b in active:
                if b in failed:
                    res[(m, t, b)] = failed[b]
                    continue
                s = summarize(runs[b])
                res[(m, t, b)] = s
                log("%s %s %-13s prompt %s ms/tok, gen %s ms/tok (%d+%d x%d), RSS %s, load %.2f, SIMD %s"
                    % (m, t, b, fmt_ms(s["prompt"]), fmt_ms(s["gen"]), s["n_prompt"], s["n_gen"], s["n"],
                       fmt_bytes(s["rss"]), s["load"], s["simd"]))

    # greedy agreement on quantized files between our integer path and llama.cpp, as a sanity note
    for m in models:
        for t in types:
            s1, s2 = res.get((m, t, "mp-native")), res.get((m, t, "llama.cpp-1t"))
            if isinstance(s1, dict) and isinstance(s2, dict):
                n = min(len(s1["tokens"]), len(s2["tokens"]))
                same = 0
                while same < n and s1["tokens"][same] == s2["tokens"][same]:
                    same += 1
                meta["notes"].append("%s %s: greedy tokens of ours (native) and llama.cpp agree for %d of %d"
                                     % (meta["model_info"][m]["short"], t, same, n))

    if a.callgrind and "117m" in models and "q8_0" in types:
        path = meta["files"][("117m", "q8_0")]
        mdl = nanollm.load(path, ctx=8)
        ids = mdl.tokenize(PROMPT)
        mdl.close()
        for b in ("llama.cpp-1t", "mp-native", "mp-viper", "mp-bytecode", "cpython"):
            why = missing_reason(b) if b in backends else "not selected"
            s = res.get(("117m", "q8_0", b))
            if why:
                cg[b] = why
            elif not isinstance(s, dict) or s["gen"] > 5000:
                cg[b] = "not run: %s" % ("est. %.0fG instructions (from wall time, ~3 G instr/s)" % (
                    s["gen"] * 3e-3) if isinstance(s, dict) else "too slow under valgrind (~50x wall time)")
            elif cg_cached(b, path) is not None:
                cg[b] = cg_cached(b, path)
                log("callgrind: %s from %s" % (b, rel(CG_CACHE)))
            else:
                log("callgrind: %s (slow: valgrind runs ~50x slower)" % b)
                try:
                    cg[b] = ir_per_token(b, path, ids, 8)
                    cg_store(b, path, cg[b])
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    cg[b] = "failed: %s" % str(e)[:200]
                log("  %s: %s" % (b, cg[b]))
        meta["callgrind"] = cg
        # per-op breakdown of our forward
        for b in ("mp-native", "mp-viper"):
            if missing_reason(b) or b not in backends:
                continue
            try:
                r = run_ours(b, path, ids, 1, 3, 1e9, 8, profile=True)
            except RuntimeError as e:
                meta["notes"].append("profile %s failed: %s" % (b, e))
                continue
            ntok = r["n_prompt"] + r["n_gen"]
            profile[b] = (r["prompt_ms"] + r["gen_ms"], r["prof"], ntok)
        meta["profile"] = profile

    if a.render and "117m" in models and ("117m", "q8_0") in meta["files"]:
        for b in list(cg):
            v = cg_cached(b, meta["files"][("117m", "q8_0")])
            if v is not None and not isinstance(cg[b], float):
                cg[b] = v
    meta["quiet_load"], meta["quiet_wait"] = a.quiet_load, a.quiet_wait
    for s in res.values():
        if isinstance(s, dict) and s.get("system_info") and not meta.get("llama_system_info"):
            meta["llama_system_info"] = s["system_info"]
    levels = sorted({res[k]["simd"] for k in res if k[2] == "mp-native" and isinstance(res[k], dict)})
    meta["our_simd"] = ", ".join(levels)

    # targets
    def gen(m, t, b):
        s = res.get((m, t, b))
        return s["gen"] if isinstance(s, dict) else None
    n1, l1 = gen("117m", "q8_0", "mp-native"), gen("117m", "q8_0", "llama.cpp-1t")
    if isinstance(cg.get("mp-native"), float) and isinstance(cg.get("llama.cpp-1t"), float):
        q = cg["mp-native"] / cg["llama.cpp-1t"]
        meta["targets"].append("native instructions per generated token <= 2x llama.cpp single-thread, 117M q8_0 "
                               "(callgrind): %.2fx (%.3g vs %.3g): %s"
                               % (q, cg["mp-native"], cg["llama.cpp-1t"], "met" if q <= 2 else "MISSED"))
    if n1 and l1:
        s1 = res[("117m", "q8_0", "mp-native")]
        meta["targets"].append("native wall-clock generation ms/token <= 2x llama.cpp single-thread in the same run, "
                               "117M q8_0: %.2fx (%s ms vs %s ms, medians of %d and %d interleaved runs, load %.2f): %s"
                               % (n1 / l1, fmt_ms(n1), fmt_ms(l1), s1["n"], res[("117m", "q8_0", "llama.cpp-1t")]["n"],
                                  s1["load"] if s1.get("load") is not None else float("nan"),
                                  "met" if n1 / l1 <= 2 else "MISSED"))
    for m in models:
        v, p = gen(m, "q8_0", "mp-viper"), gen(m, "q8_0", "mp-bytecode")
        if v and p:
            meta["targets"].append("viper >= 15x plain bytecode, %s q8_0 generation: %.1fx: %s"
                                   % (meta["model_info"][m]["short"], p / v, "met" if p / v >= 15 else "MISSED"))
    meta["notes"].append("random-weight models have nearly flat logits, so greedy tokens can part on near-ties "
                         "(f32: ggml's GELU goes through an f16 table); the trained default model is the real check")
    meta["notes"].append("llama.cpp with all threads: on a shared, busy host its threads wait for each other "
                         "(spinning barriers), which is why it can be slower than one thread here")
    if not a.render:
        meta["notes"].append("bench run took %.0f minutes" % ((time.time() - t_start) / 60))
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump({"results": {"|".join(k): v for k, v in res.items()}, "callgrind": cg,
                   "n_prompt_ids": meta.get("n_prompt_ids", 0),
                       "profile": {k: list(v) for k, v in profile.items()}}, f, indent=1, default=str)
        os.replace(a.json + ".tmp", a.json)
    write_report(res, meta, a.out, a.png)
    log("wrote %s and %s" % (rel(a.out), rel(a.png)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
