#!/usr/bin/env python3
"""Held-out NLL of one model stored as each weight type, on MicroPython's integer path.

  python host_tools/harness/kquant_nll.py MODEL-f32.gguf [--tokens 1024] [--out docs/kquants.md]

The f32 model is re-stored by quantize.py's code as q8_0, q4_0, q4_1 and q4_K; each file runs
under the unix MicroPython (viper kernels) over the held-out tenth of tinyshakespeare (the
split train.py holds out), in independent windows of the model's context. Prints a markdown
table: NLL (nats/token) per type, the change against the f32 model's NLL (numpy float64
reference), and the reference's NLL on each file's own weights (what quantizing cost, before
the integer path's own error). --out also writes it into that file between markers.
"""
import argparse
import os
import sys
import time

import numpy as np

from nanollm_host import gguf_model as gm
from nanollm_host.paths import CACHE, ROOT
from nanollm_host.reference import Reference

TYPES = ("q8_0", "q4_0", "q4_1", "q4_K")
BEGIN = "<!-- kquant-nll begin -->"
END = "<!-- kquant-nll end -->"


def heldout_ids(model_path, n_tokens):
    import nanollm
    corpus = os.path.join(CACHE, "corpus", "tinyshakespeare.txt")
    with open(corpus, encoding="utf-8") as f:
        text = f.read()
    held = text[len(text) * 9 // 10:]
    m = nanollm.load(model_path, ctx=8)
    ids = m.tokenize(held[:n_tokens * 8])[:n_tokens + 1]
    m.close()
    return ids, m.n_ctx_train


def nll_windows(rows_fn, ids, window, scale=1.0):
    tot, n = 0.0, 0
    for w0 in range(0, len(ids) - 1, window):
        win = ids[w0:w0 + window + 1]
        if len(win) < 2:
            break
        lg = np.array(rows_fn(win[:-1]), dtype=np.float64) * scale
        mx = lg.max(axis=1, keepdims=True)
        lse = (mx + np.log(np.exp(lg - mx).sum(axis=1, keepdims=True)))[:, 0]
        tot += float((lse - lg[np.arange(len(win) - 1), win[1:]]).sum())
        n += len(win) - 1
    return tot / n


def micropython_rows(path):
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from testutil import run_micropython_file

    def rows(ids):
        out = run_micropython_file("forward_logits.py", ["viper", path, "auto", ",".join(map(str, ids))])
        lines = out.strip().splitlines()
        if lines[0].split()[1:3] != ["viper", "int"]:
            raise RuntimeError("expected the viper integer path: %s" % lines[0])
        return [[int(v) for v in ln.split()] for ln in lines[1:]]
    return rows


def measure(f32_path, n_tokens, work, log=print):
    ids, n_ctx = heldout_ids(f32_path, n_tokens)
    window = n_ctx
    base = nll_windows(Reference(f32_path).logits, ids, window)
    res = {"f32": (base, base, None)}
    for t in TYPES:
        p = os.path.join(work, "%s.gguf" % t)
        gm.quantize_file(f32_path, p, t, log=lambda s: None)
        t0 = time.time()
        got = nll_windows(micropython_rows(p), ids, window, 1 / 65536)
        ref = nll_windows(Reference(p).logits, ids, window)
        res[t] = (got, ref, os.path.getsize(p))
        log("%s: %.5f (%+.2f %%), %.0f s" % (t, got, 100 * (got / base - 1), time.time() - t0))
    return res, len(ids) - 1, window


def markdown(res, f32_path, n, window):
    base = res["f32"][0]
    rows = ["| weights | file bytes | held-out NLL, MicroPython integer path | vs f32 | reference NLL on the same weights |",
            "|---|---:|---:|---:|---:|",
            "| f32 (numpy float64 reference) | %s | %.4f | | |" % (format(os.path.getsize(f32_path), ","), base)]
    for t in TYPES:
        got, ref, size = res[t]
        rows.append("| %s | %s | %.4f | %+.2f %% | %.4f |" % (t, format(size, ","), got, 100 * (got / base - 1), ref))
    head = ("Measured by `make kquant-nll` (%s, %d held-out tokens of tinyshakespeare in windows of %d):"
            % (os.path.relpath(f32_path, ROOT), n, window))
    return head + "\n\n" + "\n".join(rows)


def write_section(path, body):
    text = open(path).read() if os.path.exists(path) else ""
    block = "%s\n%s\n%s" % (BEGIN, body, END)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text += "\n" + block + "\n"
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="the f32 GGUF model")
    ap.add_argument("--tokens", type=int, default=1024, help="held-out tokens (default 1024)")
    ap.add_argument("--out", help="also write the table into this markdown file (between markers)")
    a = ap.parse_args(argv)
    import tempfile
    with tempfile.TemporaryDirectory(prefix="kquant-nll-") as work:
        res, n, window = measure(a.model, a.tokens, work, log=lambda s: print(s, file=sys.stderr, flush=True))
    body = markdown(res, a.model, n, window)
    print(body)
    if a.out:
        write_section(a.out, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
