"""ggml's q4_K in plain numpy: the reference quantizer and the dequantizer.

A q4_K super-block holds 256 consecutive elements of a row in 144 bytes:

  fp16 d, fp16 dmin      the scales of the sub-block scales and of the sub-block mins
  12 bytes               eight 6-bit scales sc[j] and eight 6-bit mins mn[j], packed
  128 bytes              256 nibbles q: bytes 32c..32c+31 hold elements 64c+l (low nibble)
                         and 64c+32+l (high nibble), l = 0..31

and element i of sub-block j (32 elements each) is  d * sc[j] * q - dmin * mn[j].

`quantize_q4_k` is meant to give the bytes of ggml's quantize_row_q4_K_ref (the one llama.cpp
uses without an importance matrix) exactly. So every step is float32, in the C code's order:
sums are accumulated element by element (numpy's pairwise sums would round differently),
`nearest_int` rounds halves to even (ggml adds 1.5 * 2**23), fp16 stores round to nearest even.
The work is vectorised across blocks, never across the elements one block sums.
tests/test_llamacpp.py holds it to llama.cpp's own quantizer.
"""
import numpy as np

QK_K = 256
BLOCK_BYTES = 144
_F32 = np.float32


def _rint(v):
    """ggml's nearest_int: round half to even (the float add of 1.5 * 2**23 does that)."""
    return np.rint(v).astype(np.int32)


def _seq_sum(terms):
    """Sum (B, n) float32 terms along the last axis one element at a time, as C does."""
    acc = np.zeros(terms.shape[0], dtype=_F32)
    for i in range(terms.shape[1]):
        acc = acc + terms[:, i]
    return acc


def _make_qkx2_quants(x, w, nmax, rmin, rdelta, nstep):
    """ggml's make_qkx2_quants (use_mad false) for B blocks at once: x, w (B, n) float32.

    Returns (L (B, n) int32, scale (B,), the_min (B,)): x ~ scale * L - the_min, found by
    trying nstep + 1 trial scales around nmax / (max - min) and keeping the best weighted
    least-squares fit of scale and min (a better fit's min is used by the trials after it).
    """
    n = x.shape[1]
    mn = x[:, 0].copy()
    mx = x[:, 0].copy()
    sum_w = w[:, 0].copy()
    sum_x = sum_w * x[:, 0]
    for i in range(1, n):
        mn = np.where(x[:, i] < mn, x[:, i], mn)
        mx = np.where(x[:, i] > mx, x[:, i], mx)
        sum_w = sum_w + w[:, i]
        sum_x = sum_x + w[:, i] * x[:, i]
    mn = np.where(mn > 0, _F32(0), mn)
    flat = mx == mn
    span = np.where(flat, _F32(1), mx - mn)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        iscale = _F32(nmax) / span
        scale = _F32(1) / iscale
        L = np.clip(_rint(iscale[:, None] * (x - mn[:, None])), 0, nmax)
        diff = scale[:, None] * L.astype(_F32) + mn[:, None] - x
        best = _seq_sum(w * (diff * diff))
        for step in range(nstep + 1):
            # ggml divides by max - min with min as updated by the best fit so far
            span = np.where(flat, _F32(1), mx - mn)
            iscale = (_F32(rmin) + _F32(rdelta) * _F32(step) + _F32(nmax)) / span
            la = np.clip(_rint(iscale[:, None] * (x - mn[:, None])), 0, nmax)
            lf = la.astype(_F32)
            wl = w * lf
            sum_l = _seq_sum(wl)
            sum_l2 = _seq_sum(wl * lf)
            sum_xl = _seq_sum(wl * x)
            D = sum_w * sum_l2 - sum_l * sum_l
            this_scale = (sum_w * sum_xl - sum_x * sum_l) / D
            this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D
            pos = this_min > 0
            this_min = np.where(pos, _F32(0), this_min)
            this_scale = np.where(pos, sum_xl / sum_l2, this_scale)
            diff = this_scale[:, None] * lf + this_min[:, None] - x
            cur = _seq_sum(w * (diff * diff))
            better = (D > 0) & (cur < best) & ~flat
            L = np.where(better[:, None], la, L)
            best = np.where(better, cur, best)
            scale = np.where(better, this_scale, scale)
            mn = np.where(better, this_min, mn)
    L = np.where(flat[:, None], 0, L)
    scale = np.where(flat, _F32(0), scale)
    return L, scale.astype(_F32), (-mn).astype(_F32)


def _fp16(v):
    with np.errstate(over="ignore"):
        return v.astype(np.float16)


