# Every kernel of nanollm_native against nanollm.kernels_py on seeded random inputs and
# edge cases, then bad arguments.
#   micropython native_cases.py      (nanollm_native on MICROPYPATH, or built into the port)
# Prints one "RESULT name cases failures" line per kernel and "BADARGS cases failures".
# Run by tests/test_native.py (the dynamic .mpy module) and tests/test_firmware.py (the
# module built into the 1.25 unix firmware).
# Runs on emulated boards with small heaps too, so it frees what each section
# made before the next (a 190 KB heap holds the runtime and the largest case).
import gc
import sys
from array import array

from nanollm import kernels_py as P
import nanollm_native as N

_s = [0x2545F49]


def _step():
    # a 30-bit xorshift: the same numbers on every run and every port, and every
    # intermediate a small int on a 32-bit port (big ints would litter a board's heap with
    # garbage and fragment it)
    x = _s[0]
    x ^= (x & 0x1FFFF) << 13
    x ^= x >> 17
    x ^= (x & 0x1FFFFFF) << 5
    _s[0] = x
    return x


def rnd(bits):
    if bits <= 30:
        return _step() & ((1 << bits) - 1)
    return (rnd(bits - 15) << 15) | rnd(15)  # a big int only where the value needs one


def srnd(bits):
    # -2**bits .. 2**bits - 1
    v = rnd(bits)
    return v if rnd(1) else -v - 1


def q16_vec(n, bits):
    return array("i", [srnd(bits) for _ in range(n)])


results = {}
DEBUG = 'debug' in sys.argv


def check(name, a, b, what=""):
    r = results.setdefault(name, [0, 0])
    r[0] += 1
    if a != b:
        r[1] += 1
        if r[1] <= 3:
            print("MISMATCH", name, what, list(a)[:8] if hasattr(a, "__len__") else a,
                  list(b)[:8] if hasattr(b, "__len__") else b)


def f16(e, man, neg):
    return (0x8000 if neg else 0) | (e << 10) | man


def rand_scale(mode):
    if mode == 0:  # typical: values around 2**-10 .. 2**-4
        e = 5 + rnd(4)
    elif mode == 1:  # zero or subnormal
        e = 0
    elif mode == 2:  # huge
        e = 29 + rnd(1)
    else:
        e = rnd(5) % 31
    man = rnd(10) if mode != 1 or rnd(1) else 0
    return f16(e, man, rnd(1))


def rand_weights(wtype, n_rows, n_cols, mode, extreme=False):
    nb = n_cols >> 5
    bs = {8: 34, 2: 18, 3: 20}[wtype]
    w = bytearray(n_rows * nb * bs)
    for r in range(n_rows):
        for b in range(nb):
            p = (r * nb + b) * bs
            h = rand_scale(mode if rnd(2) else 0)
            w[p] = h & 255
            w[p + 1] = h >> 8
            q0 = p + 2
            if wtype == 3:
                m = rand_scale(mode if rnd(2) else 0)
                w[p + 2] = m & 255
                w[p + 3] = m >> 8
                q0 = p + 4
            for j in range(q0, p + bs):
                w[j] = (0x80 if rnd(1) else 0x7F) if extreme else rnd(8)
    return w


def x16_for(n, bits):
    src = q16_vec(n, bits)
    x = array("h", bytes(2 * n))
    sh = P.to_x16(src, 0, n, x)
    return x, sh


# ---- to_x16
for n, bits in ((1, 0), (5, 3), (33, 12), (64, 13), (70, 20), (768, 24), (100, 30)):
    for off in (0, 3):
        src = q16_vec(n + off, bits)
        a = array("h", bytes(2 * n))
        b = array("h", bytes(2 * n))
        check("to_x16", P.to_x16(src, off, n, a), N.to_x16(src, off, n, b), "sh")
        check("to_x16", a, b, (n, bits))
