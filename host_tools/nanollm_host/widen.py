"""Widen a GPT-2 by an integer factor without changing what it computes.

q4_K stores rows in super-blocks of 256, and the trained test fixture is 64 wide. Tiling
every vector f times (x' = [x, x, ..., x]) gives a model of width 64 f whose logits are the
original's:

  - layer norm sees the same mean and variance, so its output is the tiled original;
  - a matrix maps tiled inputs to tiled outputs when its blocks are the original divided by
    f (W'[a*o + i, b*n + j] = W[i, j] / f for every tile pair a, b; rows are outputs);
  - heads become f copies of each original head (n_head' = f * n_head, same head size),
    laid out tile by tile, so each head sees exactly its original's dimensions;
  - the tied output matrix would multiply the logits by f: the final norm's gain and bias
    are divided by f instead.

Each 32-wide block of a widened row holds 32 distinct trained weights (over a 64-wide row,
a super-block of 256 holds four copies of it), so block quantizers see realistic data.
"""
import numpy as np

from nanollm_host import gguf_model as gm


def _tile_vec(v, f):
    return np.tile(v, f)


def _tile_mat(w, f, rows, cols):
    """(out, in) -> tiled f x f over the axes asked for; input tiling divides by f."""
    if rows:
        w = np.tile(w, (f, 1))
    if cols:
        w = np.tile(w, (1, f)) / np.float32(f)
    return w.astype(np.float32)


def widen(hp, tensors, f):
    """(HParams, {name: float32 (out, in) array}) -> the same model f times wider."""
    d = hp.n_embd
    out = {}
    for name, a in tensors.items():
        a = np.asarray(a, dtype=np.float32)
        if name in ("token_embd.weight", "position_embd.weight"):
            out[name] = np.tile(a, (1, f))  # (rows, n_embd): the embedding vectors tiled
        elif name == "output.weight":
            out[name] = _tile_mat(a, f, rows=False, cols=True)
        elif name.endswith("attn_qkv.weight"):
            q, k, v = a[:d], a[d:2 * d], a[2 * d:]
            out[name] = np.concatenate([_tile_mat(p, f, True, True) for p in (q, k, v)])
        elif name.endswith("attn_qkv.bias"):
            out[name] = np.concatenate([_tile_vec(p, f) for p in (a[:d], a[d:2 * d], a[2 * d:])])
        elif a.ndim == 2:  # attn_output, ffn_up, ffn_down
            out[name] = _tile_mat(a, f, True, True)
        elif name.startswith("output_norm") and hp.tied:
            out[name] = _tile_vec(a, f) / np.float32(f)
        else:
            out[name] = _tile_vec(a, f)
    wide = gm.HParams(n_vocab=hp.n_vocab, n_ctx=hp.n_ctx, n_embd=d * f, n_ff=hp.n_ff * f, n_layer=hp.n_layer,
                      n_head=hp.n_head * f, eps=hp.eps, tied=hp.tied, bos_token_id=hp.bos_token_id,
                      eos_token_id=hp.eos_token_id, name="%s-x%d" % (hp.name or "gpt2", f))
    return wide, out


def widen_checkpoint(hf_dir, out_path, f, outtype="f32"):
    """An HF GPT-2 folder -> a GGUF file f times wider, of outtype."""
    hp, tensors, vocab, _ = gm.read_hf_dir(hf_dir)
    wide, t = widen(hp, tensors, f)
    return gm.write_gguf(out_path, wide, t, vocab, outtype)