def unpack_scales(sc12):
    """(B, 12) bytes -> (scales (B, 8), mins (B, 8)) as ints 0..63 (ggml's get_scale_min_k4)."""
    q = sc12.astype(np.int32)
    sc = np.empty(q.shape[:-1] + (8,), dtype=np.int32)
    mn = np.empty_like(sc)
    sc[..., :4] = q[..., 0:4] & 63
    mn[..., :4] = q[..., 4:8] & 63
    sc[..., 4:] = (q[..., 8:12] & 0xF) | ((q[..., 0:4] >> 6) << 4)
    mn[..., 4:] = (q[..., 8:12] >> 4) | ((q[..., 4:8] >> 6) << 4)
    return sc, mn


def pack_scales(ls, lm):
    """(B, 8) scales and mins 0..63 -> (B, 12) bytes (the inverse of unpack_scales)."""
    ls = ls.astype(np.int32)
    lm = lm.astype(np.int32)
    out = np.zeros((ls.shape[0], 12), dtype=np.int32)
    out[:, 0:4] = ls[:, :4] | ((ls[:, 4:] >> 4) << 6)
    out[:, 4:8] = lm[:, :4] | ((lm[:, 4:] >> 4) << 6)
    out[:, 8:12] = (ls[:, 4:] & 0xF) | ((lm[:, 4:] & 0xF) << 4)
    return out.astype(np.uint8)


def quantize_q4_k(x):
    """float32 (..., n), n a multiple of 256 -> uint8 (..., n / 256 * 144): ggml's
    quantize_row_q4_K_ref."""
    x = np.ascontiguousarray(x, dtype=_F32)
    if x.ndim == 0 or x.shape[-1] % QK_K:
        raise ValueError("row length %s is not a multiple of %d" % (x.shape[-1:] or "()", QK_K))
    lead = x.shape[:-1]
    nsb = x.size // QK_K
    sub = x.reshape(nsb * 8, 32)
    # weights of the sub-block fit: the sub-block's rms plus each element's magnitude
    av_x = np.sqrt(_seq_sum(sub * sub) / _F32(32))
    w = av_x[:, None] + np.abs(sub)
    L, scales, mins = _make_qkx2_quants(sub, w, 15, -1.0, 0.1, 20)
    L = L.reshape(nsb, QK_K)
    scales = scales.reshape(nsb, 8)
    mins = mins.reshape(nsb, 8)
    max_scale = np.maximum(scales.max(axis=1), _F32(0))
    max_min = np.maximum(mins.max(axis=1), _F32(0))
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_scale = np.where(max_scale > 0, _F32(63) / max_scale, _F32(0)).astype(_F32)
        inv_min = np.where(max_min > 0, _F32(63) / max_min, _F32(0)).astype(_F32)
    # nearest_int into a uint8_t, then MIN(63): a negative value wraps first, as in C
    ls = np.minimum(_rint(inv_scale[:, None] * scales) & 0xFF, 63)
    lm = np.minimum(_rint(inv_min[:, None] * mins) & 0xFF, 63)
    d16 = _fp16(max_scale / _F32(63))
    m16 = _fp16(max_min / _F32(63))
    # the sub-block quants again, against the scales as stored
    d = d16.astype(_F32)[:, None] * ls.astype(_F32)
    dm = m16.astype(_F32)[:, None] * lm.astype(_F32)
    xs = x.reshape(nsb, 8, 32)
    with np.errstate(divide="ignore", invalid="ignore"):
        l2 = np.clip(_rint((xs + dm[:, :, None]) / d[:, :, None]), 0, 15)
    keep = (d == 0)[:, :, None]  # ggml skips such a sub-block: its quants stay those of the fit
    L = np.where(keep, L.reshape(nsb, 8, 32), l2).reshape(nsb, 4, 2, 32)
    qs = (L[:, :, 0, :] | (L[:, :, 1, :] << 4)).astype(np.uint8).reshape(nsb, 128)
    out = np.concatenate([d16.astype("<f2").view(np.uint8).reshape(nsb, 2),
                          m16.astype("<f2").view(np.uint8).reshape(nsb, 2),
                          pack_scales(ls, lm), qs], axis=1)
    return out.reshape(lead + (x.shape[-1] // QK_K * BLOCK_BYTES,))


def dequantize_q4_k(raw):
    """(B, 144) uint8 super-blocks -> (B, 256) float32, as ggml's dequantize_row_q4_K
    (float32: d * sc and dmin * mn first, then d1 * q - m1)."""
    r = np.ascontiguousarray(raw, dtype=np.uint8)
    d = r[:, 0:2].copy().view("<f2").astype(_F32)
    dmin = r[:, 2:4].copy().view("<f2").astype(_F32)
    sc, mn = unpack_scales(r[:, 4:16])
    qs = r[:, 16:].reshape(-1, 4, 32)
    q = np.stack([qs & 15, qs >> 4], axis=2).reshape(-1, 8, 32).astype(_F32)
    d1 = d * sc.astype(_F32)
    m1 = dmin * mn.astype(_F32)
    return (d1[:, :, None] * q - m1[:, :, None]).reshape(-1, QK_K)