for special in ([0, 0, 0], [-(1 << 31), 5], [(1 << 31) - 1, -7], [1], [-1, 8191, -8192],
                [8192, 3], [(1 << 30) + (1 << 29), -(1 << 30)]):
    src = array("i", special)
    n = len(special)
    a = array("h", bytes(2 * n))
    b = array("h", bytes(2 * n))
    check("to_x16", P.to_x16(src, 0, n, a), N.to_x16(src, 0, n, b), special)
    check("to_x16", a, b, special)

gc.collect()

# ---- matvec, at every SIMD level the module has (x64: 0 plain C, 1 SSE2, 2 AVX2; elsewhere 0)
MV = {8: ("matvec_q8_0", P.matvec_q8_0, N.matvec_q8_0),
      2: ("matvec_q4_0", P.matvec_q4_0, N.matvec_q4_0),
      3: ("matvec_q4_1", P.matvec_q4_1, N.matvec_q4_1)}
BEST = N.simd_level() if hasattr(N, "simd_level") else 0  # at import: the best this CPU has
simd = {}  # (level, kernel) -> [cases, failures]


def edge_weights(wtype, n_rows, n_cols, q, exps):
    # every quant q, the scales cycling through the exponents exps (mantissa 1023, both signs):
    # the row's largest exponent and every distance from it the kernels treat apart
    nb = n_cols >> 5
    bs = {8: 34, 2: 18, 3: 20}[wtype]
    w = bytearray(bytes([q]) * (n_rows * nb * bs))
    for i in range(n_rows * nb):
        for o in ((0, 2) if wtype == 3 else (0,)):
            h = f16(exps[(i + o) % len(exps)], 1023, (i >> 1) & 1)
            w[i * bs + o] = h & 255
            w[i * bs + o + 1] = h >> 8
    return w


def matvec_cases():
    for wtype in (8, 2, 3):
        # random blocks: 1..96 blocks per row, a multiple of eight blocks or not (the SIMD
        # kernels take eight at a time and the rest one by one)
        for n_rows, n_cols, mode, xbits, extreme in (
                (1, 32, 0, 18, False), (3, 64, 0, 20, False), (7, 96, 3, 16, False),
                (4, 70, 0, 18, False),  # n_cols not a multiple of 32: the tail is ignored
                (5, 128, 1, 18, False), (3, 64, 2, 4, False), (2, 256, 0, 30, True),
                (3, 288, 3, 20, False), (2, 544, 1, 22, False),
                (16, 768, 0, 22, False), (2, 3072, 0, 24, True), (4, 64, 3, 0, False)):
            yield wtype, rand_weights(wtype, n_rows, n_cols, mode, extreme), n_rows, n_cols, xbits, None
        # edges: the largest inputs (|x| = 2**13, and 2**15 past the spec's bound, where a
        # 16-bit multiply-add would saturate if it could) against the extreme quants, with
        # block exponents 0 (subnormal), 31 (inf/NaN bits) and 13, 14, 24, 25 below the
        # row's largest (where _acc_block changes how it rounds)
        for q in ((0x80, 0x7F) if wtype == 8 else (0x00, 0xFF, 0x0F)):
            for xv in (8192, -8192, -32768, 32767):
                for exps in ((30, 17, 16, 6, 5, 0, 30, 1), (31, 18, 17, 7, 6, 1, 5, 31), (20, 20, 7, 20, 19, 6)):
                    yield wtype, edge_weights(wtype, 3, 9 * 32, q, exps), 3, 9 * 32, xv, exps
        # a row wider than the AVX2 q4 kernels' per-call table of block sums (2048 blocks):
        # they hand it to plain C (where the heap has room for it)
        gc.collect()
        if gc.mem_free() > 1500000:
            yield wtype, rand_weights(wtype, 1, 2049 * 32, 0), 1, 2049 * 32, 16, None


