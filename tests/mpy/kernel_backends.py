# Every kernel backend against plain Python on the same seeded inputs (an LCG, so both
# interpreters draw the same numbers): matvec and dequant for q8_0/q4_0/q4_1/q4_K (ggml type ids
# 8, 2, 3, 12), to_x16, kv_store, gelu, add, layernorm and attention over edge-case shapes and ranges,
# and the sampler's scans (argmax, top-k, weights, top-p, draw).
#   micropython kernel_backends.py        (and the same file on CPython, lib/ on PYTHONPATH)
# Prints "AVAILABLE <backends>", one "CK <case> <length> <checksum of the plain result>" per
# case, a "MISMATCH ..." line for each backend that differs from plain Python, and last
# "CASES <n> MISMATCHES <n>".
# Run by tests/test_kernels.py: viper equals plain under MicroPython, and the checksums are
# the same on MicroPython and CPython.
from array import array

from nanollm import kernels, kernels_py

K = kernels.K
S = [20240611]


def rnd():
    S[0] = (S[0] * 1103515245 + 12345) & 0x7fffffff
    return S[0] >> 8


def vec(n, amp):
    return array('i', [rnd() % (2 * amp + 1) - amp for _ in range(n)])


def x16(n):
    return array('h', [rnd() % 16385 - 8192 for _ in range(n)])


