"""GGML block quantizers in plain numpy: Q8_0, Q4_0, Q4_1 (and F16/F32 as trivial cases).

The output bytes are meant to be identical to ggml's reference quantizers
(quantize_row_*_ref in ggml-quants.c), so every step is done in float32 in the same order
as the C code, and rounding follows C: `roundf` rounds halves away from zero, an `(int)`
cast truncates toward zero. Blocks hold 32 consecutive elements of a row:

  Q8_0  34 bytes: fp16 d, 32 x int8 q            value = q * d,        d = amax / 127
  Q4_0  18 bytes: fp16 d, 16 bytes of nibbles    value = (q - 8) * d,  d = max / -8
  Q4_1  20 bytes: fp16 d, fp16 m, 16 bytes       value = q * d + m,    d = (max - min) / 15

In the 4-bit types byte j of a block holds element j in its low nibble and element j + 16
in its high nibble. For Q4_0, `max` is the signed element of largest magnitude (the first
one on a tie), so it maps exactly to q = 0.

Public API (all work on the last axis, which must be a multiple of 32 for quantized types):
  quantize(x, qtype) -> uint8 array (..., row_bytes)   (float16/float32 array for F16/F32)
  dequantize(raw, qtype) -> float32 array (..., n)
  row_bytes(n, qtype), can_quantize(n, qtype)
qtype is a name: "f32", "f16", "q8_0", "q4_0", "q4_1", "q4_K" (super-blocks of 256, quants_k.py).

The other K-quants and q5_0/q5_1 are read only, through the gguf package's dequantizers:
READ_ONLY names them, dequantize() takes them.
"""
import numpy as np

from nanollm_host import quants_k

QK = 32  # elements per block for every quantized type here