def run_matvec(level):
    for wtype, w, n_rows, n_cols, xbits, exps in matvec_cases():
        name, pf, nf = MV[wtype]
        if exps is None:
            x, shx = x16_for(max(n_cols, 32), xbits)
            shxs = (shx,)
        else:  # a constant input, and shifts that put the result's binary point everywhere
            x = array("h", [xbits] * n_cols)
            shxs = (-40, -8, 0, 6, 13, 40)
        for shx in shxs:
            a = array("i", bytes(4 * (n_rows + 2)))
            b = array("i", bytes(4 * (n_rows + 2)))
            try:
                pf(w, n_rows, n_cols, x, shx, a, 1)
            except OverflowError:  # the reference itself does not fit: not a valid case
                continue
            nf(w, n_rows, n_cols, x, shx, b, 1)
            check(name, a, b, (level, n_rows, n_cols, exps, shx))
            r = simd.setdefault((level, name), [0, 0])
            r[0] += 1
            r[1] += a != b
        w = x = a = b = None  # this case's buffers go before the next is made
        gc.collect()


for level in range(BEST + 1):
    if BEST:
        N.simd_level(level)
    run_matvec(level)
if BEST:
    N.simd_level(BEST)
for level, name in sorted(simd):
    print("SIMD", level, name, simd[(level, name)][0], simd[(level, name)][1])

gc.collect()

# ---- dequant_row_q
for wtype in (8, 2, 3):
    for n_cols, mode in ((32, 0), (96, 1), (64, 3), (70, 0), (768, 0)):
        w = rand_weights(wtype, 2, n_cols, mode)
        off = len(w) // 2
        a = array("i", bytes(4 * n_cols))
        b = array("i", bytes(4 * n_cols))
        try:
            P.dequant_row_q(w, wtype, off, n_cols, a)
        except OverflowError:
            continue
        N.dequant_row_q(w, wtype, off, n_cols, b)
        check("dequant_row_q", a, b, (wtype, n_cols, mode))

gc.collect()

# ---- dequant_row_q of norm and bias vectors: f32 (0) and f16 (1) numbers into Q16, every
# exponent the integer path takes (|value| < 2**15), subnormals and zeros among them
for wtype in (0, 1):
    for n in (1, 33, 200):
        size = 4 if wtype == 0 else 2
        w = bytearray(size * (n + 1))
        for j in range(n + 1):
            if wtype == 0:
                e = rnd(8) % 142 if j % 3 == 0 else 100 + rnd(6) % 42
                man = rnd(23)
                w[4 * j:4 * j + 4] = bytes((man & 255, (man >> 8) & 255, ((man >> 16) & 127) | ((e & 1) << 7),
                                            (e >> 1) | (rnd(1) << 7)))
            else:
                h = rnd(10) | (rnd(1) << 15) | ((rnd(5) % 30) << 10)
                w[2 * j:2 * j + 2] = bytes((h & 255, h >> 8))
        a = array("i", bytes(4 * n))
        b = array("i", bytes(4 * n))
        P.dequant_row_q(w, wtype, size, n, a)
        N.dequant_row_q(w, wtype, size, n, b)
        check("dequant_row_q", a, b, (wtype, n))

gc.collect()

# ---- q4_K (ggml super-blocks of 256 in 144 bytes): matvec and dequant_row_q; no SIMD form,
# so one level
def rand_q4k(n_rows, n_cols, mode, extreme=False):
    w = bytearray(n_rows * (n_cols >> 8) * 144)
    for p in range(0, len(w), 144):
        for o in (0, 2):  # d, dmin
            h = rand_scale(mode if rnd(2) else 0)
            w[p + o] = h & 255
            w[p + o + 1] = h >> 8
        for j in range(p + 4, p + 144):  # 6-bit scales and mins, nibbles
            w[j] = (0xFF if j >= p + 16 or rnd(1) else 0x3F) if extreme else rnd(8)
    return w


