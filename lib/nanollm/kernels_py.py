# Plain-Python kernels: the fallback on any Python, and the readable statement of what
# every backend computes. The viper kernels (kernels_viper.py) and the C kernels
# (firmware/) must give bit-identical results on the integer path; host_tools/nanollm_host/kernel_spec.py
# states the same arithmetic in numpy and the tests hold all of them to it.
#
# Integer path formats (docs/fixed_point.md explains why they keep accuracy):
#   Q16 vector  array('i'): value = q / 2**16 (the residual stream and every activation)
#   x16 vector  array('h') + shift sh: value = x * 2**(sh-16), |x| <= 2**13 (matmul input)
#   KV entry    int8 + per (position, head) scale ms * 2**es: value = k * ms * 2**(es-16)
# Every intermediate stays below 2**31 in magnitude, so 32-bit viper on a Cortex-M0 and
# 64-bit CPython give the same numbers.

import struct

from . import tables

_EXP2 = [struct.unpack_from("<i", tables.EXP2, 4 * i)[0] for i in range(257)]
_GELU = [struct.unpack_from("<i", tables.GELU, 4 * i)[0] for i in range(513)]

X16_BITS = 13  # matmul inputs are scaled so that |x| <= 2**13
LOG2E_Q13 = 11819  # round(log2(e) * 2**13)
SOFTMAX_CUTOFF = 32 << 12  # scores more than 32 below the max contribute nothing


def bitlen(v):
    n = 0
    while v:
        v >>= 1
        n += 1
    return n


def shr(v, s):
    """Arithmetic shift right by s, or left by -s."""
    return v >> s if s >= 0 else v << -s


def _f16_exp(h):
    e = (h >> 10) & 31
    return e if e else 1


def _f16_man(h):
    """The fp16 bits h as (signed 11-bit mantissa, exponent): value = man * 2**(exp-25)."""
    e = (h >> 10) & 31
    m = h & 1023
    if e:
        m |= 1024
    return -m if h & 0x8000 else m


def _acc_block(acc, s, m, k):
    """acc += s * m / 2**k, kept exact enough in two words: acc[0]*2**13 + acc[1].

    s: a block's integer dot product (|s| < 2**26), m: the block scale's mantissa
    (|m| < 2**11), k: how far the block's exponent is below the row's largest (k >= 0).
    Splitting s at bit 13 keeps every product below 2**31, so 32-bit machines give the
    same result as 64-bit ones; acc[1] stays in [0, 2**13).
    """
    if k == 0:
        r = 0
    elif k <= 13:
        r = ((s & ((1 << k) - 1)) * m) >> k
        s >>= k
    elif k <= 24:
        r = (((s >> (k - 13)) & 8191) * m) >> 13
        s >>= k
    else:  # below 2**-24 of the row's largest block: nothing left to add
        return
    lo = acc[1] + (s & 8191) * m + r
    acc[0] += (s >> 13) * m + (lo >> 13)
    acc[1] = lo & 8191


# ---------------------------------------------------------------- integer path

def to_x16(src, off, n, dst):
    """Scale n Q16 values src[off:off+n] into dst[0:n] with |x| <= 2**13; return the shift."""
    m = 0
    for i in range(off, off + n):
        v = src[i]
        if v < 0:
            v = -v
        if v > m:
            m = v
    if m == 0:
        for i in range(n):
            dst[i] = 0
        return 0
    sh = bitlen(m) - X16_BITS
    if sh > 0:
        half = 1 << (sh - 1)
        for i in range(n):
            dst[i] = (src[off + i] + half) >> sh
    else:
        for i in range(n):
            dst[i] = src[off + i] << -sh
    return sh


def _row_exp(w, base, nb, bsize, off):
    """Largest fp16 exponent among the scales at w[base + b*bsize + off] of a row's blocks."""
    emax = 1
    for b in range(nb):
        p = base + b * bsize + off
        e = _f16_exp(w[p] | (w[p + 1] << 8))
        if e > emax:
            emax = e
    return emax


def _acc_out(acc, r):
    # floor((acc[0] * 2**13 + acc[1]) / 2**r) for 0 <= acc[1] < 2**13
    if r >= 13:
        return acc[0] >> (r - 13)
    return (acc[0] << (13 - r)) + shr(acc[1], r)