def mat(n_rows, n_cols, bb, nsc, elo, ehi):
    """Random quantized rows of bb-byte blocks whose nsc fp16 scales have exponents elo..ehi."""
    w = bytearray(rnd() & 255 for _ in range(n_rows * (n_cols // 32) * bb))
    for p in range(0, len(w), bb):
        for o in range(nsc):
            h = (rnd() & 0x83ff) | ((elo + rnd() % (ehi - elo + 1)) << 10)
            w[p + 2 * o] = h & 255
            w[p + 2 * o + 1] = h >> 8
    return w


BB = {8: (34, 1), 2: (18, 1), 3: (20, 2)}  # type id -> (bytes per block, fp16 scales per block)
cases = []  # (name, function of the kernel table K -> list of result numbers)


def add(name, fn):
    cases.append((name, fn))


# matrix-vector products and row dequantization
for wt in (8, 2, 3):
    for (nr, nc, elo, ehi, shx) in ((3, 32, 0, 12, 0), (2, 96, 0, 12, 3), (1, 3072, 0, 10, -4),
                                   (4, 64, 0, 30, -12), (2, 256, 0, 0, 18)):
        bb, nsc = BB[wt]
        w = mat(nr, nc, bb, nsc, elo, ehi)
        x = x16(nc)

        def f(K, w=w, x=x, nr=nr, nc=nc, shx=shx, wt=wt):
            out = array('i', [0] * nr)
            K.matvec_q[wt](w, nr, nc, x, shx, out, 0)
            return list(out)
        add("matvec%d_%dx%d_e%d" % (wt, nr, nc, ehi), f)

        def g(K, w=w, nc=nc, wt=wt, bb=bb):
            out = array('i', [0] * nc)
            K.dequant_row_q(w, wt, 0, nc, out)
            return list(out)
        if ehi <= 12:
            add("dequant%d_%d" % (wt, nc), g)



def floats(n, wt):
    """n random f32 (wt 0) or f16 (wt 1) numbers as bytes, all within the integer path's range
    (|value| < 2**15): most near Q16's rounding step, some tiny, some subnormal."""
    w = bytearray(4 * n if wt == 0 else 2 * n)
    for j in range(n):
        if wt == 0:
            e = 100 + rnd() % 42 if j % 4 else rnd() % 142
            man = rnd() & 0x7FFFFF
            w[4 * j] = man & 255
            w[4 * j + 1] = (man >> 8) & 255
            w[4 * j + 2] = ((man >> 16) & 127) | ((e & 1) << 7)
            w[4 * j + 3] = (e >> 1) | ((rnd() & 1) << 7)
        else:
            h = (rnd() & 0x83ff) | ((rnd() % 30) << 10)
            w[2 * j] = h & 255
            w[2 * j + 1] = h >> 8
    return w


# norm and bias vectors (f32, f16) into Q16
for wt in (0, 1):
    for n, off in ((7, 0), (96, 2), (384, 8)):
        w = floats(n + off, wt)

        def g(K, w=w, n=n, wt=wt, off=off):
            out = array('i', [0] * n)
            K.dequant_row_q(w, wt, off * (4 if wt == 0 else 2), n, out)
            return list(out)
        add("dequant_f%d_%d" % (wt, n), g)

# q4_K (type id 12): super-blocks of 256 in 144 bytes, fp16 d and dmin at offsets 0 and 2
for (nr, nc, elo, ehi, shx) in ((2, 256, 0, 12, 0), (3, 512, 0, 12, 3), (1, 3072, 0, 10, -4),
                                (2, 512, 0, 30, -12), (2, 256, 0, 0, 18)):
    w = bytearray(rnd() & 255 for _ in range(nr * (nc // 256) * 144))
    for p in range(0, len(w), 144):
        for o in (0, 2):
            h = (rnd() & 0x83ff) | ((elo + rnd() % (ehi - elo + 1)) << 10)
            w[p + o] = h & 255
            w[p + o + 1] = h >> 8
    x = x16(nc)

    def f(K, w=w, x=x, nr=nr, nc=nc, shx=shx):
        out = array('i', [0] * nr)
        K.matvec_q[12](w, nr, nc, x, shx, out, 0)
        return list(out)
    add("matvec12_%dx%d_e%d" % (nr, nc, ehi), f)

    def g(K, w=w, nc=nc):
        out = array('i', [0] * nc)
        K.dequant_row_q(w, 12, len(w) - (nc // 256) * 144, nc, out)
        return list(out)
    if ehi <= 12:
        add("dequant12_%d" % nc, g)

# element-wise kernels
for n, amp in ((32, 1 << 16), (64, 1 << 30), (96, 3), (3072, 1 << 20), (64, 0)):
    v = vec(n, amp)

    def f(K, v=v, n=n):
        dst = array('h', [0] * n)
        sh = K.to_x16(v, 0, n, dst)
        return [sh] + list(dst)
    add("to_x16_%d_%d" % (n, amp), f)

    def k(K, v=v, n=n):
        dst = bytearray(n)
        sc = bytearray(4)
        K.kv_store(v, 0, n, dst, 0, sc, 1)
        return list(dst) + list(sc)
    add("kv_store_%d_%d" % (n, amp), k)

    def gl(K, v=v, n=n):
        b = array('i', v)
        K.gelu_q(b, n)
        return list(b)
    add("gelu_%d_%d" % (n, amp), gl)

    def ad(K, v=v, n=n):
        b = array('i', [t >> 2 for t in v])
        K.add_q(b, array('i', [t >> 3 for t in v]), n)
        return list(b)
    add("add_q_%d_%d" % (n, amp), ad)

# layernorm, including a constant row and one far from zero
for n, amp, gamp in ((64, 1 << 17, 1 << 17), (768, 1 << 30, 1 << 18), (3072, 1 << 18, 1 << 16), (64, 0, 1 << 16),
                     (64, 3, 1 << 16)):
    x = vec(n, amp)
    if amp == 3:
        x = array('i', [t + 5000 for t in x])
    gg = vec(n, gamp)
    bb = vec(n, 1 << 16)

    def f(K, x=x, gg=gg, bb=bb, n=n):
        out = array('i', [0] * n)
        K.layernorm_q(x, n, gg, bb, out, 42950)
        return list(out)
    add("layernorm_%d_%d" % (n, amp), f)

gl = vec(4000, 1 << 20)


def fg(K):
    b = array('i', gl)
    K.gelu_q(b, len(b))
    return list(b)


add("gelu_sweep", fg)

# one attention head over a quantized KV cache (per-position scale bytes: mantissa, exponent)
for n_pos, hd, n_head, qamp, elo, ehi in ((1, 64, 2, 1 << 16, -7, 4), (37, 64, 2, 1 << 18, -3, 3),
                                          (200, 32, 1, 1 << 20, -7, 0), (5, 128, 1, 1 << 30, -7, -3)):
    d = hd * n_head
    kc = bytearray(rnd() & 255 for _ in range(n_pos * d))
    vc = bytearray(rnd() & 255 for _ in range(n_pos * d))
    ks = bytearray(2 * n_pos * n_head)
    vs = bytearray(2 * n_pos * n_head)
    for i in range(n_pos * n_head):
        ks[2 * i] = 128 + rnd() % 128
        vs[2 * i] = 128 + rnd() % 128
        ks[2 * i + 1] = (elo + rnd() % (ehi - elo + 1)) & 255
        vs[2 * i + 1] = (elo + rnd() % (ehi - elo + 1)) & 255
    qv = vec(d, qamp)
    c_isq = kernels_py.isqrt((1 << 30) // hd)

    def f(K, kc=kc, vc=vc, ks=ks, vs=vs, qv=qv, n_pos=n_pos, hd=hd, n_head=n_head, d=d, c_isq=c_isq):
        out = array('i', [0] * d)
        h = n_head - 1
        K.attend_head(qv, h * hd, hd, kc, ks, vc, vs, n_pos, d, h * hd, n_head, h, c_isq,
                      array('i', [0] * n_pos), array('h', [0] * hd), out)
        return list(out)
    add("attend_%d_%d_%d" % (n_pos, hd, n_head), f)

# the sampler's scans: logits spread out, with ties, all equal; weights at three temperatures
for n, amp, tie in ((9, 1 << 20, 1), (700, 30 << 16, 1), (700, 4, 65536), (300, 0, 1)):
    lg = array('i', [t * tie for t in vec(n, amp)])

    def sc(K, lg=lg, n=n):
        best = K.argmax_q(lg, n)
        out = [best]
        for k in (1, 7, 40):
            top = array('i', [0] * k)
            cnt = K.top_k_q(lg, n, k, top)
            out += [cnt] + list(top)[:cnt]
        for inv_t, cutoff in ((20480, 131072), (1280, 1677721), (512, 5242880)):
            p = array('i', [0] * n)
            total = K.weights_q(lg, n, lg[best], inv_t, cutoff, 0, p)
            out += [total] + list(p)
            for frac in (65536, 62259, 19661):
                q = array('i', p)
                want = (total >> 16) * frac + (((total & 65535) * frac) >> 16)
                kept = K.top_p_q(q, n, want, p[best])
                out += [kept] + list(q)
                for r in (0, kept // 2, kept - 1, kept):
                    out.append(K.draw_q(q, n, r))
        return out
    add("sampler_%d_%d_%d" % (n, amp, tie), sc)

# isqrt over its domain's edges and a spread of values (the loader takes 2**15 / sqrt(head_dim) from it)
ISQRT_IN = [0, 1, 2, 3, 4, 15, 16, 17, 1 << 28, (1 << 30) - 1] + [(rnd() << 7 | rnd() & 127) for _ in range(200)]
add("isqrt", lambda K: [K.isqrt(v) for v in ISQRT_IN])

# every case on every backend; plain Python is the reference
# every case on every backend; plain Python is the reference
print("AVAILABLE", " ".join(kernels.available()))
res = {}
for be in kernels.available():
    kernels.use(be)
    for name, fn in cases:
        res[(name, be)] = fn(K)
kernels.use("python")
bad = 0
for name, fn in cases:
    ref = res[(name, "python")]
    ck = 0
    for i in range(len(ref)):
        ck = (ck * 1000003 + ref[i]) % 2305843009213693951
    print("CK", name, len(ref), ck)
    for be in kernels.available():
        got = res[(name, be)]
        if got != ref:
            bad += 1
            i = 0
            while i < len(ref) and got[i] == ref[i]:
                i += 1
            print("MISMATCH", name, be, "at", i, "of", len(ref), ref[i] if i < len(ref) else None,
                  got[i] if i < len(got) else None)
print("CASES", len(cases), "MISMATCHES", bad)
