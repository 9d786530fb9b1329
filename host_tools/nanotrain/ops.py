"""Differentiable operations for the autodiff engine (forward + hand-written backward).

Each function takes Tensors (or arrays, treated as constants) and returns a Tensor.
Shapes follow numpy conventions; the last axis is the feature axis.
"""
import math

import numpy as np

from .autodiff import Tensor, as_tensor, make_result

GELU_C = math.sqrt(2.0 / math.pi)


def _unbroadcast(g, shape):
    """Sum a gradient over the axes that numpy broadcasting added or stretched."""
    if g.shape == shape:
        return g
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for ax, n in enumerate(shape):
        if n == 1 and g.shape[ax] != 1:
            g = g.sum(axis=ax, keepdims=True)
    return g


def add(a, b):
    """a + b with numpy broadcasting (e.g. a bias)."""
    a, b = as_tensor(a), as_tensor(b)

    def back(g):
        return _unbroadcast(g, a.shape), _unbroadcast(g, b.shape)
    return make_result(a.data + b.data, (a, b), back)


def mul(a, b):
    """Elementwise a * b with broadcasting."""
    a, b = as_tensor(a), as_tensor(b)

    def back(g):
        return _unbroadcast(g * b.data, a.shape), _unbroadcast(g * a.data, b.shape)
    return make_result(a.data * b.data, (a, b), back)


def _mm2(a, b):
    """a (..., n) @ b (n, m) as one 2-D BLAS call (numpy's stacked matmul is slow)."""
    if a.ndim == 2:
        return a @ b
    return (a.reshape(-1, a.shape[-1]) @ b).reshape(a.shape[:-1] + (b.shape[1],))


def _mm_backward(x, w, g, transpose_w):
    x2 = x.reshape(-1, x.shape[-1])
    g2 = g.reshape(-1, g.shape[-1])
    if transpose_w:        # y = x @ w.T, w: (out, in)
        gx = _mm2(g, w)
        gw = g2.T @ x2
    else:                  # y = x @ w, w: (in, out)
        gx = _mm2(g, w.T)
        gw = x2.T @ g2
    return gx, gw


def matmul(x, w):
    """x (..., n) @ w (n, m) -> (..., m). w is a 2-D weight (Conv1D layout: in, out)."""
    x, w = as_tensor(x), as_tensor(w)

    def back(g):
        return _mm_backward(x.data, w.data, g, False)
    return make_result(_mm2(x.data, w.data), (x, w), back)


def matmul_t(x, w):
    """x (..., n) @ w.T where w is (m, n): the tied LM head (logits = h @ wte.T)."""
    x, w = as_tensor(x), as_tensor(w)

    def back(g):
        return _mm_backward(x.data, w.data, g, True)
    return make_result(_mm2(x.data, w.data.T), (x, w), back)


def linear(x, w, b):
    """x @ w + b, fused (w: (in, out) Conv1D layout, b: (out,))."""
    x, w, b = as_tensor(x), as_tensor(w), as_tensor(b)
    y = _mm2(x.data, w.data)
    y += b.data

    def back(g):
        gx, gw = _mm_backward(x.data, w.data, g, False)
        return gx, gw, g.reshape(-1, g.shape[-1]).sum(axis=0)
    return make_result(y, (x, w, b), back)


def embedding(w, ids):
    """Rows of w (V, E) selected by integer ids (any shape) -> ids.shape + (E,)."""
    w = as_tensor(w)
    ids = np.asarray(ids)

    def back(g):
        gw = np.zeros_like(w.data)
        np.add.at(gw, ids.reshape(-1), g.reshape(-1, w.shape[1]))
        return (gw,)
    return make_result(w.data[ids], (w,), back)


def layer_norm(x, gamma, beta, eps=1e-5):
    """Layer normalisation over the last axis with scale gamma and shift beta."""
    x, gamma, beta = as_tensor(x), as_tensor(gamma), as_tensor(beta)
    mu = x.data.mean(axis=-1, keepdims=True)
    xc = x.data - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    y = xhat * gamma.data + beta.data

    def back(g):
        n = x.shape[-1]
        gxhat = g * gamma.data
        gx = rstd * (gxhat - gxhat.mean(axis=-1, keepdims=True)
                     - xhat * (gxhat * xhat).sum(axis=-1, keepdims=True) / n)
        g2 = g.reshape(-1, n)
        return gx, (g2 * xhat.reshape(-1, n)).sum(axis=0), g2.sum(axis=0)
    return make_result(y, (x, gamma, beta), back)