def matvec_q8_0(w, n_rows, n_cols, x, shx, out, out0, acc=[0, 0]):
    """out[out0+r] = row r of q8_0 matrix w (raw ggml blocks) . x, as Q16.

    x (int16) holds values x * 2**(shx-16). Each block's scale d = man * 2**(e-25); all
    blocks of a row are summed in units of the row's largest exponent emax, so the row's
    result is total * 2**(shx + emax - 25), shifted once into Q16 at the end.
    """
    nb = n_cols >> 5
    rb = nb * 34
    for r in range(n_rows):
        base = r * rb
        emax = _row_exp(w, base, nb, 34, 0)
        acc[0] = 0
        acc[1] = 0
        for b in range(nb):
            p = base + b * 34
            h = w[p] | (w[p + 1] << 8)
            p += 2
            xo = b << 5
            s = 0
            for j in range(32):
                q = w[p + j]
                if q > 127:
                    q -= 256
                s += q * x[xo + j]
            _acc_block(acc, s, _f16_man(h), emax - _f16_exp(h))
        out[out0 + r] = _acc_out(acc, 25 - emax - shx)


def matvec_q4_0(w, n_rows, n_cols, x, shx, out, out0, acc=[0, 0]):
    """As matvec_q8_0 for q4_0 blocks: byte j holds element j (low nibble) and j+16 (high)."""
    nb = n_cols >> 5
    rb = nb * 18
    for r in range(n_rows):
        base = r * rb
        emax = _row_exp(w, base, nb, 18, 0)
        acc[0] = 0
        acc[1] = 0
        for b in range(nb):
            p = base + b * 18
            h = w[p] | (w[p + 1] << 8)
            p += 2
            xo = b << 5
            s = 0
            for j in range(16):
                q = w[p + j]
                s += ((q & 15) - 8) * x[xo + j] + ((q >> 4) - 8) * x[xo + 16 + j]
            _acc_block(acc, s, _f16_man(h), emax - _f16_exp(h))
        out[out0 + r] = _acc_out(acc, 25 - emax - shx)


def matvec_q4_1(w, n_rows, n_cols, x, shx, out, out0, acc=[0, 0], acc2=[0, 0]):
    """As matvec_q4_0 for q4_1 blocks (fp16 d, fp16 m, 16 bytes): value q*d + m.

    The d and m parts are summed separately, each at its own row exponent: m is often
    several times larger than d, and a shared exponent would cost d its low bits.
    """
    nb = n_cols >> 5
    rb = nb * 20
    for r in range(n_rows):
        base = r * rb
        ed = _row_exp(w, base, nb, 20, 0)
        em = _row_exp(w, base, nb, 20, 2)
        acc[0] = 0
        acc[1] = 0
        acc2[0] = 0
        acc2[1] = 0
        for b in range(nb):
            p = base + b * 20
            hd = w[p] | (w[p + 1] << 8)
            hm = w[p + 2] | (w[p + 3] << 8)
            p += 4
            xo = b << 5
            s1 = 0
            s2 = 0
            for j in range(16):
                q = w[p + j]
                a = x[xo + j]
                c = x[xo + 16 + j]
                s1 += (q & 15) * a + (q >> 4) * c
                s2 += a + c
            _acc_block(acc, s1, _f16_man(hd), ed - _f16_exp(hd))
            _acc_block(acc2, s2, _f16_man(hm), em - _f16_exp(hm))
        out[out0 + r] = _acc_out(acc, 25 - ed - shx) + _acc_out(acc2, 25 - em - shx)


def _k4_sc(w, p, j):
    """q4_K: the 6-bit scale of sub-block j from the 12 packed bytes at w[p:] (ggml's get_scale_min_k4)."""
    if j < 4:
        return w[p + j] & 63
    return (w[p + j + 4] & 15) | ((w[p + j - 4] >> 6) << 4)


def _k4_mn(w, p, j):
    """q4_K: the 6-bit min of sub-block j."""
    if j < 4:
        return w[p + j + 4] & 63
    return (w[p + j + 4] >> 4) | ((w[p + j] >> 6) << 4)


