#!/usr/bin/env python3
"""Write a GPT-2 GGUF of a given shape with random weights, through our own GGUF writer.

For benchmarks: the numbers it computes mean nothing, the work per token is the real
model's. Weights follow GPT-2's initialisation (normal, std 0.02; norms 1, biases 0), fixed
by --seed. The vocabulary is OpenAI's GPT-2 BPE (fetched by `make data` into
.cache/gpt2/), cut to --vocab tokens when smaller: GPT-2's token ids follow its merge ranks,
so the first N-256 merges make exactly the first N tokens; <|endoftext|> is the last id.

  python host_tools/gen/make_random_gpt2.py .cache/bench/gpt2-117m-q8_0.gguf --outtype q8_0
  python host_tools/gen/make_random_gpt2.py small.gguf --layers 6 --embd 384 --heads 6 --vocab 8192
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from nanollm_host import gguf_model as gm
from nanollm_host.gguf_model import ToolError
from nanollm_host.paths import CACHE, rel

GPT2_DIR = os.path.join(CACHE, "gpt2")
N_GPT2 = 50257


def gpt2_vocab(n_vocab, vocab_dir=GPT2_DIR):
    """GPT-2's vocabulary cut to n_vocab tokens (the last one <|endoftext|>) as a gm.Vocab."""
    enc_path = os.path.join(vocab_dir, "encoder.json")
    bpe_path = os.path.join(vocab_dir, "vocab.bpe")
    if not (os.path.exists(enc_path) and os.path.exists(bpe_path)):
        raise ToolError("GPT-2 vocabulary missing in %s: run `make data` (or host_tools/fetch/fetch_data.py gpt2-vocab)"
                        % rel(vocab_dir))
    if not 257 <= n_vocab <= N_GPT2:
        raise ToolError("--vocab %d: must be between 257 and %d" % (n_vocab, N_GPT2))
    with open(enc_path, encoding="utf-8") as f:
        enc = json.load(f)
    with open(bpe_path, encoding="utf-8") as f:
        merges = [ln for ln in f.read().split("\n") if ln and not ln.startswith("#version")]
    by_id = {i: t for t, i in enc.items()}
    eot = "<|endoftext|>"
    tokens = [by_id[i] for i in range(n_vocab - 1)] + [eot]
    types = [gm.TOKEN_NORMAL] * (n_vocab - 1) + [gm.TOKEN_CONTROL]
    kept = merges[:n_vocab - 1 - 256]
    have = set(tokens)
    for m in kept:  # every kept merge must produce a kept token: true for GPT-2's files
        a, b = m.split(" ")
        if a + b not in have:
            raise ToolError("GPT-2 merge %r makes a token outside the first %d ids" % (m, n_vocab))
    return gm.Vocab(tokens=tokens, token_types=types, merges=kept), n_vocab - 1


def random_tensors(hp, seed=0, log=None):
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in gm.expected_shapes(hp).items():
        if len(shape) == 1:
            out[name] = (np.ones if name.endswith("norm.weight") else np.zeros)(shape, dtype=np.float32)
        else:
            out[name] = (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02))
    if log:
        log("random weights: %d parameters" % sum(a.size for a in out.values()))
    return out


def make_model(out, layers=12, embd=768, heads=12, vocab=N_GPT2, ctx=1024, ff=None, outtype="f32", seed=0,
               name=None, log=None):
    if embd % heads:
        raise ToolError("--embd %d is not divisible by --heads %d" % (embd, heads))
    if min(layers, embd, heads, ctx) < 1:
        raise ToolError("layers, embd, heads and ctx must be positive")
    voc, eot = gpt2_vocab(vocab)
    hp = gm.HParams(n_vocab=vocab, n_ctx=ctx, n_embd=embd, n_ff=ff or 4 * embd, n_layer=layers, n_head=heads,
                    eps=1e-5, tied=True, bos_token_id=eot, eos_token_id=eot,
                    name=name or "random-gpt2-%dL-%dE-%dV" % (layers, embd, vocab))
    t0 = time.time()
    tensors = random_tensors(hp, seed, log)
    if log:
        log("writing %s (%s)" % (out, outtype))
    rows = gm.write_gguf(out, hp, tensors, voc, outtype)
    if log:
        log("wrote %s: %s in %.1f s" % (out, gm.format_bytes(os.path.getsize(out)), time.time() - t0))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(prog="make_random_gpt2.py", description=__doc__.split("\n\n")[0],
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="GGUF file to write (replaced only on success)")
    ap.add_argument("--layers", type=int, default=12, help="transformer blocks (default 12, GPT-2 117M)")
    ap.add_argument("--embd", type=int, default=768, help="width (default 768)")
    ap.add_argument("--heads", type=int, default=12, help="attention heads (default 12)")
    ap.add_argument("--vocab", type=int, default=N_GPT2, help="vocabulary size, GPT-2's cut to this (default 50257)")
    ap.add_argument("--ctx", type=int, default=1024, help="context length (default 1024)")
    ap.add_argument("--ff", type=int, help="MLP width (default 4 x embd)")
    ap.add_argument("--outtype", default="f32", help="f32 (default), f16, q8_0, q4_0, q4_1")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    a = ap.parse_args(argv)
    log = None if a.quiet else print
    make_model(a.out, a.layers, a.embd, a.heads, a.vocab, a.ctx, a.ff, a.outtype, a.seed, log=log)
    return 0


if __name__ == "__main__":
    sys.exit(gm.run_tool(main))