for n_rows, n_cols, mode, xbits, extreme in ((1, 256, 0, 18, False), (3, 512, 0, 20, False),
                                             (2, 768, 1, 16, False), (4, 256, 3, 22, False),
                                             (2, 1024, 0, 24, True), (3, 256, 2, 4, False),
                                             (2, 3072, 0, 22, False), (1, 300, 0, 18, False),
                                             (1, 4352, 0, 20, False)):  # past the C kernel's input-sum table
    w = rand_q4k(n_rows, n_cols, mode, extreme)
    x, shx = x16_for(n_cols, xbits)
    for s in (shx, shx - 9, shx + 7):
        a = array("i", bytes(4 * (n_rows + 2)))
        b = array("i", bytes(4 * (n_rows + 2)))
        try:
            P.matvec_q4_K(w, n_rows, n_cols, x, s, a, 1)
        except OverflowError:
            continue
        if n_cols & 255:  # the native module takes whole super-blocks only
            try:
                N.matvec_q4_K(w, n_rows, n_cols, x, s, b, 1)
                check("matvec_q4_K", 0, 1, "n_cols %d accepted" % n_cols)
            except ValueError:
                check("matvec_q4_K", 0, 0)
            break
        N.matvec_q4_K(w, n_rows, n_cols, x, s, b, 1)
        check("matvec_q4_K", a, b, (n_rows, n_cols, mode, s))
    if not n_cols & 255 and mode != 2:
        a = array("i", bytes(4 * n_cols))
        b = array("i", bytes(4 * n_cols))
        off = len(w) - (n_cols >> 8) * 144
        try:
            P.dequant_row_q(w, 12, off, n_cols, a)
        except OverflowError:
            continue
        N.dequant_row_q(w, 12, off, n_cols, b)
        check("dequant_row_q", a, b, (12, n_cols, mode))
    w = x = a = b = None
    gc.collect()

gc.collect()

# ---- add_q
for n in (0, 1, 17, 768):
    d1 = q16_vec(n + 3, 28)
    d2 = array("i", d1)
    s = q16_vec(n + 3, 28)
    P.add_q(d1, s, n)
    N.add_q(d2, s, n)
    check("add_q", d1, d2, n)

# ---- isqrt
# the domain is 0 <= v < 2**30 (kernels_py.isqrt)
for v in [0, 1, 2, 3, 4, 15, 16, 17, (1 << 30) - 1] + [rnd(30) for _ in range(50)]:
    check("isqrt", P.isqrt(v), N.isqrt(v), v)

gc.collect()

# ---- gelu_q
for bits in (10, 16, 19, 20, 24):
    buf = q16_vec(300, bits)
    buf2 = array("i", buf)
    P.gelu_q(buf, 300)
    N.gelu_q(buf2, 300)
    check("gelu_q", buf, buf2, bits)
edge = array("i", [524288, 524287, -524288, -524289, 0, -1, 1, (1 << 31) - 1, -(1 << 31)])
edge2 = array("i", edge)
P.gelu_q(edge, len(edge))
N.gelu_q(edge2, len(edge2))
check("gelu_q", edge, edge2, "edges")

gc.collect()

# ---- layernorm_q
for n, bits, eps in ((1, 16, 42950), (5, 3, 42950), (64, 16, 42950), (768, 20, 42950),
                     (768, 26, 4295), (100, 0, 42950), (33, 8, 429497), (768, 12, 0)):
    x = q16_vec(n, bits)
    g = array("i", [(1 << 16) + srnd(15) for _ in range(n)])
    bb = q16_vec(n, 14)
    a = array("i", bytes(4 * n))
    b = array("i", bytes(4 * n))
    P.layernorm_q(x, n, g, bb, a, eps)
    N.layernorm_q(x, n, g, bb, b, eps)
    check("layernorm_q", a, b, (n, bits))