def matvec_q4_K(w, n_rows, n_cols, x, shx, out, out0, acc=[0, 0], acc2=[0, 0]):
    """As matvec_q4_1 for ggml's q4_K super-blocks (256 elements in 144 bytes: fp16 d,
    fp16 dmin, 12 bytes of 6-bit sub-block scales sc and mins mn, 128 bytes of nibbles;
    bytes 32c..32c+31 hold sub-block 2c in their low nibbles, 2c+1 in their high ones).
    Value of an element of sub-block j: d * sc[j] * q - dmin * mn[j].

    Per super-block the sub-block dots times their scales add up exactly (|sd| < 2**31),
    as do the sub-block input sums times the mins (sm); sd then goes in at scale d, -sm
    at scale dmin, each summed at its own row exponent as q4_1's two parts. sd holds the
    scales' 6 bits more than a q8_0 block sum, so its part is summed 2**6 coarser (k + 6,
    shifted out 6 less at the end): the high word of a 3072-wide row stays below 2**31.
    """
    nb = n_cols >> 8
    rb = nb * 144
    for r in range(n_rows):
        base = r * rb
        ed = _row_exp(w, base, nb, 144, 0)
        em = _row_exp(w, base, nb, 144, 2)
        acc[0] = 0
        acc[1] = 0
        acc2[0] = 0
        acc2[1] = 0
        for b in range(nb):
            p = base + b * 144
            hd = w[p] | (w[p + 1] << 8)
            hm = w[p + 2] | (w[p + 3] << 8)
            sd = 0
            sm = 0
            for c in range(4):
                q = p + 16 + 32 * c
                xa = (b << 8) + 64 * c
                s_lo = 0
                s_hi = 0
                x_lo = 0
                x_hi = 0
                for j in range(32):
                    v = w[q + j]
                    a = x[xa + j]
                    e = x[xa + 32 + j]
                    s_lo += (v & 15) * a
                    s_hi += (v >> 4) * e
                    x_lo += a
                    x_hi += e
                sd += _k4_sc(w, p + 4, 2 * c) * s_lo + _k4_sc(w, p + 4, 2 * c + 1) * s_hi
                sm += _k4_mn(w, p + 4, 2 * c) * x_lo + _k4_mn(w, p + 4, 2 * c + 1) * x_hi
            _acc_block(acc, sd, _f16_man(hd), ed - _f16_exp(hd) + 6)
            _acc_block(acc2, -sm, _f16_man(hm), em - _f16_exp(hm))
        out[out0 + r] = _acc_out(acc, 19 - ed - shx) + _acc_out(acc2, 25 - em - shx)


def _dequant_row_q4_K(w, off, n_cols, out):
    # element = floor(q * sc * man_d * 2**(e_d - 9)) - floor(mn * man_m * 2**(e_m - 9))
    for b in range(n_cols >> 8):
        p = off + b * 144
        hd = w[p] | (w[p + 1] << 8)
        hm = w[p + 2] | (w[p + 3] << 8)
        md = _f16_man(hd)
        mm = _f16_man(hm)
        sd = _f16_exp(hd) - 9
        sm = _f16_exp(hm) - 9
        for j in range(8):
            dj = _k4_sc(w, p + 4, j) * md
            mv = shr(_k4_mn(w, p + 4, j) * mm, -sm)
            q = p + 16 + 32 * (j >> 1)
            o = (b << 8) + 32 * j
            hi = j & 1
            for i in range(32):
                v = w[q + i]
                v = v >> 4 if hi else v & 15
                out[o + i] = shr(v * dj, -sd) - mv


def _float_q16(sign, e, man, s):
    # round(man * 2**s) half away from zero, signed; e == 0 is a subnormal (no implicit bit)
    if s >= 0:
        v = man << s  # the load checked that this stays below 2**31
    elif s > -25:  # man < 2**24: from 2**-25 down the result is 0 (and no big int is made)
        v = (man + (1 << (-s - 1))) >> -s
    else:
        v = 0
    return -v if sign else v


