"""Numpy specification of the integer kernels in lib/nanollm/kernels_py.py.

Each function here states what one kernel computes, written as whole-array numpy
arithmetic on int64 (or Python ints where a value may exceed 64 bits), not as a copy of
the kernel's loops. The tests hold the plain-Python and viper kernels to these functions
bit for bit, and compare these functions with float maths for accuracy.

Every spec takes an optional `track` dict. When given, the spec records there, for each
named intermediate the kernel's code forms, the largest magnitude it reached. The kernels
run unchanged on 32-bit boards only if all of those stay below 2**31; tests/test_kernels.py
checks that for the documented input ranges.

Formats (see docs/fixed_point.md):
  Q16       value = q / 2**16
  x16       value = x * 2**(sh - 16), |x| <= 2**13
  fp16      bits h -> (signed 11-bit mantissa m, exponent e): value = m * 2**(e - 25)
  KV int8   value = k * ms * 2**(es - 16), ms in [128, 255]
"""
import math
import struct

import numpy as np

I64 = np.int64
X16_BITS = 13
LOG2E_Q13 = 11819
SOFTMAX_CUTOFF_Q12 = 32 << 12

BLOCK_BYTES = {"q8_0": 34, "q4_0": 18, "q4_1": 20}  # per block of 32 (q4_K: 144 per 256)
WTYPE = {"q8_0": 8, "q4_0": 2, "q4_1": 3, "q4_K": 12}


def _note(track, name, values):
    if track is None:
        return
    a = np.asarray(values)
    if a.size == 0:
        return
    m = int(np.max(np.abs(a.astype(object) if a.dtype == object else a.astype(I64))))
    if m > track.get(name, 0):
        track[name] = m


def _bitlen(v):
    return int(v).bit_length()


def _shift_down(a, s):
    """floor(a / 2**s) for an int64 array a and a Python int s (a left shift if s < 0)."""
    if s >= 0:
        return a >> I64(min(s, 63))
    return a << I64(-s)


def _table(blob):
    n = len(blob) // 4
    return np.array(struct.unpack("<%di" % n, blob), dtype=I64)


def exp2_table():
    from nanollm import tables
    return _table(tables.EXP2)


def gelu_table():
    from nanollm import tables
    return _table(tables.GELU)


# ------------------------------------------------------------------ fp16 scales

def f16_parts(h):
    """fp16 bit patterns (any int array) -> (signed mantissa, exponent), int64 arrays.

    value = man * 2**(exp - 25); subnormals get exponent 1 and no hidden bit. The
    exponent field 31 (inf/nan) is read as a plain number, as the kernels do.
    """
    h = np.asarray(h, dtype=I64)
    field = (h >> 10) & 31
    exp = np.where(field == 0, 1, field)
    man = (h & 1023) | np.where(field != 0, 1024, 0)
    man = np.where(h & 0x8000, -man, man)
    return man.astype(I64), exp.astype(I64)


def _blocks(raw, n_rows, n_cols, qtype):
    bb = BLOCK_BYTES[qtype]
    nb = n_cols // 32
    return np.asarray(raw, dtype=np.uint8).reshape(n_rows, nb, bb)


def _h16(b, lo):
    return b[..., lo].astype(I64) | (b[..., lo + 1].astype(I64) << 8)


def block_values(raw, n_rows, n_cols, qtype):
    """Integer element values per block, (rows, blocks, 32) int64, and the scale bits.

    q8_0: q (int8); q4_0: nibble - 8; q4_1: nibble (0..15). Scales: (d bits, m bits or None).
    """
    b = _blocks(raw, n_rows, n_cols, qtype)
    if qtype == "q8_0":
        q = b[..., 2:].view(np.int8).astype(I64)
        return q, _h16(b, 0), None
    off = 2 if qtype == "q4_0" else 4
    nib = b[..., off:].astype(I64)
    q = np.concatenate([nib & 15, nib >> 4], axis=-1)
    if qtype == "q4_0":
        return q - 8, _h16(b, 0), None
    return q, _h16(b, 0), _h16(b, 2)


# ------------------------------------------------------------------ to_x16