x = array("i", [12345] * 50)  # constant input: output is b
g = array("i", [1 << 16] * 50)
bb = q16_vec(50, 10)
a = array("i", bytes(200))
b = array("i", bytes(200))
P.layernorm_q(x, 50, g, bb, a, 42950)
N.layernorm_q(x, 50, g, bb, b, 42950)
check("layernorm_q", a, b, "constant")

gc.collect()

# ---- kv_store
for n, bits in ((1, 0), (64, 16), (64, 24), (64, 30), (33, 5), (64, 31)):
    src = q16_vec(n + 2, bits)
    d1 = bytearray(n + 5)
    d2 = bytearray(n + 5)
    s1 = bytearray(8)
    s2 = bytearray(8)
    P.kv_store(src, 2, n, d1, 3, s1, 2)
    N.kv_store(src, 2, n, d2, 3, s2, 2)
    check("kv_store", d1, d2, (n, bits))
    check("kv_store", s1, s2, (n, bits))
src = array("i", [0] * 8)
d1 = bytearray(8)
d2 = bytearray(8)
s1 = bytearray(2)
s2 = bytearray(2)
P.kv_store(src, 0, 8, d1, 0, s1, 0)
N.kv_store(src, 0, 8, d2, 0, s2, 0)
check("kv_store", d1 + s1, d2 + s2, "zeros")

gc.collect()

# ---- attend_head (caches filled by kv_store, as the model does)
# GPT-2 117M's heads (12 x 64) over 40 positions where the heap allows (two 30 KB caches),
# over 12 on a small board's heap
gc.collect()
_long = 40 if gc.mem_free() > 400000 else 12
for n_head, hd, n_pos, bits in ((1, 8, 1, 16), (2, 16, 5, 18), (4, 64, 12, 20), (12, 64, _long, 22),
                                (2, 32, 9, 21), (3, 16, 7, 12)):
    d = n_head * hd
    T = n_pos
    kc = vc = None  # the previous case's caches go before this one's are made
    gc.collect()
    kc = bytearray(T * d)
    vc = bytearray(T * d)
    ks = bytearray(2 * T * n_head)
    vs = bytearray(2 * T * n_head)
    for t in range(T):
        k = q16_vec(d, bits - rnd(3))
        v = q16_vec(d, bits - rnd(3))
        for h in range(n_head):
            P.kv_store(k, h * hd, hd, kc, t * d + h * hd, ks, t * n_head + h)
            P.kv_store(v, h * hd, hd, vc, t * d + h * hd, vs, t * n_head + h)
    qv = q16_vec(d, bits)
    c_isq = int(32768 / hd ** 0.5)
    for h in range(n_head):
        o1 = array("i", bytes(4 * d))
        o2 = array("i", bytes(4 * d))
        if DEBUG: print("case", n_head, hd, n_pos, bits, h)
        P.attend_head(qv, h * hd, hd, kc, ks, vc, vs, n_pos, d, h * hd, n_head, h, c_isq,
                      array("i", bytes(4 * T)), array("h", bytes(2 * hd)), o1)
        N.attend_head(qv, h * hd, hd, kc, ks, vc, vs, n_pos, d, h * hd, n_head, h, c_isq,
                      array("i", bytes(4 * T)), array("h", bytes(2 * hd)), o2)
        check("attend_head", o1, o2, (n_head, hd, n_pos, h))

gc.collect()