# name -> (ggml tensor type id, block elements, block bytes)
TYPES = {
    "f32": (0, 1, 4),
    "f16": (1, 1, 2),
    "q4_0": (2, QK, 2 + QK // 2),
    "q4_1": (3, QK, 4 + QK // 2),
    "q8_0": (8, QK, 2 + QK),
    "q4_K": (12, quants_k.QK_K, quants_k.BLOCK_BYTES),
}
# ggml types we read (dequantize) but never write: name -> ggml tensor type id
READ_ONLY = {"q5_0": 6, "q5_1": 7, "q2_K": 10, "q3_K": 11, "q5_K": 13, "q6_K": 14}

_F32 = np.float32


def block_size(qtype):
    return TYPES[qtype][1]


def can_quantize(n, qtype):
    """True when a row of n elements can be stored as qtype."""
    return n % TYPES[qtype][1] == 0


def row_bytes(n, qtype):
    _, bs, ts = TYPES[qtype]
    if n % bs:
        raise ValueError("a row of %d elements is not a whole number of %s blocks" % (n, qtype))
    return n // bs * ts


def _blocks(x):
    """float32 view of x as (n_blocks, 32), plus the output row shape helper."""
    x = np.ascontiguousarray(x, dtype=_F32)
    if x.ndim == 0 or x.shape[-1] % QK:
        raise ValueError("row length %s is not a multiple of %d" % (x.shape[-1:] or "()", QK))
    return x, x.reshape(-1, QK)


def _recip(d):
    """C's `d ? 1.0f/d : 0.0f` elementwise, in float32."""
    out = np.zeros_like(d)
    nz = d != 0
    out[nz] = _F32(1.0) / d[nz]
    return out


def _round_half_away(v):
    """C roundf: nearest integer, halves away from zero (v is float32)."""
    a = np.abs(v)
    r = np.floor(a)
    r = r + (a - r >= _F32(0.5)).astype(_F32)  # a - r is exact in float32
    return np.copysign(r, v)


def _fp16_bytes(v):
    """float32 (n, 1) -> (n, 2) bytes of IEEE half, round to nearest even (as ggml)."""
    with np.errstate(over="ignore"):  # beyond fp16 range -> inf, as in C
        h = v.astype(np.float16)
    return h.astype("<f2").view(np.uint8).reshape(v.shape[0], 2)


def _pack_nibbles(q):
    """(n, 32) values 0..15 -> (n, 16) bytes: low nibble element j, high nibble element j+16."""
    q = q.astype(np.uint8)
    return q[:, :QK // 2] | (q[:, QK // 2:] << np.uint8(4))


def _unpack_nibbles(qs):
    lo = qs & np.uint8(0x0F)
    hi = qs >> np.uint8(4)
    return np.concatenate([lo, hi], axis=1)


def _quantize_q8_0(b):
    amax = np.abs(b).max(axis=1, keepdims=True)
    d = amax / _F32(127)
    q = _round_half_away(b * _recip(d)).astype(np.int8)
    return np.concatenate([_fp16_bytes(d), q.view(np.uint8)], axis=1)


def _quantize_q4_0(b):
    # the first element of largest magnitude, with its sign
    idx = np.abs(b).argmax(axis=1)
    mx = b[np.arange(b.shape[0]), idx][:, None]
    d = mx / _F32(-8)
    q = np.trunc(b * _recip(d) + _F32(8.5))
    q = np.minimum(q, _F32(15))
    return np.concatenate([_fp16_bytes(d), _pack_nibbles(q)], axis=1)


def _quantize_q4_1(b):
    mn = b.min(axis=1, keepdims=True)
    mx = b.max(axis=1, keepdims=True)
    d = (mx - mn) / _F32(15)
    q = np.trunc((b - mn) * _recip(d) + _F32(0.5))
    q = np.minimum(q, _F32(15))
    return np.concatenate([_fp16_bytes(d), _fp16_bytes(mn), _pack_nibbles(q)], axis=1)


def _half(raw2):
    """(n, 2) bytes -> (n, 1) float32 from little-endian fp16."""
    return np.ascontiguousarray(raw2).view("<f2").astype(_F32)


def _dequantize_q8_0(r):
    d = _half(r[:, :2])
    q = r[:, 2:].view(np.int8).astype(_F32)
    return q * d


def _dequantize_q4_0(r):
    d = _half(r[:, :2])
    q = _unpack_nibbles(r[:, 2:]).astype(np.int8) - np.int8(8)
    return q.astype(_F32) * d


def _dequantize_q4_1(r):
    d = _half(r[:, :2])
    m = _half(r[:, 2:4])
    q = _unpack_nibbles(r[:, 4:]).astype(_F32)
    return q * d + m


_QUANT = {"q8_0": _quantize_q8_0, "q4_0": _quantize_q4_0, "q4_1": _quantize_q4_1}
_DEQUANT = {"q8_0": _dequantize_q8_0, "q4_0": _dequantize_q4_0, "q4_1": _dequantize_q4_1,
            "q4_K": quants_k.dequantize_q4_k}


def quantize(x, qtype):
    """Quantize float data along its last axis. Returns float32/float16 data for f32/f16,
    else uint8 of shape (..., row_bytes)."""
    if qtype == "f32":
        return np.ascontiguousarray(x, dtype=_F32)
    if qtype == "f16":
        with np.errstate(over="ignore"):  # beyond fp16 range -> inf, as ggml does
            return np.ascontiguousarray(x, dtype=_F32).astype(np.float16)
    if qtype == "q4_K":
        return quants_k.quantize_q4_k(x)
    if qtype not in _QUANT:
        raise ValueError("unknown quantization type %r" % (qtype,))
    x, b = _blocks(x)
    out = _QUANT[qtype](b)
    return out.reshape(x.shape[:-1] + (x.shape[-1] // QK * TYPES[qtype][2],))


def dequantize(raw, qtype, shape=None):
    """Inverse of quantize: float32 array of `shape` (default: derived from raw's shape)."""
    if qtype == "f32":
        out = np.asarray(raw).view(_F32) if np.asarray(raw).dtype == np.uint8 else np.asarray(raw, _F32)
    elif qtype == "f16":
        a = np.asarray(raw)
        out = (a.view("<f2") if a.dtype == np.uint8 else a.astype(np.float16)).astype(_F32)
    elif qtype in _DEQUANT:
        _, bs, ts = TYPES[qtype]
        a = np.ascontiguousarray(raw, dtype=np.uint8)
        if a.ndim == 0 or a.shape[-1] % ts:
            raise ValueError("%s data rows must be a multiple of %d bytes" % (qtype, ts))
        out = _DEQUANT[qtype](a.reshape(-1, ts))
        out = out.reshape(a.shape[:-1] + (a.shape[-1] // ts * bs,))
    elif qtype in READ_ONLY:
        from gguf import quants as gq, GGMLQuantizationType
        out = gq.dequantize(np.ascontiguousarray(raw, dtype=np.uint8), GGMLQuantizationType(READ_ONLY[qtype]))
        out = out.astype(_F32)
    else:
        raise ValueError("unknown quantization type %r" % (qtype,))
    return out.reshape(shape) if shape is not None else out