def to_x16(v, track=None):
    """Q16 vector -> (x16 values, shift): x = round-half-up(v / 2**sh), |x| <= 2**13."""
    v = np.asarray(v, dtype=I64)
    m = int(np.max(np.abs(v))) if v.size else 0
    _note(track, "to_x16.abs", m)
    if m == 0:
        return np.zeros_like(v), 0
    sh = _bitlen(m) - X16_BITS
    if sh > 0:
        _note(track, "to_x16.v+half", v + (1 << (sh - 1)))
        x = (v + (1 << (sh - 1))) >> sh
    else:
        x = v << -sh
    _note(track, "to_x16.x", x)
    return x, sh


# ------------------------------------------------------------------ matvec

def block_terms(s, man, k):
    """The defined per-block contribution of the matvec accumulation, vectorised.

    A block with integer dot s, scale mantissa man, k = (row's largest exponent) - (block
    exponent) adds, in units of 2**k below the block's own:
      k == 0       s * man                                           (exact)
      1 <= k <= 13 floor(s / 2**k) * man + floor((s mod 2**k) * man / 2**k)
                   = floor(s * man / 2**k)                           (exact floor)
      14 <= k <= 24  floor(s / 2**k) * man + floor(f13 * man / 2**13), where f13 is the
                   top 13 bits of s mod 2**k (a floor of a floor: short by < 2 units)
      k >= 25      nothing.
    """
    s = np.asarray(s, dtype=I64)
    man = np.asarray(man, dtype=I64)
    k = np.asarray(k, dtype=I64)
    kc = np.minimum(k, 40)
    whole = s >> kc
    mask = (I64(1) << kc) - 1
    r_small = ((s & mask) * man) >> kc
    r_mid = (((s >> np.maximum(kc - 13, 0)) & 8191) * man) >> 13
    r = np.where(k == 0, 0, np.where(k <= 13, r_small, r_mid))
    term = whole * man + r
    return np.where(k > 24, 0, term), whole, r


def _acc_rows(s, man, k, R, track, tag):
    """Sum block terms along axis 1 and shift each row's total into Q16 (floor)."""
    term, whole, r = block_terms(s, man, k)
    if track is not None:
        live = k <= 24
        _note(track, tag + ".block_dot", s)
        _note(track, tag + ".products", np.where(live, (whole & 8191) * man, 0))
        _note(track, tag + ".products", np.where(live, (whole >> 13) * man, 0))
        _note(track, tag + ".products", np.where(live & (k <= 13), (s & ((I64(1) << np.minimum(k, 13)) - 1)) * man, 0))
        _note(track, tag + ".products", np.where(live & (k > 13), ((s >> np.clip(k - 13, 0, 40)) & 8191) * man, 0))
        cum = np.cumsum(term, axis=1)
        acc1_prev = (cum - term) & 8191
        _note(track, tag + ".acc_hi", cum >> 13)  # the high word after each block
        _note(track, tag + ".acc_lo_sum", np.where(live, acc1_prev + (whole & 8191) * man + r, 0))
    total = term.sum(axis=1)
    out = []
    for t, rr in zip(total.tolist(), np.asarray(R).tolist()):
        t = int(t)
        o = t >> rr if rr >= 0 else t << -rr
        if track is not None and rr < 13:
            _note(track, tag + ".out_hi", (t >> 13) << (13 - rr))
        out.append(o)
    return np.array(out, dtype=object)


