"""llama.cpp beside nanollm: fetch, build (cached) and run it on the same GGUF files.

llama.cpp comes from the PyPI sdist of llama-cpp-python (it vendors vendor/llama.cpp and
convert_hf_to_gguf.py), fetched with pip into .cache/llamacpp/. Only the static libllama
and our small driver host_tools/harness/llama_run.c are built, into build/llama.cpp/, with
-DGGML_NATIVE=OFF (the host's SIMD level is chosen from /proc/cpuinfo, never AMX).
A stamp records the inputs; an up-to-date build is skipped.

  python -m nanollm_host.llamacpp build              # fetch + build (a few minutes, once)
  python -m nanollm_host.llamacpp run M.gguf -p 15496,995 -n 16
  python -m nanollm_host.llamacpp tokenize M.gguf "Hello world"
  python -m nanollm_host.llamacpp convert HF_DIR OUT.gguf --outtype f32   # llama.cpp's converter

From Python: build(), run(model, prompt_ids, n_gen, threads=1, logits=False, kv_f32=False),
tokenize(model, text), convert_hf(hf_dir, out, outtype) -> list of notes.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

from nanollm_host.paths import BUILD as _BUILD, CACHE as _CACHE, HOST_TOOLS, ROOT

VERSION = "0.3.36"  # llama-cpp-python sdist; its vendor/llama.cpp is what we build
CACHE = os.path.join(_CACHE, "llamacpp")
SDIST = os.path.join(CACHE, "llama_cpp_python-%s.tar.gz" % VERSION)
SRC = os.path.join(CACHE, "llama_cpp_python-%s" % VERSION, "vendor", "llama.cpp")
BUILD = os.path.join(_BUILD, "llama.cpp")
DRIVER_SRC = os.path.join(HOST_TOOLS, "harness", "llama_run.c")
DRIVER = os.path.join(BUILD, "bin", "llama_run")
STAMP = os.path.join(BUILD, "nanollm.stamp")
QUANT_SRC = os.path.join(HOST_TOOLS, "harness", "llama_quant.c")
QUANT = os.path.join(BUILD, "bin", "llama_quant")  # llama.cpp's quantizers (build_quant)


class LlamaCppError(Exception):
    pass


def say(msg):
    print("[llamacpp] " + msg, file=sys.stderr, flush=True)


def fetch():
    """Download the sdist with pip (once) and unpack it; returns the llama.cpp source folder."""
    if os.path.exists(os.path.join(SRC, "CMakeLists.txt")):
        return SRC
    os.makedirs(CACHE, exist_ok=True)
    if not os.path.exists(SDIST):
        say("downloading llama-cpp-python==%s sdist with pip (76 MB)" % VERSION)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                        "--no-binary", "llama-cpp-python", "--no-deps",
                        "llama-cpp-python==%s" % VERSION, "-d", CACHE], check=True)
        if not os.path.exists(SDIST):
            raise LlamaCppError("pip did not leave %s" % os.path.relpath(SDIST, ROOT))
    say("unpacking %s" % os.path.basename(SDIST))
    tmp = tempfile.mkdtemp(dir=CACHE, prefix="unpack-")
    with tarfile.open(SDIST) as tf:
        tf.extractall(tmp, filter="data")
    os.replace(os.path.join(tmp, os.path.basename(os.path.dirname(os.path.dirname(SRC)))),
               os.path.dirname(os.path.dirname(SRC)))
    shutil.rmtree(tmp, ignore_errors=True)
    return SRC


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cmake_options():
    """Portable build (no -march=native), SIMD chosen from what this CPU reports."""
    opts = ["-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=OFF", "-DBUILD_SHARED_LIBS=OFF",
            "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_TOOLS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
            "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_BUILD_COMMON=OFF",
            "-DLLAMA_OPENSSL=OFF", "-DGGML_CCACHE=OFF"]
    import platform
    if platform.machine() in ("x86_64", "AMD64"):
        fl = cpu_flags()
        for opt, flag in (("SSE42", "sse4_2"), ("AVX", "avx"), ("AVX2", "avx2"), ("FMA", "fma"),
                          ("F16C", "f16c"), ("BMI2", "bmi2")):
            opts.append("-DGGML_%s=%s" % (opt, "ON" if flag in fl else "OFF"))
    return opts


def _stamp_text():
    with open(DRIVER_SRC, "rb") as f:
        drv = hashlib.sha256(f.read()).hexdigest()
    return json.dumps({"version": VERSION, "cmake": cmake_options(), "driver": drv}, sort_keys=True)


def up_to_date():
    try:
        with open(STAMP) as f:
            return f.read() == _stamp_text() and os.path.exists(DRIVER)
    except OSError:
        return False


def build(jobs=None, force=False):
    """Build libllama (static) and llama_run; skipped when the stamp matches."""
    if not force and up_to_date():
        return DRIVER
    for tool in ("cmake", "gcc", "g++"):
        if shutil.which(tool) is None:
            raise LlamaCppError("%s is missing: `make sysdeps` installs it (APT_PACKAGES in mk/bench.mk)" % tool)
    src = fetch()
    jobs = jobs or os.cpu_count() or 2
    t0 = time.time()
    os.makedirs(BUILD, exist_ok=True)
    say("configuring llama.cpp (%s)" % " ".join(o for o in cmake_options() if "GGML_" in o))
    subprocess.run(["cmake", "-S", src, "-B", BUILD] + cmake_options(), check=True,
                   stdout=subprocess.DEVNULL)
    say("building libllama with %d jobs (about 6 minutes on 2 cores the first time)" % jobs)
    subprocess.run(["cmake", "--build", BUILD, "--target", "llama", "-j", str(jobs)], check=True)
    libs = [os.path.join(BUILD, "src", "libllama.a")]
    for name in ("libggml.a", "libggml-cpu.a", "libggml-base.a"):
        libs.append(os.path.join(BUILD, "ggml", "src", name))
    missing = [p for p in libs if not os.path.exists(p)]
    if missing:
        raise LlamaCppError("the build did not produce %s" % ", ".join(os.path.relpath(p, ROOT) for p in missing))
    os.makedirs(os.path.dirname(DRIVER), exist_ok=True)
    obj = DRIVER + ".o"
    subprocess.run(["gcc", "-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-c", DRIVER_SRC,
                    "-I", os.path.join(src, "include"), "-I", os.path.join(src, "ggml", "include"),
                    "-o", obj], check=True)
    tmp = DRIVER + ".tmp"
    # the static libraries reference each other: link them as a group
    subprocess.run(["g++", "-o", tmp, obj, "-Wl,--start-group"] + libs +
                   ["-Wl,--end-group", "-fopenmp", "-lpthread", "-lm", "-ldl"], check=True)
    os.replace(tmp, DRIVER)
    with open(STAMP + ".tmp", "w") as f:
        f.write(_stamp_text())
    os.replace(STAMP + ".tmp", STAMP)
    say("built %s in %.0f s" % (os.path.relpath(DRIVER, ROOT), time.time() - t0))
    return DRIVER


def available():
    return up_to_date()


def build_quant():
    """Build llama_quant (host_tools/harness/llama_quant.c) against the built libraries: llama.cpp's
    own quantizers, for the tests. Rebuilt when its source changes."""
    if not up_to_date():
        build()
    with open(QUANT_SRC, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    stamp = QUANT + ".stamp"
    try:
        with open(stamp) as f:
            if f.read() == want and os.path.exists(QUANT):
                return QUANT
    except OSError:
        pass
    src = fetch()
    libs = [os.path.join(BUILD, "src", "libllama.a")] + [os.path.join(BUILD, "ggml", "src", n)
                                                          for n in ("libggml.a", "libggml-cpu.a", "libggml-base.a")]
    obj = QUANT + ".o"
    subprocess.run(["gcc", "-O2", "-std=c11", "-Wall", "-c", QUANT_SRC, "-I", os.path.join(src, "include"),
                    "-I", os.path.join(src, "ggml", "include"), "-o", obj], check=True)
    subprocess.run(["g++", "-o", QUANT + ".tmp", obj, "-Wl,--start-group"] + libs +
                   ["-Wl,--end-group", "-fopenmp", "-lpthread", "-lm", "-ldl"], check=True)
    os.replace(QUANT + ".tmp", QUANT)
    with open(stamp, "w") as f:
        f.write(want)
    return QUANT


def quantize_rows(x, type_id):
    """float32 rows (n_rows, n_per_row) -> uint8 blocks from ggml_quantize_chunk (no imatrix)."""
    import numpy as np
    x = np.ascontiguousarray(x, dtype=np.float32)
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "x.f32"), os.path.join(d, "q.bin")
        x.tofile(src)
        r = subprocess.run([build_quant(), "rows", str(type_id), str(x.shape[-1]), src, dst],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise LlamaCppError("llama_quant rows failed: %s" % r.stderr.strip()[-2000:])
        return np.fromfile(dst, dtype=np.uint8).reshape(x.shape[0], -1)


def quantize_model(inp, out, ftype, timeout=1800):
    """llama_model_quantize(inp -> out) at llama_ftype `ftype` (15 = Q4_K_M); its log is returned."""
    r = subprocess.run([build_quant(), "model", inp, out, str(int(ftype))], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise LlamaCppError("llama_quant model failed on %s: %s" % (inp, r.stderr.strip()[-2000:]))
    return r.stderr


def run(model, prompt_ids, n_gen=32, threads=1, logits=False, kv_f32=False, one_by_one=False,
        ctx=None, timeout=3600):
    """Run llama_run; returns its JSON dict (+ "logits": float32 array [positions, n_vocab])."""
    if not os.path.exists(DRIVER):
        raise LlamaCppError("llama.cpp is not built: run `make llamacpp`")
    cmd = [DRIVER, model, "-p", ",".join(str(int(t)) for t in prompt_ids), "-n", str(n_gen),
           "-t", str(threads)]
    if kv_f32:
        cmd.append("--kv-f32")
    if one_by_one:
        cmd.append("--one-by-one")
    if ctx:
        cmd += ["-c", str(ctx)]
    lpath = None
    if logits:
        fd, lpath = tempfile.mkstemp(suffix=".f32")
        os.close(fd)
        cmd += ["-l", lpath]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise LlamaCppError("llama_run failed on %s (exit %d): %s" % (model, r.returncode, r.stderr.strip()[-2000:]))
        out = json.loads(r.stdout)
        if lpath:
            import numpy as np
            out["logits"] = np.fromfile(lpath, dtype=np.float32).reshape(-1, out["n_vocab"])
        return out
    finally:
        if lpath and os.path.exists(lpath):
            os.unlink(lpath)


def tokenize(model, text):
    if not os.path.exists(DRIVER):
        raise LlamaCppError("llama.cpp is not built: run `make llamacpp`")
    r = subprocess.run([DRIVER, model, "--tokenize", text], capture_output=True, text=True)
    if r.returncode != 0:
        raise LlamaCppError("llama_run --tokenize failed: %s" % r.stderr.strip()[-2000:])
    return json.loads(r.stdout)["tokenized"]


# ---------------------------------------------------------------- llama.cpp's converter
# Run in a child process (python -m nanollm_host.llamacpp _convert ...): it imports the vendored
# convert_hf_to_gguf.py with the vendored gguf-py first on sys.path. Two things in it do not fit a
# GPT-2 checkpoint written by current transformers with a vocabulary of its own, and are bridged:
#  - GPT2Model.set_gguf_parameters reads hparams["n_ctx"]; config.json files written by
#    transformers 5 only hold n_positions -> we give it a config.json copy with n_ctx added.
#  - get_vocab_base_pre() identifies the pre-tokenizer by hashing the ids of a fixed text, so
#    any vocabulary other than a known model's is refused ("BPE pre-tokenizer was not
#    recognized"). Our tokenizers are GPT-2's byte-level BPE -> we answer "gpt-2" then.
# Each bridge used is reported as a note line "note: ..." on stderr and returned by convert_hf().

def _convert_child(hf_dir, out, outtype):
    sys.argv = ["convert_hf_to_gguf.py", hf_dir, "--outfile", out, "--outtype", outtype]
    import convert_hf_to_gguf as conv
    from conversion import base

    orig = base.TextModel.get_vocab_base_pre

    def vocab_pre(self, tokenizer):
        try:
            return orig(self, tokenizer)
        except NotImplementedError:
            print("note: pre-tokenizer hash not in llama.cpp's table (own vocabulary); recorded as 'gpt-2'",
                  file=sys.stderr)
            return "gpt-2"

    base.TextModel.get_vocab_base_pre = vocab_pre
    conv.main()


def convert_hf(hf_dir, out, outtype="f32", timeout=1800):
    """Convert hf_dir with llama.cpp's convert_hf_to_gguf.py; out is written atomically.
    Returns the notes (bridges that were needed)."""
    src = fetch()
    notes = []
    with open(os.path.join(hf_dir, "config.json")) as f:
        cfg = json.load(f)
    tmpdir = tempfile.mkdtemp(prefix="llamacpp-convert-")
    try:
        work = os.path.join(tmpdir, os.path.basename(os.path.normpath(hf_dir)))
        os.makedirs(work)
        for name in os.listdir(hf_dir):
            if name != "config.json":
                os.symlink(os.path.abspath(os.path.join(hf_dir, name)), os.path.join(work, name))
        if "n_ctx" not in cfg and "n_positions" in cfg:
            cfg["n_ctx"] = cfg["n_positions"]
            notes.append("config.json has no n_ctx (only n_positions): added n_ctx=%d for the converter" % cfg["n_ctx"])
        with open(os.path.join(work, "config.json"), "w") as f:
            json.dump(cfg, f)
        tmp_out = os.path.join(tmpdir, "out.gguf")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(src, "gguf-py"), src]))
        r = subprocess.run([sys.executable, "-m", "nanollm_host.llamacpp", "_convert", work, tmp_out, outtype],
                           capture_output=True, text=True, timeout=timeout, env=env)
        if r.returncode != 0 or not os.path.exists(tmp_out):
            raise LlamaCppError("convert_hf_to_gguf.py failed (exit %d):\n%s" % (r.returncode, r.stderr[-3000:]))
        notes += [ln[6:] for ln in r.stderr.splitlines() if ln.startswith("note: ")]
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        shutil.move(tmp_out, out + ".tmp")
        os.replace(out + ".tmp", out)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return notes


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_convert"]:
        _convert_child(*argv[1:4])
        return 0
    ap = argparse.ArgumentParser(prog="llamacpp.py", description=__doc__.split("\n\n")[0],
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="fetch and build llama.cpp + llama_run (skipped when up to date)")
    b.add_argument("-j", "--jobs", type=int, help="parallel build jobs (default: all cores)")
    b.add_argument("--force", action="store_true", help="rebuild even when the stamp matches")
    sub.add_parser("status", help="say whether the build is up to date")
    r = sub.add_parser("run", help="greedy continuation of token ids, with timings (JSON)")
    r.add_argument("model")
    r.add_argument("-p", "--prompt", required=True, help="comma-separated token ids")
    r.add_argument("-n", type=int, default=32, help="tokens to generate (default 32)")
    r.add_argument("-t", "--threads", type=int, default=1, help="threads (default 1)")
    r.add_argument("--kv-f32", action="store_true", help="f32 KV cache (default f16)")
    t = sub.add_parser("tokenize", help="llama.cpp's token ids for a text")
    t.add_argument("model")
    t.add_argument("text")
    c = sub.add_parser("convert", help="convert a HF GPT-2 folder with llama.cpp's convert_hf_to_gguf.py")
    c.add_argument("hf_dir")
    c.add_argument("out")
    c.add_argument("--outtype", default="f32", help="f32 (default), f16, q8_0, ...")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "build":
            print(os.path.relpath(build(a.jobs, a.force), ROOT))
        elif a.cmd == "status":
            print("up to date" if up_to_date() else "not built (or out of date)")
            return 0 if up_to_date() else 1
        elif a.cmd == "run":
            ids = [int(x) for x in a.prompt.split(",") if x.strip()]
            print(json.dumps(run(a.model, ids, a.n, a.threads, kv_f32=a.kv_f32)))
        elif a.cmd == "tokenize":
            print(tokenize(a.model, a.text))
        elif a.cmd == "convert":
            for n in convert_hf(a.hf_dir, a.out, a.outtype):
                print("note:", n)
            print("wrote", a.out)
    except (LlamaCppError, OSError, ValueError, subprocess.CalledProcessError) as e:
        print("llamacpp.py: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
