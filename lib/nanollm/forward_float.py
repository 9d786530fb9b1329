# The float path's forward pass (f32/f16 models, or mode="float"): model.py's integer pass,
# step for step, on floats with the float kernels (kernels_float.py). A module of its own,
# imported when the first float model loads, so that a quantized model's code in RAM holds
# none of it.

import math

from . import kernels_float as F


def forward(m, token, pos, logits):
    """Model m's forward(token, pos, logits) on the float path (model.py's Model.forward)."""
    d = m.n_embd
    H = m.n_head
    hd = m.head_dim
    x = m.x
    h = m.h
    qkv = m.qkv
    att = m.att
    tmp = m.tmp
    rowbuf = m.rowbuf
    row_into(m.wte, token, x)
    row_into(m.wpe, pos, tmp)
    F.add_f(x, tmp, d)
    scale = 1.0 / math.sqrt(hd)
    for li in range(m.n_layer):
        L = m.layers[li]
        kc = m.kc[li]
        vc = m.vc[li]
        # attention
        F.layernorm_f(x, d, L.attn_norm_w, L.attn_norm_b, h, m.eps)
        matvec(L.attn_qkv, h, qkv, rowbuf)
        F.add_f(qkv, L.attn_qkv_b, 3 * d)
        F.kv_store_f(qkv, d, d, kc, pos * d)
        F.kv_store_f(qkv, 2 * d, d, vc, pos * d)
        for hh in range(H):
            F.attend_head_f(qkv, hh * hd, hd, kc, vc, pos + 1, d, hh * hd, scale, m.scores, att)
        matvec(L.attn_output, att, tmp, rowbuf)
        F.residual_add_f(x, tmp, L.attn_output_b, d)
        # MLP
        F.layernorm_f(x, d, L.ffn_norm_w, L.ffn_norm_b, h, m.eps)
        matvec(L.ffn_up, h, tmp, rowbuf)
        F.gelu_f(tmp, L.ffn_up_b, m.n_ff)
        matvec(L.ffn_down, tmp, h, rowbuf)
        F.residual_add_f(x, h, L.ffn_down_b, d)
    if not logits:
        return
    F.layernorm_f(x, d, m.lnf_g, m.lnf_b, h, m.eps)
    matvec(m.head, h, m.logits, rowbuf)


def matvec(w, x, out, rowbuf):
    """out = W x for a model.Matrix w of any type; rowbuf holds one row as floats."""
    if w.f32:
        F.matvec_f32(w.data, w.n_rows, w.n_cols, x, out, 0)
        return
    for r in range(w.n_rows):
        row_into(w, r, rowbuf)
        out[r] = F.dot_f(rowbuf, x, w.n_cols)


def row_into(w, r, out):
    """Row r of model.Matrix w as floats into out[0:n_cols]."""
    if w.f32:
        base = r * w.n_cols
        data = w.data
        for j in range(w.n_cols):
            out[j] = data[base + j]
        return
    off = w.load_row(r)
    F.dequant_row_f(w.data if w.data is not None else w._buf, w.type, off, w.n_cols, out)
