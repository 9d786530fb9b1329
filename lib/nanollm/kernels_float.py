# The float path's kernels: plain Python on float32 arrays, the exact computation the
# integer path is measured against (f32/f16 models, or mode="float"). Imported only when a
# float model is loaded: a quantized model on a board never pays for this code.
#
# Each kernel is the float twin of an integer one in kernels_py.py, with the same name
# minus the _q: same arguments where the formats allow, so model.py's two forward passes
# read alike. Sums run in the interpreter's float (double on CPython and the unix port)
# and are stored as float32.

import math
import struct

_GELU_C = math.sqrt(2.0 / math.pi)


def f16_to_float(h):
    e = (h >> 10) & 31
    m = h & 1023
    if e == 0:
        v = m * 5.960464477539063e-08  # 2**-24
    elif e == 31:
        v = float("inf") if m == 0 else float("nan")
    else:
        v = (1024 + m) * 2.0 ** (e - 25)
    return -v if h & 0x8000 else v


def dequant_row_f(w, wtype, off, n_cols, out):
    """One row of any supported type (raw bytes at w[off:]) into float out[0:n_cols]."""
    if wtype == 0:
        for j in range(n_cols):
            out[j] = struct.unpack_from("<f", w, off + 4 * j)[0]
    elif wtype == 1:
        for j in range(n_cols):
            p = off + 2 * j
            out[j] = f16_to_float(w[p] | (w[p + 1] << 8))
    elif wtype == 8:
        for b in range(n_cols >> 5):
            p = off + b * 34
            d = f16_to_float(w[p] | (w[p + 1] << 8))
            for j in range(32):
                q = w[p + 2 + j]
                out[b * 32 + j] = d * (q - 256 if q > 127 else q)
    elif wtype == 2:
        for b in range(n_cols >> 5):
            p = off + b * 18
            d = f16_to_float(w[p] | (w[p + 1] << 8))
            for j in range(16):
                q = w[p + 2 + j]
                out[b * 32 + j] = d * ((q & 15) - 8)
                out[b * 32 + 16 + j] = d * ((q >> 4) - 8)
    elif wtype == 3:
        for b in range(n_cols >> 5):
            p = off + b * 20
            d = f16_to_float(w[p] | (w[p + 1] << 8))
            mn = f16_to_float(w[p + 2] | (w[p + 3] << 8))
            for j in range(16):
                q = w[p + 4 + j]
                out[b * 32 + j] = d * (q & 15) + mn
                out[b * 32 + 16 + j] = d * (q >> 4) + mn


def matvec_f32(w, n_rows, n_cols, x, out, out0):
    """out[out0+r] = row r of the f32 matrix w (an array('f')) . x"""
    for r in range(n_rows):
        base = r * n_cols
        s = 0.0
        for j in range(n_cols):
            s += w[base + j] * x[j]
        out[out0 + r] = s


def dot_f(a, x, n):
    """a[0:n] . x[0:n]"""
    s = 0.0
    for j in range(n):
        s += a[j] * x[j]
    return s


def add_f(dst, src, n):
    for i in range(n):
        dst[i] += src[i]


def residual_add_f(x, y, bias, n):
    """x += y + bias: a sublayer's output and its bias onto the residual stream."""
    for i in range(n):
        x[i] += y[i] + bias[i]


def layernorm_f(x, n, g, b, out, eps):
    mean = 0.0
    for i in range(n):
        mean += x[i]
    mean /= n
    var = 0.0
    for i in range(n):
        t = x[i] - mean
        var += t * t
    inv = 1.0 / math.sqrt(var / n + eps)
    for i in range(n):
        out[i] = (x[i] - mean) * inv * g[i] + b[i]


def gelu_f(buf, bias, n):
    """buf = gelu(buf + bias), GPT-2's tanh approximation."""
    c = _GELU_C
    for i in range(n):
        v = buf[i] + bias[i]
        buf[i] = 0.5 * v * (1.0 + math.tanh(c * (v + 0.044715 * v * v * v)))


def kv_store_f(src, off, n, dst, doff):
    """Copy src[off:off+n] into the cache at dst[doff:doff+n]."""
    for i in range(n):
        dst[doff + i] = src[off + i]


def attend_head_f(q, qo, hd, kc, vc, n_pos, stride, ho, scale, scores, out):
    """One head of causal attention over positions 0..n_pos-1 (the float attend_head).

    q[qo:qo+hd]: the query; kc/vc: rows of `stride` floats per position, this head at
    offset ho; scale = 1/sqrt(hd). Writes the head's output to out[ho:ho+hd].
    """
    m = -1e30
    for t in range(n_pos):
        s = 0.0
        ko = t * stride + ho
        for j in range(hd):
            s += q[qo + j] * kc[ko + j]
        s *= scale
        scores[t] = s
        if s > m:
            m = s
    tot = 0.0
    for t in range(n_pos):
        e = math.exp(scores[t] - m)
        scores[t] = e
        tot += e
    for j in range(hd):
        out[ho + j] = 0.0
    for t in range(n_pos):
        w = scores[t] / tot
        vo = t * stride + ho
        for j in range(hd):
            out[ho + j] += w * vc[vo + j]