def gelu(x):
    """GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  (GPT-2's gelu_new)."""
    x = as_tensor(x)
    d = x.data
    # in place where possible: these are the largest activations (4 x width per token)
    d2 = d * d
    t = d2 * 0.044715
    t += 1.0
    t *= d
    t *= GELU_C
    np.tanh(t, out=t)
    y = t + 1.0
    y *= d
    y *= 0.5

    def back(g):
        # dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
        s = t * t
        np.subtract(1.0, s, out=s)
        s *= d
        s *= 0.5 * GELU_C
        u = d2 * (3 * 0.044715)
        u += 1.0
        s *= u
        u = t * 0.5
        u += 0.5
        s += u
        s *= g
        return (s,)
    return make_result(y, (x,), back)


def _softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def softmax(x, axis=-1):
    """Softmax along `axis`."""
    x = as_tensor(x)
    p = _softmax(x.data, axis)

    def back(g):
        return (p * (g - (g * p).sum(axis=axis, keepdims=True)),)
    return make_result(p, (x,), back)


def causal_attention(qkv, n_head):
    """Causal multi-head self-attention core.

    qkv: (B, T, 3E), the concatenated query/key/value projections (GPT-2 c_attn output).
    Returns (B, T, E): softmax(q k^T / sqrt(d) + causal mask) v, heads concatenated.
    """
    qkv = as_tensor(qkv)
    B, T, E3 = qkv.shape
    E = E3 // 3
    D = E // n_head
    scale = 1.0 / math.sqrt(D)
    # (B, T, 3, H, D) -> (3, B, H, T, D)
    parts = qkv.data.reshape(B, T, 3, n_head, D).transpose(2, 0, 3, 1, 4)
    q, k, v = parts[0], parts[1], parts[2]
    s = q @ k.transpose(0, 1, 3, 2)
    s *= np.asarray(scale, dtype=qkv.dtype)
    s += _causal_mask(T, s.dtype)              # -inf above the diagonal
    # softmax in place: (B, H, T, T) is the largest array of the step
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    p = s
    o = p @ v                                   # (B, H, T, D)
    out = o.transpose(0, 2, 1, 3).reshape(B, T, E)

    def back(g):
        go = g.reshape(B, T, n_head, D).transpose(0, 2, 1, 3)     # (B, H, T, D)
        gv = p.transpose(0, 1, 3, 2) @ go
        gs = go @ v.transpose(0, 1, 3, 2)                         # d loss / d p
        gs -= (gs * p).sum(axis=-1, keepdims=True)
        gs *= p
        gs *= np.asarray(scale, dtype=g.dtype)
        gq = gs @ k
        gk = gs.transpose(0, 1, 3, 2) @ q
        gqkv = np.stack([gq, gk, gv])                             # (3, B, H, T, D)
        return (gqkv.transpose(1, 3, 0, 2, 4).reshape(B, T, E3),)
    return make_result(out, (qkv,), back)


_MASKS = {}


def _causal_mask(T, dtype):
    """(T, T) additive mask: 0 on and below the diagonal, -inf above (cached per size)."""
    key = (T, np.dtype(dtype).str)
    m = _MASKS.get(key)
    if m is None:
        m = np.where(np.triu(np.ones((T, T), dtype=bool), 1), -np.inf, 0.0).astype(dtype)
        _MASKS[key] = m
    return m


def cross_entropy(logits, targets):
    """Mean cross-entropy (natural log) of integer targets under softmax(logits).

    logits: (..., V); targets: integer array of shape logits.shape[:-1].
    """
    logits = as_tensor(logits)
    targets = np.asarray(targets).reshape(-1)
    V = logits.shape[-1]
    z = logits.data.reshape(-1, V)
    n = z.shape[0]
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    se = e.sum(axis=1, keepdims=True)
    logp_t = z[np.arange(n), targets] - m[:, 0] - np.log(se[:, 0])
    loss = -logp_t.mean()

    def back(g):
        p = e / se
        p[np.arange(n), targets] -= 1.0
        p *= g / n
        return (p.reshape(logits.shape),)
    return make_result(np.asarray(loss, dtype=logits.dtype), (logits,), back)


def reshape(x, shape):
    x = as_tensor(x)

    def back(g):
        return (g.reshape(x.shape),)
    return make_result(x.data.reshape(shape), (x,), back)


def sum_all(x):
    """Sum of all elements (a scalar)."""
    x = as_tensor(x)

    def back(g):
        return (np.broadcast_to(g, x.shape).astype(x.dtype),)
    return make_result(np.asarray(x.data.sum(), dtype=x.dtype), (x,), back)


__all__ = ["Tensor", "add", "mul", "matmul", "matmul_t", "linear", "embedding", "layer_norm",
           "gelu", "softmax", "causal_attention", "cross_entropy", "reshape", "sum_all"]


# Operator sugar on Tensor: a + b and a @ b.
Tensor.__add__ = add
Tensor.__matmul__ = matmul
