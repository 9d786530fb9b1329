# Viper kernels: the integer path compiled to machine code by MicroPython's viper emitter.
# Each function computes exactly what its namesake in kernels_py.py computes (the tests
# compare them bit for bit); read that file for the arithmetic and its bounds.
#
# Viper facts used here: ptr8/ptr16/ptr32 loads are unsigned, so int8/int16 values are
# sign-extended with (v ^ 0x80) - 0x80 and (v ^ 0x8000) - 0x8000; an int32 is read as two
# 16-bit halves (a 32-bit load is not sign-extended on 64-bit ports). Machine ints are
# 32 bits on a Cortex-M0, and every intermediate stays below 2**31.
# This module raises on import where viper is missing (CPython, some ports); kernels.py
# then keeps the plain-Python kernels.

import micropython

from . import tables

PROVIDES = ("to_x16", "matvec_q8_0", "matvec_q4_0", "matvec_q4_1", "matvec_q4_K", "add_q", "layernorm_q",
            "gelu_q", "kv_store", "attend_head", "dequant_row_q",
            "argmax_q", "top_k_q", "weights_q", "top_p_q", "draw_q", "isqrt")

_EXP2 = tables.EXP2
_GELU = tables.GELU


@micropython.viper
def to_x16(src: ptr16, off: int, n: int, dst: ptr16) -> int:
    m = 0
    i = off
    end = off + n
    while i < end:
        v = (((int(src[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(src[2 * i])
        if v < 0:
            v = -v
        if v > m:
            m = v
        i += 1
    if m == 0:
        i = 0
        while i < n:
            dst[i] = 0
            i += 1
        return 0
    bl = 0
    while m:
        m >>= 1
        bl += 1
    sh = bl - 13
    i = 0
    if sh > 0:
        half = 1 << (sh - 1)
        while i < n:
            j = off + i
            v = (((int(src[2 * j + 1]) ^ 0x8000) - 0x8000) << 16) | int(src[2 * j])
            dst[i] = (v + half) >> sh
            i += 1
    else:
        ls = -sh
        while i < n:
            j = off + i
            v = (((int(src[2 * j + 1]) ^ 0x8000) - 0x8000) << 16) | int(src[2 * j])
            dst[i] = v << ls
            i += 1
    return sh


@micropython.viper
def _row_exp(w: ptr8, base: int, nb: int, bsize: int, off: int) -> int:
    emax = 1
    p = base + off
    b = 0
    while b < nb:
        e = (int(w[p + 1]) >> 2) & 31
        if e > emax:
            emax = e
        p += bsize
        b += 1
    return emax


@micropython.viper
def _finish(hi: int, lo: int, r: int) -> int:
    if r >= 13:
        return hi >> (r - 13)
    if r >= 0:
        return (hi << (13 - r)) + (lo >> r)
    return (hi << (13 - r)) + (lo << (0 - r))


@micropython.viper
def matvec_q8_0(w: ptr8, n_rows: int, n_cols: int, x: ptr16, shx: int, out: ptr32, out0: int):
    nb = n_cols >> 5
    rb = nb * 34
    r = 0
    while r < n_rows:
        base = r * rb
        # the row's largest scale exponent
        emax = 1
        p = base
        b = 0
        while b < nb:
            e = (int(w[p + 1]) >> 2) & 31
            if e > emax:
                emax = e
            p += 34
            b += 1
        hi = 0
        lo = 0
        p = base
        b = 0
        while b < nb:
            h = int(w[p]) | (int(w[p + 1]) << 8)
            e = (h >> 10) & 31
            m = h & 1023
            if e:
                m |= 1024
            else:
                e = 1
            if h & 0x8000:
                m = 0 - m
            k = emax - e
            q = p + 2
            xo = b << 5
            s = 0
            j = 0
            while j < 32:
                s += ((int(w[q + j]) ^ 0x80) - 0x80) * ((int(x[xo + j]) ^ 0x8000) - 0x8000)
                s += ((int(w[q + j + 1]) ^ 0x80) - 0x80) * ((int(x[xo + j + 1]) ^ 0x8000) - 0x8000)
                s += ((int(w[q + j + 2]) ^ 0x80) - 0x80) * ((int(x[xo + j + 2]) ^ 0x8000) - 0x8000)
                s += ((int(w[q + j + 3]) ^ 0x80) - 0x80) * ((int(x[xo + j + 3]) ^ 0x8000) - 0x8000)
                j += 4
            # acc += s * m / 2**k (see kernels_py._acc_block)
            if k <= 24:
                rr = 0
                if k > 13:
                    rr = (((s >> (k - 13)) & 8191) * m) >> 13
                    s >>= k
                elif k > 0:
                    rr = ((s & ((1 << k) - 1)) * m) >> k
                    s >>= k
                lo = lo + (s & 8191) * m + rr
                hi += (s >> 13) * m + (lo >> 13)
                lo &= 8191
            p += 34
            b += 1
        rs = 25 - emax - shx
        if rs >= 13:
            v = hi >> (rs - 13)
        elif rs >= 0:
            v = (hi << (13 - rs)) + (lo >> rs)
        else:
            v = (hi << (13 - rs)) + (lo << (0 - rs))
        out[out0 + r] = v
        r += 1


@micropython.viper
def matvec_q4_0(w: ptr8, n_rows: int, n_cols: int, x: ptr16, shx: int, out: ptr32, out0: int):
    nb = n_cols >> 5
    rb = nb * 18
    r = 0
    while r < n_rows:
        base = r * rb
        emax = 1
        p = base
        b = 0
        while b < nb:
            e = (int(w[p + 1]) >> 2) & 31
            if e > emax:
                emax = e
            p += 18
            b += 1
        hi = 0
        lo = 0
        p = base
        b = 0
        while b < nb:
            h = int(w[p]) | (int(w[p + 1]) << 8)
            e = (h >> 10) & 31
            m = h & 1023
            if e:
                m |= 1024
            else:
                e = 1
            if h & 0x8000:
                m = 0 - m
            k = emax - e
            q = p + 2
            xo = b << 5
            s = 0
            j = 0
            while j < 16:
                c = int(w[q + j])
                s += ((c & 15) - 8) * ((int(x[xo + j]) ^ 0x8000) - 0x8000)
                s += ((c >> 4) - 8) * ((int(x[xo + 16 + j]) ^ 0x8000) - 0x8000)
                c = int(w[q + j + 1])
                s += ((c & 15) - 8) * ((int(x[xo + j + 1]) ^ 0x8000) - 0x8000)
                s += ((c >> 4) - 8) * ((int(x[xo + 17 + j]) ^ 0x8000) - 0x8000)
                j += 2
            if k <= 24:
                rr = 0
                if k > 13:
                    rr = (((s >> (k - 13)) & 8191) * m) >> 13
                    s >>= k
                elif k > 0:
                    rr = ((s & ((1 << k) - 1)) * m) >> k
                    s >>= k
                lo = lo + (s & 8191) * m + rr
                hi += (s >> 13) * m + (lo >> 13)
                lo &= 8191
            p += 18
            b += 1
        rs = 25 - emax - shx
        if rs >= 13:
            v = hi >> (rs - 13)
        elif rs >= 0:
            v = (hi << (13 - rs)) + (lo >> rs)
        else:
            v = (hi << (13 - rs)) + (lo << (0 - rs))
        out[out0 + r] = v
        r += 1


@micropython.viper
def matvec_q4_1(w: ptr8, n_rows: int, n_cols: int, x: ptr16, shx: int, out: ptr32, out0: int):
    nb = n_cols >> 5
    rb = nb * 20
    r = 0
    while r < n_rows:
        base = r * rb
        ed = 1
        em = 1
        p = base
        b = 0
        while b < nb:
            e = (int(w[p + 1]) >> 2) & 31
            if e > ed:
                ed = e
            e = (int(w[p + 3]) >> 2) & 31
            if e > em:
                em = e
            p += 20
            b += 1
        hi = 0
        lo = 0
        hi2 = 0
        lo2 = 0
        p = base
        b = 0
        while b < nb:
            q = p + 4
            xo = b << 5
            s1 = 0
            s2 = 0
            j = 0
            while j < 16:
                c = int(w[q + j])
                a = (int(x[xo + j]) ^ 0x8000) - 0x8000
                d = (int(x[xo + 16 + j]) ^ 0x8000) - 0x8000
                s1 += (c & 15) * a + (c >> 4) * d
                s2 += a + d
                j += 1
            # the d part
            h = int(w[p]) | (int(w[p + 1]) << 8)
            e = (h >> 10) & 31
            m = h & 1023
            if e:
                m |= 1024
            else:
                e = 1
            if h & 0x8000:
                m = 0 - m
            k = ed - e
            s = s1
            if k <= 24:
                rr = 0
                if k > 13:
                    rr = (((s >> (k - 13)) & 8191) * m) >> 13
                    s >>= k
                elif k > 0:
                    rr = ((s & ((1 << k) - 1)) * m) >> k
                    s >>= k
                lo = lo + (s & 8191) * m + rr
                hi += (s >> 13) * m + (lo >> 13)
                lo &= 8191
            # the m part
            h = int(w[p + 2]) | (int(w[p + 3]) << 8)
            e = (h >> 10) & 31
            m = h & 1023
            if e:
                m |= 1024
            else:
                e = 1
            if h & 0x8000:
                m = 0 - m
            k = em - e
            s = s2
            if k <= 24:
                rr = 0
                if k > 13:
                    rr = (((s >> (k - 13)) & 8191) * m) >> 13
                    s >>= k
                elif k > 0:
                    rr = ((s & ((1 << k) - 1)) * m) >> k
                    s >>= k
                lo2 = lo2 + (s & 8191) * m + rr
                hi2 += (s >> 13) * m + (lo2 >> 13)
                lo2 &= 8191
            p += 20
            b += 1
        rs = 25 - ed - shx
        if rs >= 13:
            v = hi >> (rs - 13)
        elif rs >= 0:
            v = (hi << (13 - rs)) + (lo >> rs)
        else:
            v = (hi << (13 - rs)) + (lo << (0 - rs))
        rs = 25 - em - shx
        if rs >= 13:
            v += hi2 >> (rs - 13)
        elif rs >= 0:
            v += (hi2 << (13 - rs)) + (lo2 >> rs)
        else:
            v += (hi2 << (13 - rs)) + (lo2 << (0 - rs))
        out[out0 + r] = v
        r += 1


@micropython.viper
def matvec_q4_K(w: ptr8, n_rows: int, n_cols: int, x: ptr16, shx: int, out: ptr32, out0: int):
    # kernels_py.matvec_q4_K: per super-block sd = sum sc * (q . x), sm = sum mn * sum x
    # over its eight sub-blocks (6-bit sc/mn unpacked as kernels_py._k4_sc/_k4_mn), then
    # sd at scale d and -sm at scale dmin, accumulated as q4_1's two parts
    nb = n_cols >> 8
    rb = nb * 144
    r = 0
    while r < n_rows:
        base = r * rb
        ed = 1
        em = 1
        p = base
        b = 0
        while b < nb:
            e = (int(w[p + 1]) >> 2) & 31
            if e > ed:
                ed = e
            e = (int(w[p + 3]) >> 2) & 31
            if e > em:
                em = e
            p += 144
            b += 1
        hi = 0
        lo = 0
        hi2 = 0
        lo2 = 0
        p = base
        b = 0
        while b < nb:
            sd = 0
            sm = 0
            j = 0
            while j < 8:
                if j < 4:
                    sc = int(w[p + 4 + j]) & 63
                    mn = int(w[p + 8 + j]) & 63
                else:
                    c = int(w[p + 8 + j])
                    sc = (c & 15) | ((int(w[p + j]) >> 6) << 4)
                    mn = (c >> 4) | ((int(w[p + 4 + j]) >> 6) << 4)
                q = p + 16 + 32 * (j >> 1)
                xa = (b << 8) + 32 * j
                s = 0
                t = 0
                i = 0
                if j & 1:  # high nibbles
                    while i < 32:
                        a = (int(x[xa + i]) ^ 0x8000) - 0x8000
                        c = (int(x[xa + i + 1]) ^ 0x8000) - 0x8000
                        s += (int(w[q + i]) >> 4) * a + (int(w[q + i + 1]) >> 4) * c
                        t += a + c
                        i += 2
                else:
                    while i < 32:
                        a = (int(x[xa + i]) ^ 0x8000) - 0x8000
                        c = (int(x[xa + i + 1]) ^ 0x8000) - 0x8000
                        s += (int(w[q + i]) & 15) * a + (int(w[q + i + 1]) & 15) * c
                        t += a + c
                        i += 2
                sd += sc * s
                sm += mn * t
                j += 1
            # the d part: sd
            h = int(w[p]) | (int(w[p + 1]) << 8)
            e = (h >> 10) & 31
            m = h & 1023
            if e:
                m |= 1024
            else:
                e = 1
            if h & 0x8000:
                m = 0 - m
            k = ed - e + 6  # sd's part is summed 2**6 coarser (kernels_py.matvec_q4_K)
            s = sd
            if k <= 24:
                rr = 0
                if k > 13:
                    rr = (((s >> (k - 13)) & 8191) * m) >> 13
                    s >>= k
                elif k > 0:
                    rr = ((s & ((1 << k) - 1)) * m) >> k
                    s >>= k
                lo = lo + (s & 8191) * m + rr
                hi += (s >> 13) * m + (lo >> 13)
                lo &= 8191
            # the min part: -sm
            h = int(w[p + 2]) | (int(w[p + 3]) << 8)
            e = (h >> 10) & 31
            m = h & 1023
            if e:
                m |= 1024
            else:
                e = 1
            if h & 0x8000:
                m = 0 - m
            k = em - e
            s = 0 - sm
            if k <= 24:
                rr = 0
                if k > 13:
                    rr = (((s >> (k - 13)) & 8191) * m) >> 13
                    s >>= k
                elif k > 0:
                    rr = ((s & ((1 << k) - 1)) * m) >> k
                    s >>= k
                lo2 = lo2 + (s & 8191) * m + rr
                hi2 += (s >> 13) * m + (lo2 >> 13)
                lo2 &= 8191
            p += 144
            b += 1
        rs = 19 - ed - shx
        if rs >= 13:
            v = hi >> (rs - 13)
        elif rs >= 0:
            v = (hi << (13 - rs)) + (lo >> rs)
        else:
            v = (hi << (13 - rs)) + (lo << (0 - rs))
        rs = 25 - em - shx
        if rs >= 13:
            v += hi2 >> (rs - 13)
        elif rs >= 0:
            v += (hi2 << (13 - rs)) + (lo2 >> rs)
        else:
            v += (hi2 << (13 - rs)) + (lo2 << (0 - rs))
        out[out0 + r] = v
        r += 1


@micropython.viper
def _dequant_q4_K(w: ptr8, off: int, n_cols: int, out: ptr32):
    # kernels_py._dequant_row_q4_K
    nb = n_cols >> 8
    b = 0
    while b < nb:
        p = off + b * 144
        h = int(w[p]) | (int(w[p + 1]) << 8)
        sd = (h >> 10) & 31
        md = h & 1023
        if sd:
            md |= 1024
        else:
            sd = 1
        if h & 0x8000:
            md = 0 - md
        sd -= 9
        h = int(w[p + 2]) | (int(w[p + 3]) << 8)
        sm = (h >> 10) & 31
        mm = h & 1023
        if sm:
            mm |= 1024
        else:
            sm = 1
        if h & 0x8000:
            mm = 0 - mm
        sm -= 9
        j = 0
        while j < 8:
            if j < 4:
                sc = int(w[p + 4 + j]) & 63
                mn = int(w[p + 8 + j]) & 63
            else:
                c = int(w[p + 8 + j])
                sc = (c & 15) | ((int(w[p + j]) >> 6) << 4)
                mn = (c >> 4) | ((int(w[p + 4 + j]) >> 6) << 4)
            dj = sc * md
            mv = mn * mm
            if sm >= 0:
                mv = mv << sm
            else:
                mv = mv >> (0 - sm)
            q = p + 16 + 32 * (j >> 1)
            sh = 4 * (j & 1)
            o = (b << 8) + 32 * j
            i = 0
            while i < 32:
                v = ((int(w[q + i]) >> sh) & 15) * dj
                if sd >= 0:
                    v = v << sd
                else:
                    v = v >> (0 - sd)
                out[o + i] = v - mv
                i += 1
            j += 1
        b += 1


def dequant_row_q(w, wtype, off, n_cols, out):
    # dispatched from Python: a viper function handing a pointer to another would box it
    # (a heap int on a 32-bit board)
    if wtype == 12:
        _dequant_q4_K(w, off, n_cols, out)
    elif wtype < 2:
        _float_q16(w, wtype, off, n_cols, out)
    else:
        _dequant_blocks32(w, wtype, off, n_cols, out)


@micropython.viper
def _float_q16(w: ptr8, wtype: int, off: int, n: int, out: ptr32):
    # f32 (wtype 0) or f16 (1) numbers into Q16, rounded half away from zero (kernels_py)
    j = 0
    while j < n:
        if wtype == 0:
            p = off + 4 * j
            b3 = int(w[p + 3])
            b2 = int(w[p + 2])
            sign = b3 >> 7
            e = ((b3 & 0x7F) << 1) | (b2 >> 7)
            man = ((b2 & 0x7F) << 16) | (int(w[p + 1]) << 8) | int(w[p])
            bias = 134
            implicit = 0x800000
        else:
            h = int(w[off + 2 * j]) | (int(w[off + 2 * j + 1]) << 8)
            sign = h >> 15
            e = (h >> 10) & 31
            man = h & 1023
            bias = 9
            implicit = 1024
        if e:
            man |= implicit
        else:
            e = 1
        s = e - bias
        if s >= 0:
            v = man << s
        elif s > -25:
            v = (man + (1 << (-1 - s))) >> (0 - s)
        else:
            v = 0
        if sign:
            v = 0 - v
        out[j] = v
        j += 1


@micropython.viper
def _dequant_blocks32(w: ptr8, wtype: int, off: int, n_cols: int, out: ptr32):
    # q8_0, q4_0, q4_1
    nb = n_cols >> 5
    b = 0
    while b < nb:
        xo = b << 5
        if wtype == 8:
            p = off + b * 34
        elif wtype == 2:
            p = off + b * 18
        else:
            p = off + b * 20
        h = int(w[p]) | (int(w[p + 1]) << 8)
        e = (h >> 10) & 31
        m = h & 1023
        if e:
            m |= 1024
        else:
            e = 1
        if h & 0x8000:
            m = 0 - m
        s = e - 9
        if wtype == 3:
            h = int(w[p + 2]) | (int(w[p + 3]) << 8)
            e2 = (h >> 10) & 31
            mm = h & 1023
            if e2:
                mm |= 1024
            else:
                e2 = 1
            if h & 0x8000:
                mm = 0 - mm
            s2 = e2 - 9
            if s2 >= 0:
                mv = mm << s2
            else:
                mv = mm >> (0 - s2)
        j = 0
        while j < 32:
            if wtype == 8:
                v = ((int(w[p + 2 + j]) ^ 0x80) - 0x80) * m
            elif wtype == 2:
                c = int(w[p + 2 + (j & 15)])
                if j < 16:
                    v = ((c & 15) - 8) * m
                else:
                    v = ((c >> 4) - 8) * m
            else:
                c = int(w[p + 4 + (j & 15)])
                if j < 16:
                    v = (c & 15) * m
                else:
                    v = (c >> 4) * m
            if s >= 0:
                v = v << s
            else:
                v = v >> (0 - s)
            if wtype == 3:
                v += mv
            out[xo + j] = v
            j += 1
        b += 1


@micropython.viper
def add_q(dst: ptr32, src: ptr32, n: int):
    d16 = ptr16(dst)
    s16 = ptr16(src)
    i = 0
    while i < n:
        a = (((int(d16[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(d16[2 * i])
        c = (((int(s16[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(s16[2 * i])
        dst[i] = a + c
        i += 1


@micropython.viper
def _isqrt(v: int) -> int:
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


def isqrt(v):
    """floor(sqrt(v)) for 0 <= v < 2**30 (kernels_py.isqrt)."""
    return _isqrt(v)


@micropython.viper
def layernorm_q(x: ptr16, n: int, g: ptr16, bb: ptr16, out: ptr32, eps_q32: int):
    s_hi = 0
    s_lo = 0
    i = 0
    while i < n:
        v = (((int(x[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(x[2 * i])
        s_hi += v >> 12
        s_lo += v & 4095
        i += 1
    q1 = s_hi // n
    mean = q1 * 4096 + ((s_hi - q1 * n) * 4096 + s_lo) // n
    m = 0
    i = 0
    while i < n:
        v = ((((int(x[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(x[2 * i])) - mean
        if v < 0:
            v = -v
        if v > m:
            m = v
        i += 1
    if m == 0:
        i = 0
        while i < n:
            out[i] = (((int(bb[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(bb[2 * i])
            i += 1
        return
    bl = 0
    while m:
        m >>= 1
        bl += 1
    sh = bl - 14
    if sh < -5:
        sh = -5
    ss = 0
    i = 0
    while i < n:
        v = ((((int(x[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(x[2 * i])) - mean
        if sh >= 0:
            v = v >> sh
        else:
            v = v << (0 - sh)
        ss += (v * v) >> 10
        i += 1
    var = ss // n
    eps = eps_q32 >> (10 + 2 * sh)
    # integer square root of (var + eps) scaled by 4**e into [2**28, 2**30)
    v = var + eps
    ee = 0
    while v >> 30:
        v >>= 2
        ee -= 1
    while v < (1 << 28):
        v <<= 2
        ee += 1
    sd = 0
    bit = 1 << 28  # the largest power of four below 2**30 (a small int on 32-bit ports too)
    while bit > v:
        bit >>= 2
    while bit:
        if v >= sd + bit:
            v -= sd + bit
            sd = (sd >> 1) + bit
        else:
            sd >>= 1
        bit >>= 2
    bl = 0
    t = sd
    while t:
        t >>= 1
        bl += 1
    inv = (1 << (15 + bl)) // sd
    nsh = 6 + bl - ee
    i = 0
    while i < n:
        v = ((((int(x[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(x[2 * i])) - mean
        if sh >= 0:
            v = v >> sh
        else:
            v = v << (0 - sh)
        z = (v * inv) >> nsh
        gi = (((int(g[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(g[2 * i])
        bi = (((int(bb[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(bb[2 * i])
        out[i] = ((z * (gi >> 10)) >> 4) + ((z * (gi & 1023)) >> 14) + bi
        i += 1


@micropython.viper
def _gelu(buf: ptr32, n: int, t: ptr16):
    b16 = ptr16(buf)
    i = 0
    while i < n:
        v = (((int(b16[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(b16[2 * i])
        if v < 524288:
            if v < -524288:
                buf[i] = 0
            else:
                u = v + 524288
                k = u >> 11
                f = u & 2047
                a = (((int(t[2 * k + 1]) ^ 0x8000) - 0x8000) << 16) | int(t[2 * k])
                c = (((int(t[2 * k + 3]) ^ 0x8000) - 0x8000) << 16) | int(t[2 * k + 2])
                buf[i] = a + (((c - a) * f) >> 11)
        i += 1


def gelu_q(buf, n):
    _gelu(buf, n, _GELU)


@micropython.viper
def kv_store(src: ptr16, off: int, n: int, dst: ptr8, doff: int, sc: ptr8, si: int):
    m = 0
    i = off
    end = off + n
    while i < end:
        v = (((int(src[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(src[2 * i])
        if v < 0:
            v = -v
        if v > m:
            m = v
        i += 1
    t = (m + 126) // 127
    if t == 0:
        t = 1
    bl = 0
    u = t
    while u:
        u >>= 1
        bl += 1
    es = bl - 8
    if es > 0:
        ms = (t + (1 << es) - 1) >> es
        if ms == 256:
            ms = 128
            es += 1
    else:
        ms = t << (0 - es)
    inv = (1 << 22) // ms
    i = 0
    while i < n:
        j = off + i
        v = (((int(src[2 * j + 1]) ^ 0x8000) - 0x8000) << 16) | int(src[2 * j])
        if es >= 0:
            v = v >> es
        else:
            v = v << (0 - es)
        k = (v * inv + (1 << 21)) >> 22
        if k > 127:
            k = 127
        elif k < -127:
            k = -127
        dst[doff + i] = k & 255
        i += 1
    sc[2 * si] = ms
    sc[2 * si + 1] = es & 255


@micropython.viper
def _attend(qv: ptr16, qo: int, hd: int, kc: ptr8, ks: ptr8, vc: ptr8, vs: ptr8, n_pos: int,
            stride: int, ho: int, n_head: int, h: int, c_isq: int, scores: ptr32, q16: ptr16,
            out: ptr32, sq: int, e2t: ptr16):
    s16 = ptr16(scores)
    smax = 0
    t = 0
    while t < n_pos:
        ko = t * stride + ho
        dot = 0
        j = 0
        while j < hd:
            dot += ((int(q16[j]) ^ 0x8000) - 0x8000) * ((int(kc[ko + j]) ^ 0x80) - 0x80)
            j += 1
        si = 2 * (t * n_head + h)
        c = (c_isq * int(ks[si])) >> 8
        e = (int(ks[si + 1]) ^ 0x80) - 0x80
        t1 = (dot >> 15) * c + (((dot & 32767) * c) >> 15)
        r = 12 - sq - e
        if r >= 0:
            s = t1 >> r
        else:
            s = t1 << (0 - r)
        scores[t] = s
        if t == 0 or s > smax:
            smax = s
        t += 1
    total = 0
    t = 0
    while t < n_pos:
        s = (((int(s16[2 * t + 1]) ^ 0x8000) - 0x8000) << 16) | int(s16[2 * t])
        u = smax - s
        p = 0
        if u < 131072:  # 32 << 12
            e2 = (u * 11819) >> 13
            ip = e2 >> 12
            if ip < 17:
                f = e2 & 4095
                i = f >> 4
                a = (int(e2t[2 * i + 1]) << 16) | int(e2t[2 * i])
                b = (int(e2t[2 * i + 3]) << 16) | int(e2t[2 * i + 2])
                p = (a - (((a - b) * (f & 15)) >> 4)) >> ip
        scores[t] = p
        total += p
        t += 1
    if total < 65536:
        # only reachable when scores overflowed 32 bits (inputs far outside Q16's range):
        # give zeros rather than divide by zero
        j = 0
        while j < hd:
            out[ho + j] = 0
            j += 1
        return
    bl = 0
    u = total
    while u:
        u >>= 1
        bl += 1
    inv = (1 << 29) // (total >> (bl - 16))
    wsh = bl - 1
    emax = -128
    t = 0
    while t < n_pos:
        e = (int(vs[2 * (t * n_head + h) + 1]) ^ 0x80) - 0x80
        if e > emax:
            emax = e
        t += 1
    j = 0
    while j < hd:
        out[ho + j] = 0
        j += 1
    o16 = ptr16(out)
    t = 0
    while t < n_pos:
        si = 2 * (t * n_head + h)
        p = (int(s16[2 * t + 1]) << 16) | int(s16[2 * t])  # non-negative here
        wt = (((p * inv) >> wsh) * int(vs[si])) >> 8
        ds = emax - ((int(vs[si + 1]) ^ 0x80) - 0x80)
        vo = t * stride + ho
        j = 0
        while j < hd:
            o = ho + j
            cur = (((int(o16[2 * o + 1]) ^ 0x8000) - 0x8000) << 16) | int(o16[2 * o])
            out[o] = cur + ((wt * ((int(vc[vo + j]) ^ 0x80) - 0x80)) >> ds)
            j += 1
        t += 1
    osh = 6 - emax
    j = 0
    while j < hd:
        o = ho + j
        cur = (((int(o16[2 * o + 1]) ^ 0x8000) - 0x8000) << 16) | int(o16[2 * o])
        if osh >= 0:
            out[o] = cur >> osh
        else:
            out[o] = cur << (0 - osh)
        j += 1


def attend_head(qv, qo, hd, kc, ks, vc, vs, n_pos, stride, ho, n_head, h, c_isq, scores, q16, out):
    sq = to_x16(qv, qo, hd, q16)
    _attend(qv, qo, hd, kc, ks, vc, vs, n_pos, stride, ho, n_head, h, c_isq, scores, q16, out, sq, _EXP2)


# ---------------------------------------------------------------- choosing the next token
# (sampling.py's scans over the vocabulary; logits are read as two 16-bit halves, weights
# are below 2**30 and read whole)

@micropython.viper
def argmax_q(lg: ptr32, n: int) -> int:
    g = ptr16(lg)
    best = 0
    bv = (((int(g[1]) ^ 0x8000) - 0x8000) << 16) | int(g[0])
    i = 1
    while i < n:
        v = (((int(g[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(g[2 * i])
        if v > bv:
            bv = v
            best = i
        i += 1
    return best


@micropython.viper
def top_k_q(lg: ptr32, n: int, k: int, top: ptr32) -> int:
    g = ptr16(lg)
    cnt = 0
    tv = 0
    i = 0
    while i < n:
        v = (((int(g[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(g[2 * i])
        j = -1
        if cnt < k:
            j = cnt
            cnt += 1
        elif v > tv:
            j = k - 1
        if j >= 0:
            while j > 0:
                t = int(top[j - 1])
                if ((((int(g[2 * t + 1]) ^ 0x8000) - 0x8000) << 16) | int(g[2 * t])) >= v:
                    break
                top[j] = t
                j -= 1
            top[j] = i
            if cnt == k:
                t = int(top[k - 1])
                tv = (((int(g[2 * t + 1]) ^ 0x8000) - 0x8000) << 16) | int(g[2 * t])
        i += 1
    return cnt


@micropython.viper
def _weights(lg: ptr32, n: int, bv: int, inv_t_q10: int, cutoff: int, p_shift: int, p: ptr32,
             e2t: ptr16) -> int:
    g = ptr16(lg)
    total = 0
    i = 0
    while i < n:
        d = bv - ((((int(g[2 * i + 1]) ^ 0x8000) - 0x8000) << 16) | int(g[2 * i]))
        w = 0
        if d < cutoff:
            e2 = ((((d >> 4) * inv_t_q10) >> 10) * 11819) >> 13
            ip = e2 >> 12
            if ip < 17:
                f = e2 & 4095
                j = f >> 4
                a = (int(e2t[2 * j + 1]) << 16) | int(e2t[2 * j])
                b = (int(e2t[2 * j + 3]) << 16) | int(e2t[2 * j + 2])
                w = ((a - (((a - b) * (f & 15)) >> 4)) >> ip) >> p_shift
        p[i] = w
        total += w
        i += 1
    return total


def weights_q(lg, n, bv, inv_t_q10, cutoff, p_shift, p):
    return _weights(lg, n, bv, inv_t_q10, cutoff, p_shift, p, _EXP2)


@micropython.viper
def top_p_q(p: ptr32, n: int, want: int, hi: int) -> int:
    lo = 1
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        mass = 0
        i = 0
        while i < n:
            w = int(p[i])
            if w >= mid:
                mass += w
            i += 1
        if mass >= want:
            lo = mid
        else:
            hi = mid - 1
    total = 0
    i = 0
    while i < n:
        w = int(p[i])
        if w < lo:
            p[i] = 0
        else:
            total += w
        i += 1
    return total


@micropython.viper
def draw_q(p: ptr32, n: int, r: int) -> int:
    i = 0
    while i < n:
        r -= int(p[i])
        if r < 0:
            return i
        i += 1
    return -1