def dequant_row_q(w, wtype, off, n_cols, out):
    """One row of a quantized matrix (raw bytes at w[off:]) into Q16 out[0:n_cols]; wtype 0
    (f32) and 1 (f16): a norm or bias vector of n_cols numbers, each rounded to the nearest
    Q16 (halves away from zero, as the load's check of them: model._f32_parts_to_fixed)."""
    if wtype == 0:
        for j in range(n_cols):
            p = off + 4 * j
            b3 = w[p + 3]
            b2 = w[p + 2]
            e = ((b3 & 0x7F) << 1) | (b2 >> 7)
            man = ((b2 & 0x7F) << 16) | (w[p + 1] << 8) | w[p]
            out[j] = _float_q16(b3 >> 7, e, man | 0x800000 if e else man, (e if e else 1) - 134)
        return
    if wtype == 1:
        for j in range(n_cols):
            h = w[off + 2 * j] | (w[off + 2 * j + 1] << 8)
            e = (h >> 10) & 31
            out[j] = _float_q16(h >> 15, e, (h & 1023) | 1024 if e else h & 1023, (e if e else 1) - 9)
        return
    if wtype == 12:  # q4_K
        _dequant_row_q4_K(w, off, n_cols, out)
        return
    nb = n_cols >> 5
    for b in range(nb):
        xo = b << 5
        if wtype == 8:  # q8_0
            p = off + b * 34
            h = w[p] | (w[p + 1] << 8)
            e = _f16_exp(h)
            m = _f16_man(h)
            s = e - 9
            for j in range(32):
                q = w[p + 2 + j]
                if q > 127:
                    q -= 256
                out[xo + j] = shr(q * m, -s)
        elif wtype == 2:  # q4_0
            p = off + b * 18
            h = w[p] | (w[p + 1] << 8)
            e = _f16_exp(h)
            m = _f16_man(h)
            s = e - 9
            for j in range(16):
                q = w[p + 2 + j]
                out[xo + j] = shr(((q & 15) - 8) * m, -s)
                out[xo + 16 + j] = shr(((q >> 4) - 8) * m, -s)
        else:  # q4_1: both halves at the larger exponent of d and m
            p = off + b * 20
            hd = w[p] | (w[p + 1] << 8)
            hm = w[p + 2] | (w[p + 3] << 8)
            md = _f16_man(hd)
            mm = _f16_man(hm)
            sd = _f16_exp(hd) - 9
            sm = _f16_exp(hm) - 9
            for j in range(16):
                q = w[p + 4 + j]
                out[xo + j] = shr((q & 15) * md, -sd) + shr(mm, -sm)
                out[xo + 16 + j] = shr((q >> 4) * md, -sd) + shr(mm, -sm)


def add_q(dst, src, n):
    for i in range(n):
        dst[i] += src[i]


def isqrt(v):
    """floor(sqrt(v)) for 0 <= v < 2**30, bit by bit."""
    r = 0
    bit = 1 << 28  # the largest power of four below 2**30 (a small int on 32-bit ports too)
    while bit > v:
        bit >>= 2
    while bit:
        if v >= r + bit:
            v -= r + bit
            r = (r >> 1) + bit
        else:
            r >>= 1
        bit >>= 2
    return r


def layernorm_q(x, n, g, b, out, eps_q32):
    """out = (x - mean) / sqrt(var + eps) * g + b, all Q16; eps_q32 = round(eps * 2**32)."""
    # exact floor mean without 64-bit sums: split each value at bit 12
    s_hi = 0
    s_lo = 0
    for i in range(n):
        v = x[i]
        s_hi += v >> 12
        s_lo += v & 4095
    q1 = s_hi // n
    mean = q1 * 4096 + ((s_hi - q1 * n) * 4096 + s_lo) // n
    m = 0
    for i in range(n):
        v = x[i] - mean
        if v < 0:
            v = -v
        if v > m:
            m = v
    if m == 0:
        for i in range(n):
            out[i] = b[i]
        return
    # centred values scaled to |v| < 2**14; never scaled up by more than 2**5, so that the
    # unit of eps below (2**(10 + 2*sh) / 2**32) stays >= 2**-32 and eps stays exact
    sh = bitlen(m) - 14
    if sh < -5:
        sh = -5
    ss = 0
    for i in range(n):
        v = shr(x[i] - mean, sh)
        ss += (v * v) >> 10
    var = ss // n  # variance in units of 2**10 scaled-units squared
    eps = eps_q32 >> (10 + 2 * sh)
    # standard deviation, with the square root taken at >= 14 significant bits:
    # a = (var + eps) * 4**e in [2**28, 2**30), sd = sqrt(a) = std * 2**(e-5)
    # (var < 2**18, and eps < 2**31 for any eps < 0.5)
    a = var + eps
    e = 0
    while a >> 30:
        a >>= 2
        e -= 1
    while a < 1 << 28:
        a <<= 2
        e += 1
    sd = isqrt(a)
    bl = bitlen(sd)
    inv = (1 << (15 + bl)) // sd
    nsh = 6 + bl - e
    for i in range(n):
        v = shr(x[i] - mean, sh)
        z = (v * inv) >> nsh  # normalised value, Q14
        gi = g[i]
        out[i] = ((z * (gi >> 10)) >> 4) + ((z * (gi & 1023)) >> 14) + b[i]


