#!/usr/bin/env python3
"""Check the nanollm runtime (lib/nanollm) against the numpy reference on the same tokens.

  python host_tools/check.py model.gguf
  python host_tools/check.py model-q8_0.gguf --prompt "ROMEO:" --f32-reference model.gguf
  python host_tools/check.py model.gguf --tokens ids.txt --interpreter cpython

The runtime is run token by token (m.reset(); m.forward(token, pos)) in this CPython process
and/or under the unix `micropython` command (a small script in a subprocess that writes the
raw logit arrays to a file). Integer-path logits are scaled by m.logit_scale. For every
position it prints the largest |logit difference|, whether the top-1 token agrees, and the
next-token NLL under the reference and under the runtime; then a summary per interpreter.

Two questions, kept apart:
  Is the runtime right? It is judged against the reference on the SAME weights (a quantized
  file's weights dequantized), PASS or FAIL (exit 0 / 1; bad input exits 2):
    files without quantized tensors (f32, f16): max |diff| <= --atol (default 1e-4)
    quantized files (the integer path): the runtime's mean NLL within --nll-tol (default
      1 %) of the reference's; --atol may be given to check the logits as well.
    with --prompt, the runtime's tokenizer must also agree with the reference tokenization.
  What did quantizing cost? With --f32-reference F32.gguf (the same model unquantized), the
  NLL of MODEL's weights is compared with the f32 weights' and reported, not judged: that
  loss belongs to the file, not to the runtime.

A file holding types the runtime does not run (llama.cpp's q2_K, q3_K, q5_K, q6_K, q5_0, q5_1,
e.g. a Q4_K_M download) is re-stored first, in a temporary file, as --as (default q4_K, rows
that are not whole super-blocks as q8_0), exactly as quantize.py would: the runtime is judged
on that file, and the NLL of the file's own weights is reported beside it.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from nanollm_host import gguf_model as gm
from nanollm_host import quants
from nanollm_host import tools
from nanollm_host.paths import LIB
from nanollm_host.reference import Reference, log_softmax

DEFAULT_PROMPT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
                  "All:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n")
# The integer path's own error, on the same weights, for every weight type: measured at most
# 0.1 % on the test fixtures (tests/test_check.py).
NLL_TOL = 0.01

# The script run under MicroPython. It writes the raw bytes of each logits array to OUT and
# prints one line describing them, so nothing is lost to text formatting.
MP_SCRIPT = """\
import array
import nanollm
kw = %(kw)r
m = nanollm.load(%(model)r, **kw)
m.reset()
ids = %(ids)r
kind = None
f = open(%(out)r, "wb")
for pos in range(len(ids)):
    lg = m.forward(ids[pos], pos)
    if not isinstance(lg, array.array):
        lg = array.array("d" if isinstance(lg[0], float) else "q", lg)
    if kind is None:
        kind = ("float" if isinstance(lg[0], float) else "int", len(bytes(lg)) // len(lg), len(lg))
    f.write(lg)
f.close()
text = %(text)r
if text is not None:
    print("TOKENS", " ".join(str(t) for t in m.tokenize(text)))
print("LOGITS", kind[0], kind[1], kind[2], repr(m.logit_scale), getattr(m, "mode", "?"), nanollm.backend())
"""


def micropython_command(explicit=None):
    if explicit:
        return explicit if os.path.exists(explicit) else shutil.which(explicit)
    return tools.micropython(required=False)


# --------------------------------------------------------------------------- tokens

def reference_tokenizer(vocab):
    """A byte-level BPE tokenizer from the GGUF's tokens/merges, built with `tokenizers`."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tv = {t: i for i, t in enumerate(vocab.tokens)}
    merges = [tuple(m.split(" ", 1)) for m in vocab.merges]
    tok = Tokenizer(models.BPE(vocab=tv, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    # Special tokens are not registered: the runtime encodes "<|endoftext|>" written in a
    # prompt as plain text (as llama.cpp does unless asked to parse specials), and so must
    # the reference it is compared with.
    return tok


def read_token_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise gm.ToolError("cannot read %s: %s" % (path, e.strerror or e))
    try:
        return [int(t) for t in text.replace(",", " ").split()]
    except ValueError:
        raise gm.ToolError("%s: expected token ids (integers separated by spaces, commas or newlines)" % path)


# --------------------------------------------------------------------------- runtimes

def runtime_kwargs(mode):
    return {"mode": mode} if mode else {}


def run_cpython(model_path, ids, mode, text=None):
    """Logits (T, n_vocab) float64 from lib/nanollm imported into this process, plus info
    (mode, backend, scale and, when text is given, the runtime's tokenization of it)."""
    import nanollm
    try:
        m = nanollm.load(model_path, **runtime_kwargs(mode))
        m.reset()
        rows = [np.array(m.forward(int(t), pos), dtype=np.float64) for pos, t in enumerate(ids)]
        info = {"mode": getattr(m, "mode", "?"), "backend": getattr(nanollm, "backend", lambda: "?")(),
                "scale": float(m.logit_scale)}
        if text is not None:
            info["tokens"] = [int(t) for t in m.tokenize(text)]
        if hasattr(m, "close"):
            m.close()
    except Exception as e:  # the runtime's own errors are part of what is being checked
        raise gm.ToolError("runtime under CPython failed: %s: %s" % (type(e).__name__, e))
    return np.stack(rows) * info["scale"], info


def run_micropython(model_path, ids, lib, mode, exe, heapsize=None, text=None, timeout=3600):
    if exe is None:
        raise gm.ToolError("the `micropython` command was not found (install it, pass --micropython PATH, "
                           "or use --interpreter cpython)")
    with tempfile.TemporaryDirectory(prefix="nanollm-check-") as tmp:
        out = os.path.join(tmp, "logits.bin")
        script = os.path.join(tmp, "check_runtime.py")
        with open(script, "w") as f:
            f.write(MP_SCRIPT % {"model": os.path.abspath(model_path),
                                 "ids": [int(t) for t in ids], "out": out, "kw": runtime_kwargs(mode),
                                 "text": text})
        cmd = [exe] + (["-X", "heapsize=%s" % heapsize] if heapsize else []) + [script]
        try:
            env = dict(os.environ, MICROPYPATH=".frozen:" + os.path.abspath(lib))
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise gm.ToolError("micropython did not finish within %d s" % timeout)
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or r.stdout.strip().splitlines() or ["(no output)"])[-1]
            raise gm.ToolError("runtime under micropython failed (exit %d): %s" % (r.returncode, last))
        line = [ln for ln in r.stdout.splitlines() if ln.startswith("LOGITS ")]
        if not line:
            raise gm.ToolError("micropython script printed no LOGITS line: %r" % r.stdout[-200:])
        _, kind, size, n, scale, rt_mode, backend = line[-1].split()[:7]
        dtype = {("float", "4"): "<f4", ("float", "8"): "<f8", ("int", "4"): "<i4",
                 ("int", "8"): "<i8", ("int", "2"): "<i2"}.get((kind, size))
        if dtype is None:
            raise gm.ToolError("micropython logits of kind %s, %s bytes each, are not understood" % (kind, size))
        data = np.fromfile(out, dtype=dtype).astype(np.float64)
        n = int(n)
        if data.size != n * len(ids):
            raise gm.ToolError("micropython wrote %d logits, expected %d x %d" % (data.size, len(ids), n))
    info = {"mode": rt_mode, "backend": backend, "scale": float(scale)}
    tok_line = [ln for ln in r.stdout.splitlines() if ln.startswith("TOKENS")]
    if text is not None and tok_line:
        info["tokens"] = [int(t) for t in tok_line[-1].split()[1:]]
    return data.reshape(len(ids), n) * info["scale"], info


# --------------------------------------------------------------------------- comparison

def next_token_nll(logits, ids):
    """(T-1,) -log p(ids[p+1]) from the logits at position p."""
    if len(ids) < 2:
        return np.zeros(0)
    lp = log_softmax(np.asarray(logits, dtype=np.float64)[:-1])
    return -lp[np.arange(len(ids) - 1), np.asarray(ids[1:])]


def compare(name, ref_logits, rt_logits, ids, criteria, say, verbose=True):
    """Print the per-position table and a summary; returns True when within tolerance."""
    if rt_logits.shape != ref_logits.shape:
        say("%s: runtime gave logits of shape %s, the reference %s" % (name, rt_logits.shape, ref_logits.shape))
        return False
    diff = np.abs(rt_logits - ref_logits).max(axis=1)
    agree = rt_logits.argmax(axis=1) == ref_logits.argmax(axis=1)
    nll_ref = next_token_nll(ref_logits, ids)
    nll_rt = next_token_nll(rt_logits, ids)
    if verbose:
        say("%5s %7s %11s %5s %9s %9s" % ("pos", "token", "max|diff|", "top1", "nll_ref", "nll_rt"))
        for p in range(len(ids)):
            tail = ("%9.4f %9.4f" % (nll_ref[p], nll_rt[p])) if p < len(ids) - 1 else "%9s %9s" % ("-", "-")
            say("%5d %7d %11.3e %5s %s" % (p, ids[p], diff[p], "yes" if agree[p] else "NO", tail))
    ok = True
    parts = ["max|diff| %.3e (pos %d)" % (diff.max(), int(diff.argmax())),
             "top-1 agree %d/%d" % (int(agree.sum()), len(ids))]
    verdicts = []
    if criteria.get("atol") is not None:
        good = bool(diff.max() <= criteria["atol"])
        ok &= good
        verdicts.append("max|diff| %s %.0e" % ("<=" if good else ">", criteria["atol"]))
    if len(ids) >= 2:
        m_ref, m_rt = float(nll_ref.mean()), float(nll_rt.mean())
        parts.append("NLL ref %.4f runtime %.4f" % (m_ref, m_rt))
        if criteria.get("nll_tol") is not None:
            rel = (m_rt - m_ref) / m_ref
            good = bool(abs(rel) <= criteria["nll_tol"])
            ok &= good
            verdicts.append("NLL %+.2f %% vs the reference on the same weights (limit %g %%)"
                            % (100 * rel, 100 * criteria["nll_tol"]))
    say("summary %s: %s; %s -> %s" % (name, ", ".join(parts), "; ".join(verdicts) or "no criterion",
                                      "PASS" if ok else "FAIL"))
    return ok


def quantization_report(main_type, nll_weights, nll_f32, f32_path, nll_runtime):
    """One line: what storing the weights as main_type cost in NLL against the f32 file
    (reported, not judged), and the runtime's NLL against the same f32 figure."""
    rel = (nll_weights - nll_f32) / nll_f32
    rt = "; ".join("%s %.4f (%+.2f %%)" % (k, v, 100 * (v - nll_f32) / nll_f32)
                   for k, v in nll_runtime.items() if v is not None)
    return ("quantization loss (reported, not judged): NLL of the %s weights %.4f vs %.4f for %s "
            "(%+.2f %%)%s" % (main_type, nll_weights, nll_f32, f32_path, 100 * rel,
                              "; the runtime's: " + rt if rt else ""))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="check.py", description=__doc__.split("\n\n")[0],
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="GGUF model to check")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--prompt", help="text to tokenize and run (default: a few lines of Shakespeare)")
    src.add_argument("--tokens", metavar="FILE", help="file of token ids (spaces, commas or newlines)")
    ap.add_argument("--interpreter", choices=("both", "cpython", "micropython"), default="both",
                    help="where to run the runtime (default: both)")
    ap.add_argument("--max-tokens", type=int, default=64, metavar="N",
                    help="use at most N tokens (default 64; never more than the model's context)")
    ap.add_argument("--f32-reference", metavar="F32.gguf",
                    help="the same model unquantized: report what quantizing cost (not judged)")
    ap.add_argument("--atol", type=float, help="max |logit diff| allowed (default 1e-4 for unquantized "
                                               "files; unchecked for quantized ones unless given)")
    ap.add_argument("--nll-tol", type=float, metavar="FRACTION",
                    help="quantized files: allowed relative NLL difference between the runtime and "
                         "the reference on the same weights (default %g)" % NLL_TOL)
    ap.add_argument("--mode", choices=("int", "float"), help="runtime path (default: the runtime's choice)")
    ap.add_argument("--as", dest="as_type", default="q4_K", metavar="TYPE",
                    help="a file with types the runtime does not run (q6_K, ...) is checked re-stored as "
                         "TYPE (default %(default)s; see quantize.py)")
    ap.add_argument("--micropython", metavar="PATH", help="micropython executable (default: venv, then PATH)")
    ap.add_argument("--heapsize", help="MicroPython heap size, e.g. 4M (default: micropython's)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print only the summaries")
    a = ap.parse_args(argv)
    say = print

    as_type = gm.parse_outtype(a.as_type)
    with tempfile.TemporaryDirectory(prefix="nanollm-check-as-") as tmp:
        return _check(a, say, as_type, tmp)


def _check(a, say, as_type, tmp):
    ref = Reference(a.model)
    hp, model = ref.hparams, ref.model
    model_path = a.model
    own_ref = None
    foreign = sorted({t for t in model.types.values() if t in quants.READ_ONLY})
    if foreign:
        model_path = os.path.join(tmp, "as-%s.gguf" % as_type)
        say("%s holds %s tensors, which the runtime does not run: checking it re-stored as %s "
            "(as `python host_tools/quantize.py %s OUT %s` writes it)" % (a.model, "/".join(foreign), as_type, a.model, as_type))
        gm.quantize_file(a.model, model_path, as_type, log=lambda s: None)
        own_ref = ref
        ref = Reference(model_path)
        hp, model = ref.hparams, ref.model
    if a.max_tokens < 1:
        raise gm.ToolError("--max-tokens must be at least 1")
    limit = min(a.max_tokens, hp.n_ctx)
    runtime_text = None
    if a.tokens:
        ids = read_token_file(a.tokens)
        origin = a.tokens
    else:
        text = DEFAULT_PROMPT if a.prompt is None else a.prompt
        ids = reference_tokenizer(model.vocab).encode(text).ids
        origin = "--prompt" if a.prompt is not None else "the default prompt"
        runtime_text = text
    if not ids:
        raise gm.ToolError("no tokens to check (empty prompt or token file)")
    ids = [int(t) for t in ids[:limit]]
    bad = [t for t in ids if not 0 <= t < hp.n_vocab]
    if bad:
        raise gm.ToolError("token id %d is outside the vocabulary (0..%d)" % (bad[0], hp.n_vocab - 1))

    quantized = sorted({t for t in model.types.values() if t in gm.QUANTIZED})
    criteria = {"atol": a.atol}
    if not quantized:
        if criteria["atol"] is None:
            criteria["atol"] = 1e-4
    else:
        criteria["nll_tol"] = a.nll_tol if a.nll_tol is not None else NLL_TOL
        if len(ids) < 2:
            raise gm.ToolError("a quantized model is judged by NLL: give at least 2 tokens")
    if a.f32_reference and len(ids) < 2:
        raise gm.ToolError("--f32-reference compares NLL: give at least 2 tokens")
    ref_logits = ref.logits(ids)
    f32_nll = None
    if a.f32_reference:
        base = Reference(a.f32_reference)
        if (base.n_vocab, base.hparams.n_embd, base.hparams.n_layer) != (hp.n_vocab, hp.n_embd, hp.n_layer):
            raise gm.ToolError("%s is not the same model as %s (sizes differ)" % (a.f32_reference, a.model))
        f32_nll = base.nll(ids)

    say("model: %s (%s; %d layers, n_embd %d, n_vocab %d, ctx %d)"
        % (a.model, model.main_type, hp.n_layer, hp.n_embd, hp.n_vocab, hp.n_ctx))
    say("tokens: %d from %s; reference: numpy float64 on the %s weights"
        % (len(ids), origin, "dequantized" if quantized else "stored"))

    ok = True
    nll_rt = {}
    which = ("cpython", "micropython") if a.interpreter == "both" else (a.interpreter,)
    for name in which:
        if name == "cpython":
            rt, info = run_cpython(model_path, ids, a.mode, text=runtime_text)
        else:
            rt, info = run_micropython(model_path, ids, LIB, a.mode, micropython_command(a.micropython),
                                       a.heapsize, text=runtime_text)
        say("== %s: runtime mode %s, backend %s, logit scale %r ==" % (name, info["mode"], info["backend"], info["scale"]))
        if "tokens" in info:
            got = info["tokens"][:limit]
            if got != ids:
                first = next((i for i, (x, y) in enumerate(zip(got, ids)) if x != y), min(len(got), len(ids)))
                say("tokenizer %s: the runtime's tokens differ from the reference from token %d "
                    "(runtime %s, reference %s) -> FAIL" % (name, first, got[first:first + 3], ids[first:first + 3]))
                ok = False
            else:
                say("tokenizer %s: the runtime's %d tokens agree with the reference" % (name, len(got)))
        ok &= compare(name, ref_logits, rt, ids, criteria, say, verbose=not a.quiet)
        nll_rt[name] = float(next_token_nll(rt, ids).mean()) if len(ids) >= 2 else None
    if f32_nll is not None:
        say(quantization_report(model.main_type, float(next_token_nll(ref_logits, ids).mean()), f32_nll,
                                a.f32_reference, nll_rt))
    if own_ref is not None and len(ids) >= 2:
        say("NLL of %s's own weights (reference): %.4f; re-stored as %s: %.4f"
            % (a.model, own_ref.nll(ids), as_type, float(next_token_nll(ref_logits, ids).mean())))
    say("check: %s (the runtime against the reference on the same weights)" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(gm.run_tool(main, prog="check.py"))