# ---- the sampler's scans: logits spread out, tied, equal, at the int32 ends
for n, bits, tie in ((1, 10, 1), (9, 20, 1), (600, 21, 1), (600, 2, 1 << 16), (300, 0, 1), (50, 31, 1)):
    lg = array("i", [srnd(bits) * tie if bits < 31 else (-(1 << 31), (1 << 31) - 1, 0)[rnd(2) % 3]
                     for _ in range(n)])
    check("argmax_q", P.argmax_q(lg, n), N.argmax_q(lg, n), (n, bits))
    for k in (1, 3, 40, min(n + 2, 64)):
        t1 = array("i", bytes(4 * k))
        t2 = array("i", bytes(4 * k))
        check("top_k_q", P.top_k_q(lg, n, k, t1), N.top_k_q(lg, n, k, t2), (n, k))
        check("top_k_q", t1, t2, (n, k))
    if bits == 31:
        continue  # gaps past 2**31: outside what weights_q takes (bv is the largest logit)
    bv = lg[P.argmax_q(lg, n)]
    for inv_t, cutoff, psh in ((20480, 131072, 0), (1280, 1677721, 0), (512, 5242880, 2), (1, 1, 0)):
        p1 = array("i", bytes(4 * n))
        p2 = array("i", bytes(4 * n))
        check("weights_q", P.weights_q(lg, n, bv, inv_t, cutoff, psh, p1),
              N.weights_q(lg, n, bv, inv_t, cutoff, psh, p2), (n, inv_t))
        check("weights_q", p1, p2, (n, inv_t))
        total = sum(p1)
        hi = max(p1)
        for want in (total, total * 9 // 10, total // 4, 1, 0):
            q1 = array("i", p1)
            q2 = array("i", p1)
            check("top_p_q", P.top_p_q(q1, n, want, hi), N.top_p_q(q2, n, want, hi), (n, want))
            check("top_p_q", q1, q2, (n, want))
            kept = sum(q1)
            for r in (0, kept // 2, kept - 1, kept, -1):
                check("draw_q", P.draw_q(q1, n, r), N.draw_q(q1, n, r), (n, r))

for name in sorted(results):
    print("RESULT", name, results[name][0], results[name][1])
if hasattr(sys.stdout, "flush"):  # not on every port
    sys.stdout.flush()

gc.collect()

# ---- bad arguments: each must raise ValueError or TypeError (OverflowError for an integer that
# does not fit a 32-bit port's machine word), never crash or write past
i32 = array("i", bytes(4 * 64))
i16 = array("h", bytes(2 * 64))
wq8 = bytearray(34 * 2)
BAD = [
    (N.to_x16, (i32, 60, 10, i16)), (N.to_x16, (i32, 0, 65, i16)), (N.to_x16, (i16, 0, 4, i16)),
    (N.to_x16, (i32, 0, 4, i32)), (N.to_x16, (i32, -1, 4, i16)), (N.to_x16, (i32, 0, 4, b"ab")),
    (N.to_x16, (None, 0, 1, i16)), (N.to_x16, (i32, 0.5, 1, i16)), (N.to_x16, (i32, 1 << 40, 1, i16)),
    (N.matvec_q8_0, (wq8, 3, 32, i16, 0, i32, 0)), (N.matvec_q8_0, (wq8, 1, 96, i16, 0, i32, 0)),
    (N.matvec_q8_0, (wq8, 2, 32, i16, 0, i32, 63)), (N.matvec_q8_0, (wq8, 1, 32, i32, 0, i32, 0)),
    (N.matvec_q8_0, (wq8, 1, 32, i16, 0, i16, 0)), (N.matvec_q8_0, (i32, 1, 32, i16, 0, i32, 0)),
    (N.matvec_q8_0, (wq8, -1, 32, i16, 0, i32, 0)), (N.matvec_q8_0, (wq8, 1, 32, i16, 0, b"1234", 0)),
    (N.matvec_q8_0, (wq8, 1, 32, i16, 1000, i32, 0)),
    (N.matvec_q4_0, (bytearray(17), 1, 32, i16, 0, i32, 0)),
    (N.matvec_q4_1, (bytearray(19), 1, 32, i16, 0, i32, 0)),
    (N.matvec_q4_K, (bytearray(143), 1, 256, array("h", bytes(512)), 0, i32, 0)),
    (N.matvec_q4_K, (bytearray(144), 1, 32, i16, 0, i32, 0)),
    (N.matvec_q4_K, (bytearray(144), 1, 256, i16, 0, i32, 0)),
    (N.dequant_row_q, (bytearray(144), 12, 0, 32, i32)), (N.dequant_row_q, (bytearray(143), 12, 0, 256, array("i", bytes(1024)))),
    (N.dequant_row_q, (wq8, 8, 34, 64, i32)), (N.dequant_row_q, (wq8, 5, 0, 32, i32)),
    (N.dequant_row_q, (wq8, 8, 0, 64, array("i", bytes(4 * 40)))), (N.dequant_row_q, (bytearray(7), 0, 0, 2, i32)),
    (N.add_q, (i32, i32, 65)), (N.add_q, (i32, i16, 4)), (N.add_q, (b"x" * 256, i32, 4)),
    (N.gelu_q, (i32, 65)), (N.gelu_q, (i16, 4)),
    (N.layernorm_q, (i32, 0, i32, i32, i32, 1)), (N.layernorm_q, (i32, 65, i32, i32, i32, 1)),
    (N.layernorm_q, (i32, 8, i32, i32, array("i", [0] * 7), 1)),
    (N.kv_store, (i32, 0, 8, bytearray(7), 0, bytearray(2), 0)),
    (N.kv_store, (i32, 0, 8, bytearray(8), 0, bytearray(2), 1)),
    (N.kv_store, (i32, 60, 8, bytearray(8), 0, bytearray(2), 0)),
    (N.kv_store, (i32, 0, 8, b"12345678", 0, bytearray(2), 0)),
    (N.isqrt, (-1,)),
    (N.argmax_q, (i32, 0)), (N.argmax_q, (i32, 65)), (N.argmax_q, (i16, 4)),
    (N.top_k_q, (i32, 65, 3, i32)), (N.top_k_q, (i32, 8, 0, i32)), (N.top_k_q, (i32, 8, 3, array("i", [0] * 2))),
    (N.top_k_q, (i32, 8, 3, b"123456789abc")),
    (N.weights_q, (i32, 65, 0, 1, 1, 0, i32)), (N.weights_q, (i32, 8, 0, 1, 1, 0, array("i", [0] * 7))),
    (N.weights_q, (i32, 8, 0, 1, 1, 32, i32)), (N.weights_q, (i32, 8, 0, -1, 1, 0, i32)),
    (N.top_p_q, (i32, 65, 1, 1)), (N.top_p_q, (b"x" * 256, 4, 1, 1)),
    (N.draw_q, (i32, 65, 0)), (N.draw_q, (i16, 4, 0)),
]
kc = bytearray(4 * 16)
ks = bytearray(2 * 4)
good = [i32, 0, 16, kc, ks, kc, ks, 4, 16, 0, 1, 0, 8192, array("i", [0] * 4), array("h", [0] * 16),
        array("i", [0] * 16)]
for idx, val in ((7, 5), (2, 17), (11, 1), (10, 0), (3, bytearray(63)), (6, bytearray(7)),
                 (13, array("i", [0] * 3)), (14, array("h", [0] * 15)), (15, array("i", [0] * 15)),
                 (9, 1), (1, 60), (12, 1 << 24), (14, array("i", [0] * 16))):
    args = list(good)
    args[idx] = val
    BAD.append((N.attend_head, tuple(args)))
BAD.append((N.matvec_q8_0, (wq8, 1, 32, i16, 0, i32)))  # wrong argument count
fails = 0
for f, args in BAD:
    try:
        f(*args)
        fails += 1
        print("NO ERROR", args[:3])
    except (ValueError, TypeError, OverflowError) as e:  # OverflowError: an int past a 32-bit port's machine word
        if not str(e):
            fails += 1
            print("EMPTY MESSAGE", args[:3])
# the good attend_head call itself works
N.attend_head(*good)
print("BADARGS", len(BAD), fails)