def gelu_q(buf, n):
    """GPT-2's tanh GELU in place on Q16 values: table over [-8, 8), linear in between."""
    t = _GELU
    for i in range(n):
        v = buf[i]
        if v >= 524288:
            continue
        if v < -524288:
            buf[i] = 0
            continue
        u = v + 524288
        k = u >> 11
        f = u & 2047
        a = t[k]
        buf[i] = a + (((t[k + 1] - a) * f) >> 11)


def kv_store(src, off, n, dst, doff, sc, si):
    """Quantize Q16 src[off:off+n] to int8 dst[doff:doff+n] (two's complement bytes).

    The scale S = ms * 2**es (Q16 units, ms in [128, 255]) is the smallest 8-bit-mantissa
    number with S >= max|v| / 127; it is stored as sc[2*si] = ms, sc[2*si+1] = es (int8).
    """
    m = 0
    for i in range(off, off + n):
        v = src[i]
        if v < 0:
            v = -v
        if v > m:
            m = v
    t = (m + 126) // 127
    if t == 0:
        t = 1
    es = bitlen(t) - 8
    if es > 0:
        ms = (t + (1 << es) - 1) >> es
        if ms == 256:
            ms = 128
            es += 1
    else:
        ms = t << -es
    inv = (1 << 22) // ms
    for i in range(n):
        k = (shr(src[off + i], es) * inv + (1 << 21)) >> 22
        if k > 127:
            k = 127
        elif k < -127:
            k = -127
        dst[doff + i] = k & 255
    sc[2 * si] = ms
    sc[2 * si + 1] = es & 255


def attend_head(qv, qo, hd, kc, ks, vc, vs, n_pos, stride, ho, n_head, h, c_isq, scores, q16, out):
    """One head of causal attention over positions 0..n_pos-1 of a layer's int8 KV cache.

    qv[qo:qo+hd]: the query (Q16). kc/vc: int8 rows of `stride` bytes per position, this
    head at byte offset ho. ks/vs: the scales kv_store wrote, per (position, head).
    c_isq = 2**15/sqrt(hd). Writes the head's output (Q16) to out[ho:ho+hd].
    scores and q16 are scratch.
    """
    sq = to_x16(qv, qo, hd, q16)
    smax = 0
    for t in range(n_pos):
        ko = t * stride + ho
        dot = 0
        for j in range(hd):
            k = kc[ko + j]
            if k > 127:
                k -= 256
            dot += q16[j] * k
        si = 2 * (t * n_head + h)
        c = (c_isq * ks[si]) >> 8
        e = ks[si + 1]
        if e > 127:
            e -= 256
        t1 = (dot >> 15) * c + (((dot & 32767) * c) >> 15)
        s = shr(t1, 12 - sq - e)  # Q12
        scores[t] = s
        if t == 0 or s > smax:
            smax = s
    total = 0
    for t in range(n_pos):
        u = smax - scores[t]
        p = 0
        if u < SOFTMAX_CUTOFF:
            e2 = (u * LOG2E_Q13) >> 13  # base-2 exponent, Q12
            ip = e2 >> 12
            if ip < 17:
                f = e2 & 4095
                i = f >> 4
                a = _EXP2[i]
                p = (a - (((a - _EXP2[i + 1]) * (f & 15)) >> 4)) >> ip
        scores[t] = p
        total += p
    bl = bitlen(total)
    inv = (1 << 29) // (total >> (bl - 16))
    wsh = bl - 1  # weights sum to about 2**14
    emax = -128
    for t in range(n_pos):
        e = vs[2 * (t * n_head + h) + 1]
        if e > 127:
            e -= 256
        if e > emax:
            emax = e
    for j in range(hd):
        out[ho + j] = 0
    for t in range(n_pos):
        si = 2 * (t * n_head + h)
        wt = (((scores[t] * inv) >> wsh) * vs[si]) >> 8
        e = vs[si + 1]
        if e > 127:
            e -= 256
        ds = emax - e
        vo = t * stride + ho
        for j in range(hd):
            v = vc[vo + j]
            if v > 127:
                v -= 256
            out[ho + j] += (wt * v) >> ds
    osh = 6 - emax
    for j in range(hd):
        out[ho + j] = shr(out[ho + j], osh)