def matvec(raw, n_rows, n_cols, x, shx, qtype, track=None):
    """Rows of a q8_0/q4_0/q4_1 matrix (raw ggml blocks) times an x16 vector, as Q16.

    Returns an object array of Python ints (exact even where the kernel would overflow).
    Block b of row r has value scale d = man * 2**(e - 25); with emax the row's largest
    exponent (at least 1) and k = emax - e, the row's result is
        floor(sum_b term(s_b, man_b, k_b) / 2**(25 - emax - shx))
    where s_b is the block's integer dot product and term() is block_terms().
    q4_1 sums the q*d and m parts separately, each with its own row exponent.
    """
    if qtype == "q4_K":
        return matvec_q4_k(raw, n_rows, n_cols, x, shx, track)
    x = np.asarray(x, dtype=I64).reshape(n_cols // 32, 32)
    q, hd, hm = block_values(raw, n_rows, n_cols, qtype)
    s = np.einsum("rbj,bj->rb", q, x)
    md, ed = f16_parts(hd)
    emax = np.maximum(ed.max(axis=1), 1)
    out = _acc_rows(s, md, emax[:, None] - ed, 25 - emax - shx, track, qtype + ".d")
    if qtype == "q4_1":
        s2 = np.broadcast_to(x.sum(axis=1), s.shape)
        mm, em = f16_parts(hm)
        emm = np.maximum(em.max(axis=1), 1)
        out = out + _acc_rows(s2, mm, emm[:, None] - em, 25 - emm - shx, track, qtype + ".m")
    _note(track, qtype + ".out", out)
    return out


def dequant_row(raw_row, n_cols, qtype, track=None):
    """One quantized row into Q16: floor(q * man * 2**(e - 9)) per element
    (q4_1: floor(q * man_d * 2**(e_d - 9)) + floor(man_m * 2**(e_m - 9));
    q4_K: see dequant_row_q4_k)."""
    if qtype == "q4_K":
        return dequant_row_q4_k(raw_row, n_cols, track)
    q, hd, hm = block_values(raw_row, 1, n_cols, qtype)
    q = q[0]
    md, ed = f16_parts(hd[0])

    def scale(vals, man, e):
        sh = (e - 9)[:, None]
        prod = vals * man[:, None]
        return np.where(sh >= 0, prod << np.maximum(sh, 0), prod >> np.maximum(-sh, 0))

    out = scale(q, md, ed)
    if qtype == "q4_1":
        mm, em = f16_parts(hm[0])
        out = out + scale(np.ones_like(q), mm, em)
    out = out.reshape(-1)
    _note(track, qtype + ".dequant", out)
    return out


# ------------------------------------------------------------------ q4_K

def q4k_values(raw, n_rows, n_cols):
    """ggml q4_K super-blocks (144 bytes per 256 elements) as integers:
    q (rows, sb, 8, 32) nibbles 0..15 by sub-block, sc and mn (rows, sb, 8) 6-bit sub-block
    scales and mins, d and dmin fp16 bits (rows, sb). Element value d*sc*q - dmin*mn."""
    b = np.asarray(raw, dtype=np.uint8).reshape(n_rows, n_cols // 256, 144)
    s12 = b[..., 4:16].astype(I64)
    sc = np.concatenate([s12[..., 0:4] & 63, (s12[..., 8:12] & 15) | ((s12[..., 0:4] >> 6) << 4)], axis=-1)
    mn = np.concatenate([s12[..., 4:8] & 63, (s12[..., 8:12] >> 4) | ((s12[..., 4:8] >> 6) << 4)], axis=-1)
    qs = b[..., 16:].astype(I64).reshape(n_rows, n_cols // 256, 4, 1, 32)
    q = np.concatenate([qs & 15, qs >> 4], axis=3).reshape(n_rows, n_cols // 256, 8, 32)
    return q, sc, mn, _h16(b, 0), _h16(b, 2)


def matvec_q4_k(raw, n_rows, n_cols, x, shx, track=None):
    """q4_K rows times an x16 vector, as Q16 (an object array of Python ints).

    Per super-block, two exact integer sums: sd = sum_j sc_j * (q . x over sub-block j) and
    sm = sum_j mn_j * (sum of x over sub-block j). They are accumulated as q4_1's two parts,
    sd at scale d and -sm at scale dmin, each over the row's largest exponent of its scale.
    sd carries the 6 bits of the sub-block scales (up to 63 * 15 * 2**13 * 256 < 2**31), so
    its part is summed in units 2**6 coarser (k + 6): a row of 3072 then stays below 2**31
    in the high word as q8_0 does, and the floor per super-block costs under 2**-10 of a Q16
    unit at typical shifts:
        floor(sum_b term(sd_b, man_d, kd_b + 6) / 2**(19 - emax_d - shx))
      + floor(sum_b term(-sm_b, man_m, km_b) / 2**(25 - emax_m - shx)).
    """
    q, sc, mn, hd, hm = q4k_values(raw, n_rows, n_cols)
    x = np.asarray(x, dtype=I64).reshape(n_cols // 256, 8, 32)
    s = np.einsum("rbjl,bjl->rbj", q, x)
    xs = x.sum(axis=2)
    if track is not None:
        _note(track, "q4_K.sub_dot", s)
        _note(track, "q4_K.sd", np.cumsum(s * sc, axis=2))
        _note(track, "q4_K.sm", np.cumsum(xs[None] * mn, axis=2))
    sd = (s * sc).sum(axis=2)
    sm = (xs[None] * mn).sum(axis=2)
    md, ed = f16_parts(hd)
    emax = np.maximum(ed.max(axis=1), 1)
    out = _acc_rows(sd, md, emax[:, None] - ed + 6, 19 - emax - shx, track, "q4_K.d")
    mm, em = f16_parts(hm)
    emm = np.maximum(em.max(axis=1), 1)
    out = out + _acc_rows(-sm, mm, emm[:, None] - em, 25 - emm - shx, track, "q4_K.m")
    _note(track, "q4_K.out", out)
    return out


def float_vector_q16(values):
    """A norm or bias vector (numpy float32 or float16 values) in Q16: each value * 2**16
    rounded to the nearest integer, halves away from zero. Exact in float64: the product is
    exact, and adding 0.5 to it is exact wherever the result can round up."""
    v = np.asarray(values, dtype=np.float64) * 65536.0
    return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(I64)


def dequant_row_q4_k(raw_row, n_cols, track=None):
    """One q4_K row into Q16: floor(q * sc * man_d * 2**(e_d - 9)) - floor(mn * man_m * 2**(e_m - 9))."""
    q, sc, mn, hd, hm = q4k_values(raw_row, 1, n_cols)
    md, ed = f16_parts(hd[0])
    mm, em = f16_parts(hm[0])

    def scale(v, s):
        return np.where(s >= 0, v << np.maximum(s, 0), v >> np.maximum(-s, 0))

    part_d = scale(q[0] * (sc[0] * md[:, None])[:, :, None], (ed - 9)[:, None, None])
    part_m = scale(mn[0] * mm[:, None], (em - 9)[:, None])
    out = (part_d - part_m[:, :, None]).reshape(-1)
    _note(track, "q4_K.dequant", part_d)
    return out


# ------------------------------------------------------------------ layer norm

def layernorm(x, g, b, eps_q32, track=None):
    """Q16 layer norm: out = (x - mean) / sqrt(var + eps) * g + b, in the kernel's steps.

    mean = floor(sum / n); centred values are scaled by 2**-sh to |v| <= 2**14 (floor),
    sh = max(bitlen(max|c|) - 14, -5);
    var = floor(sum floor(v*v / 2**10) / n) in units of 2**(10 + 2 sh - 32) (Q16 squared);
    eps in the same units: floor(eps_q32 / 2**(10 + 2 sh)) (sh >= -5 keeps that exact);
    a = (var + eps) * 4**e, the power e (either sign) putting a in [2**28, 2**30);
    sd = isqrt(a); z = floor(v * floor(2**(15+L) / sd) / 2**(6+L-e)), L = bitlen(sd) (Q14);
    out = floor(z * (g >> 10) / 2**4) + floor(z * (g & 1023) / 2**14) + b.
    """
    x = np.asarray(x, dtype=I64)
    g = np.asarray(g, dtype=I64)
    b = np.asarray(b, dtype=I64)
    n = x.size
    _note(track, "ln.sum_hi", np.cumsum(x >> 12))
    _note(track, "ln.sum_lo", np.cumsum(x & 4095))
    mean = int(x.sum()) // n
    c = x - mean
    _note(track, "ln.centred", c)
    m = int(np.max(np.abs(c)))
    if m == 0:
        return b.copy()
    sh = max(_bitlen(m) - 14, -5)
    v = _shift_down(c, sh)
    _note(track, "ln.v", v)
    sq = (v * v) >> 10
    _note(track, "ln.v*v", v * v)
    _note(track, "ln.sum_sq", np.cumsum(sq))
    var = int(sq.sum()) // n
    eps = eps_q32 >> (10 + 2 * sh)
    a = var + eps
    e = 0
    while a >= 1 << 30:
        a >>= 2
        e -= 1
    while a < 1 << 28:
        a <<= 2
        e += 1
    _note(track, "ln.isqrt_arg", a)
    sd = math.isqrt(a)
    L = _bitlen(sd)
    inv = (1 << (15 + L)) // sd
    _note(track, "ln.v*inv", v * inv)
    z = (v * inv) >> (6 + L - e)
    p1 = z * (g >> 10)
    p2 = z * (g & 1023)
    _note(track, "ln.z*g_hi", p1)
    _note(track, "ln.z*g_lo", p2)
    out = (p1 >> 4) + (p2 >> 14) + b
    _note(track, "ln.out", out)
    return out


# ------------------------------------------------------------------ GELU

def gelu(v, track=None):
    """Table GELU on Q16: x >= 8 unchanged, x < -8 -> 0, else linear interpolation
    between GELU[k] and GELU[k+1] (k = floor((x + 8) * 32)), floored."""
    v = np.asarray(v, dtype=I64)
    t = gelu_table()
    u = np.clip(v + 524288, 0, (1 << 20) - 1)
    k = u >> 11
    f = u & 2047
    a = t[k]
    prod = (t[k + 1] - a) * f
    mid = a + (prod >> 11)
    out = np.where(v >= 524288, v, np.where(v < -524288, 0, mid))
    _note(track, "gelu.interp", np.where((v >= -524288) & (v < 524288), prod, 0))
    return out


# ------------------------------------------------------------------ KV cache

def kv_scale(amax):
    """The (ms, es) of a KV row with max |value| amax (Q16): the smallest ms * 2**es with
    ms in [128, 255] and ms * 2**es >= max(1, ceil(amax / 127))."""
    t = max(1, -(-amax // 127))
    es = _bitlen(t) - 8
    if es <= 0:
        return t << -es, es
    ms = -(-t // (1 << es))
    if ms == 256:
        return 128, es + 1
    return ms, es


def kv_store(v, track=None):
    """Q16 row -> (int8 values, ms, es): k = clamp(floor((floor(v / 2**es) * floor(2**22 / ms)
    + 2**21) / 2**22), -127, 127), i.e. v / (ms * 2**es) rounded (half up)."""
    v = np.asarray(v, dtype=I64)
    amax = int(np.max(np.abs(v))) if v.size else 0
    _note(track, "kv.amax+126", amax + 126)
    ms, es = kv_scale(amax)
    inv = (1 << 22) // ms
    sv = _shift_down(v, es)
    prod = sv * inv
    _note(track, "kv.v*inv", prod)
    _note(track, "kv.v*inv", prod + (1 << 21))
    k = np.clip((prod + (1 << 21)) >> 22, -127, 127)
    return k, ms, es


def kv_dequant(k, ms, es):
    """Float values of a stored KV row (real units, not Q16)."""
    return np.asarray(k, dtype=np.float64) * ms * 2.0 ** (es - 16)


# ------------------------------------------------------------------ attention

def attend(q, K, kms, kes, V, vms, ves, c_isq, track=None):
    """One head of attention: q (hd,) Q16; K, V (n_pos, hd) int8 values with per-position
    scales (ms, es); c_isq = isqrt(2**30 / hd). Returns the Q16 output (hd,).

    score_t (Q12) = floor(floor(dot_t * floor(c_isq * kms_t / 2**8) / 2**15) * 2**(sq + kes_t - 12)),
        dot_t = q16 . K_t with (q16, sq) = to_x16(q);
    u_t = max(score) - score_t; p_t = 0 unless u_t < 32 (Q12), else with e = floor(u_t * 11819 / 2**13)
        (the base-2 exponent, Q12), i = (e mod 2**12) >> 4, f = e mod 16:
        p_t = floor((EXP2[i] - floor((EXP2[i] - EXP2[i+1]) * f / 16)) / 2**(e >> 12)) (0 if e >> 12 >= 17);
    with P = sum p, L = bitlen(P): w_t = floor(floor(p_t * floor(2**29 / floor(P / 2**(L-16))) / 2**(L-1))
        * vms_t / 2**8) (Q14 times the value mantissa);
    out = floor(sum_t floor(w_t * V_t / 2**(emax - ves_t)) * 2**(emax - 6)), emax = max ves.
    """
    K = np.asarray(K, dtype=I64)
    V = np.asarray(V, dtype=I64)
    kms = np.asarray(kms, dtype=I64)
    kes = np.asarray(kes, dtype=I64)
    vms = np.asarray(vms, dtype=I64)
    ves = np.asarray(ves, dtype=I64)
    q16, sq = to_x16(q, track)
    dot = K @ q16
    _note(track, "att.dot", np.cumsum(K * q16[None, :], axis=1))
    c = (c_isq * kms) >> 8
    p_hi = (dot >> 15) * c
    p_lo = (dot & 32767) * c
    _note(track, "att.dot*c", p_hi)
    _note(track, "att.dot*c", p_lo)
    t1 = p_hi + (p_lo >> 15)
    rsh = 12 - sq - kes
    score = np.where(rsh >= 0, t1 >> np.maximum(rsh, 0), t1 << np.maximum(-rsh, 0))
    _note(track, "att.score", score)
    smax = int(score.max())
    u = smax - score
    _note(track, "att.u", u)
    live = u < SOFTMAX_CUTOFF_Q12
    ul = np.where(live, u, 0)
    _note(track, "att.u*log2e", ul * LOG2E_Q13)
    e2 = (ul * LOG2E_Q13) >> 13
    ip = e2 >> 12
    f = e2 & 4095
    i = f >> 4
    tab = exp2_table()
    a = tab[i]
    interp = a - (((a - tab[i + 1]) * (f & 15)) >> 4)
    p = np.where(live & (ip < 17), interp >> np.minimum(ip, 40), 0)
    total = int(p.sum())
    _note(track, "att.total", np.cumsum(p))
    L = _bitlen(total)
    inv = (1 << 29) // (total >> (L - 16))
    _note(track, "att.p*inv", p * inv)
    w = (((p * inv) >> (L - 1)) * vms) >> 8
    emax = int(ves.max())
    contrib = (w[:, None] * V) >> (emax - ves)[:, None]
    _note(track, "att.w*v", w[:, None] * V)
    acc = np.cumsum(contrib, axis=0)
    _note(track, "att.acc", acc)
    out = _shift_down(acc[-1], 6 - emax)
    _note(track, "att.out", out)
    return out


# ------------------------------------------------------------------ choosing the next token

def exp_neg_q12(u12):
    """round(2**16 * exp(-u / 4096)) per element of u (Q12, >= 0), with the exp table:
    e = floor(u * 11819 / 2**13) (base 2, Q12), i = (e mod 2**12) >> 4, f = e mod 16:
    floor((EXP2[i] - floor((EXP2[i] - EXP2[i+1]) * f / 16)) / 2**(e >> 12)), 0 if e >> 12 >= 17."""
    u = np.asarray(u12, dtype=I64)
    e2 = (u * LOG2E_Q13) >> 13
    ip = e2 >> 12
    f = e2 & 4095
    i = f >> 4
    tab = exp2_table()
    a = tab[i]
    return np.where(ip < 17, (a - (((a - tab[i + 1]) * (f & 15)) >> 4)) >> np.minimum(ip, 40), 0)


def argmax(lg):
    """The index of the largest logit; the first of equal ones."""
    return int(np.argmax(np.asarray(lg, dtype=I64)))


def top_k(lg, k):
    """The indices of the min(k, n) largest logits, largest first, equal ones by index."""
    lg = np.asarray(lg, dtype=I64)
    order = np.lexsort((np.arange(len(lg)), -lg))  # by -value, then by index
    return [int(i) for i in order[:k]]


def weights(lg, bv, inv_t_q10, cutoff, p_shift):
    """Token weights: w = exp_neg_q12(floor(floor(d / 16) * inv_t_q10 / 2**10)) >> p_shift with
    d = bv - lg, 0 where d >= cutoff."""
    d = bv - np.asarray(lg, dtype=I64)
    w = exp_neg_q12(np.where(d < cutoff, ((d >> 4) * inv_t_q10) >> 10, 0)) >> p_shift
    return np.where(d < cutoff, w, 0)


def top_p(p, want):
    """Top-p over every token: zero the weights below t, the largest threshold >= 1 whose
    weights >= t still sum to want (the kept mass only changes at a weight's value, so t is
    one of the weights, or 1). Returns (kept weights, their sum)."""
    p = np.asarray(p, dtype=I64)
    t = 1
    for v in np.unique(p)[::-1]:  # thresholds from the largest down: the first that reaches want
        if int(p[p >= v].sum()) >= want:
            t = max(int(v), 1)
            break
    kept = np.where(p >= t, p, 0)
    return kept, int(kept.sum())


def draw(p, r):
    """The token whose share of the weights, laid out in token order, holds r; -1 past their sum."""
    c = np.cumsum(np.asarray(p, dtype=I64))
    i = int(np.searchsorted(c, r, side="right"))  # the first i with c[i] > r
    return i if i < len(c) else -1