# ---------------------------------------------------------------- choosing the next token
# The vocabulary-wide scans of sampling.py (Sampler): logits are Q16 in array('i'), token
# weights are exp(-gap / T) in Q16 (shifted down so their sum stays below 2**30).

def exp_neg_q12(u12):
    """round(2**16 * exp(-u12 / 4096)) for 0 <= u12 <= 40 * 4096 (0 past it)."""
    e2 = (u12 * LOG2E_Q13) >> 13
    ip = e2 >> 12
    if ip >= 17:
        return 0
    f = e2 & 4095
    i = f >> 4
    a = _EXP2[i]
    return (a - (((a - _EXP2[i + 1]) * (f & 15)) >> 4)) >> ip


def argmax_q(lg, n):
    """Index of the largest of lg[0:n] (n >= 1); the first of equal ones."""
    best = 0
    bv = lg[0]
    for i in range(1, n):
        v = lg[i]
        if v > bv:
            bv = v
            best = i
    return best


def top_k_q(lg, n, k, top):
    """top[0:cnt] = the indices of the cnt = min(k, n) largest of lg[0:n], largest first,
    equal values in index order (k >= 1); returns cnt. One pass, inserting into a sorted
    list; tv is the smallest kept value once the list is full."""
    cnt = 0
    tv = 0
    for i in range(n):
        v = lg[i]
        if cnt < k:
            j = cnt
            cnt += 1
        elif v > tv:
            j = k - 1
        else:
            continue
        while j > 0 and lg[top[j - 1]] < v:
            top[j] = top[j - 1]
            j -= 1
        top[j] = i
        if cnt == k:
            tv = lg[top[k - 1]]
    return cnt


def weights_q(lg, n, bv, inv_t_q10, cutoff, p_shift, p):
    """p[i] = the weight of token i, exp(-(bv - lg[i]) / T) as exp_neg_q12 of the gap in Q12
    times 1/T (inv_t_q10 = 1024 / T), >> p_shift; 0 from a gap of cutoff up. bv is the
    largest logit. Returns the sum of the weights."""
    total = 0
    for i in range(n):
        d = bv - lg[i]
        w = 0 if d >= cutoff else exp_neg_q12(((d >> 4) * inv_t_q10) >> 10) >> p_shift
        p[i] = w
        total += w
    return total


def top_p_q(p, n, want, hi):
    """Top-p over every token: t = the largest threshold in 1..hi whose weights >= t still
    sum to want (a bisection: that mass falls as t grows); weights below t are zeroed.
    hi is the largest weight. Returns the mass kept."""
    lo = 1
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        mass = 0
        for i in range(n):
            if p[i] >= mid:
                mass += p[i]
        if mass >= want:
            lo = mid
        else:
            hi = mid - 1
    total = 0
    for i in range(n):
        if p[i] < lo:
            p[i] = 0
        total += p[i]
    return total


def draw_q(p, n, r):
    """The token whose share of p[0:n], laid out in token order, holds r (0 <= r < sum);
    -1 if r is past the sum."""
    for i in range(n):
        r -= p[i]
        if r < 0:
            return i
    return -1
