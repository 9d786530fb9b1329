"""The integer kernels: plain Python vs the numpy spec (bit for bit), intermediate bounds
for 32-bit boards, accuracy vs float maths, and viper vs plain Python under MicroPython.

Spec: host_tools/nanollm_host/kernel_spec.py. Formats and measured errors: docs/fixed_point.md.
"""
import math
import os
import subprocess
import sys
from array import array

import numpy as np
import pytest

from testutil import LIB, mpy_script, run_micropython_file

from nanollm_host import kernel_spec as spec
from nanollm_host import quants
from nanollm import kernels_py as kp

LIMIT = 1 << 31
QTYPES = ("q8_0", "q4_0", "q4_1")
MATVEC = {"q8_0": kp.matvec_q8_0, "q4_0": kp.matvec_q4_0, "q4_1": kp.matvec_q4_1}
EPS_Q32 = int(1e-5 * 2 ** 32 + 0.5)


def ai(v):
    return array("i", [int(t) for t in v])


def ah(v):
    return array("h", [int(t) for t in v])


def q16(x):
    return np.round(np.asarray(x, dtype=np.float64) * 65536).astype(np.int64)


def f16_bits(value):
    return int(np.array([value], dtype="<f2").view(np.uint16)[0])


# ------------------------------------------------------------------ inputs

def random_blocks(rng, n_rows, n_cols, qtype, scale_bits=None):
    """Random raw blocks; scale fields set from scale_bits(rng, shape) (fp16 bit patterns)."""
    bb = spec.BLOCK_BYTES[qtype]
    nb = n_cols // 32
    raw = rng.integers(0, 256, size=(n_rows, nb, bb), dtype=np.uint8)
    if scale_bits is not None:
        for off in ((0, 2) if qtype == "q4_1" else (0,)):
            h = np.asarray(scale_bits(rng, (n_rows, nb)), dtype=np.uint16)
            raw[..., off] = h & 255
            raw[..., off + 1] = h >> 8
    return raw.reshape(n_rows, nb * bb)


def normal_scales(lo_exp=1, hi_exp=12):
    def f(rng, shape):
        e = rng.integers(lo_exp, hi_exp + 1, size=shape)
        return (rng.integers(0, 1024, size=shape) | (e << 10) | (rng.integers(0, 2, size=shape) << 15))
    return f


def const_scales(bits):
    return lambda rng, shape: np.full(shape, bits)


def quantized_matrix(rng, n_rows, n_cols, qtype, std=0.02):
    w = rng.normal(0, std, size=(n_rows, n_cols)).astype(np.float32)
    return np.asarray(quants.quantize(w, qtype)).reshape(n_rows, -1)


def run_matvec(raw, n_rows, n_cols, x, shx, qtype):
    out = array("i", [0] * n_rows)
    MATVEC[qtype](bytes(np.asarray(raw, dtype=np.uint8).tobytes()), n_rows, n_cols, ah(x), shx, out, 0)
    return list(out)


def matvec_case(kind, qtype, rng):
    """(raw, n_rows, n_cols, x16, shx) for a named edge case."""
    if kind.startswith("random"):
        n_cols = int(kind.split("-")[1])
        n_rows = 3 if n_cols >= 3072 else 5
        raw = random_blocks(rng, n_rows, n_cols, qtype, normal_scales(1, 10))
        x, sh = spec.to_x16(rng.integers(-(1 << 16), 1 << 16, size=n_cols))
        return raw, n_rows, n_cols, x, sh
    if kind == "one-row":
        raw = random_blocks(rng, 1, 64, qtype, normal_scales(1, 14))
        return raw, 1, 64, rng.integers(-8192, 8193, size=64), 2
    if kind == "zero-scales":
        raw = random_blocks(rng, 3, 96, qtype, const_scales(0))
        return raw, 3, 96, rng.integers(-8192, 8193, size=96), 5
    if kind == "neg-zero-scales":
        raw = random_blocks(rng, 2, 64, qtype, const_scales(0x8000))
        return raw, 2, 64, rng.integers(-8192, 8193, size=64), 0
    if kind == "subnormal":
        raw = random_blocks(rng, 4, 96, qtype, lambda r, s: r.integers(0, 1024, size=s) | (r.integers(0, 2, size=s) << 15))
        return raw, 4, 96, rng.integers(-8192, 8193, size=96), 18
    if kind == "huge":  # fp16 max 65504 and neighbours, with tiny inputs so outputs fit Q16
        raw = random_blocks(rng, 3, 64, qtype, lambda r, s: r.choice([0x7bff, 0xfbff, 0x7800, 0x7a00], size=s))
        return raw, 3, 64, rng.integers(-3, 4, size=64), -12
    if kind == "wide-exponents":  # blocks 0..30 exponents apart: every branch of the rule
        def sc(r, s):
            e = r.integers(1, 31, size=s)
            e[:, 0] = 20
            return r.integers(0, 1024, size=s) | (e << 10) | (r.integers(0, 2, size=s) << 15)
        raw = random_blocks(rng, 6, 3072, qtype, sc)
        return raw, 6, 3072, rng.integers(-8192, 8193, size=3072), -12
    if kind == "extreme-q":  # q8_0 -128 / 127 everywhere (crafted), x at +-2**13
        raw = random_blocks(rng, 4, 3072, qtype, normal_scales(1, 2))
        body = raw.reshape(4, 96, -1)
        off = 4 if qtype == "q4_1" else 2
        body[0, :, off:] = 0x80 if qtype == "q8_0" else 0x00
        body[1, :, off:] = 0x7f if qtype == "q8_0" else 0xff
        x = np.where(np.arange(3072) % 3 == 0, -8192, 8192)
        return raw, 4, 3072, x, -12
    if kind == "zero-x":
        raw = random_blocks(rng, 3, 64, qtype, normal_scales())
        return raw, 3, 64, np.zeros(64, dtype=np.int64), 0
    raise ValueError(kind)


MATVEC_KINDS = ("random-32", "random-64", "random-96", "random-3072", "one-row", "zero-scales",
                "neg-zero-scales", "subnormal", "huge", "wide-exponents", "extreme-q", "zero-x")


# ------------------------------------------------------------------ bit-exact vs spec

@pytest.mark.parametrize("case", ["rand32", "rand64", "rand96", "rand3072", "zeros", "extreme",
                                  "tiny", "round-up", "one"])
def test_to_x16_matches_spec(case):
    rng = np.random.default_rng(hash(case) % 2 ** 32)
    v = {
        "rand32": lambda: rng.integers(-(1 << 20), 1 << 20, size=32),
        "rand64": lambda: rng.integers(-(1 << 16), 1 << 16, size=64),
        "rand96": lambda: rng.integers(-300, 300, size=96),
        "rand3072": lambda: rng.integers(-(1 << 24), 1 << 24, size=3072),
        "zeros": lambda: np.zeros(64, dtype=np.int64),
        "extreme": lambda: np.array([1 << 30, -(1 << 30)] * 16 + list(rng.integers(-(1 << 30), 1 << 30, size=32))),
        "tiny": lambda: np.array([1, -1, 0] * 10 + [1, 0]),
        "round-up": lambda: np.array([(1 << 20) - 1, -((1 << 20) - 1)] + [5] * 30),
        "one": lambda: np.array([-(1 << 30)]),
    }[case]()
    src = ai([7] + list(v))  # off = 1
    dst = array("h", [0] * len(v))
    sh = kp.to_x16(src, 1, len(v), dst)
    x, sh2 = spec.to_x16(v)
    assert sh == sh2
    assert list(dst) == x.tolist()
    assert np.max(np.abs(x)) <= 1 << 13


@pytest.mark.parametrize("qtype", QTYPES)
@pytest.mark.parametrize("kind", MATVEC_KINDS)
def test_matvec_matches_spec(qtype, kind):
    rng = np.random.default_rng([QTYPES.index(qtype), MATVEC_KINDS.index(kind)])
    raw, n_rows, n_cols, x, sh = matvec_case(kind, qtype, rng)
    want = spec.matvec(raw, n_rows, n_cols, x, sh, qtype)
    assert run_matvec(raw, n_rows, n_cols, x, sh, qtype) == [int(t) for t in want]


def test_matvec_rule_branches_all_used():
    """The wide-exponent case really exercises k = 0, 1..13, 14..24 and > 24."""
    rng = np.random.default_rng([0, MATVEC_KINDS.index("wide-exponents")])
    raw, n_rows, n_cols, _, _ = matvec_case("wide-exponents", "q8_0", rng)
    _, hd, _ = spec.block_values(raw, n_rows, n_cols, "q8_0")
    _, e = spec.f16_parts(hd)
    k = e.max(axis=1, keepdims=True) - e
    assert (k == 0).any() and ((k >= 1) & (k <= 13)).any() and ((k >= 14) & (k <= 24)).any() and (k > 24).any()


@pytest.mark.parametrize("qtype", QTYPES)
@pytest.mark.parametrize("kind", ["random", "subnormal", "zero", "large"])
def test_dequant_row_matches_spec(qtype, kind):
    rng = np.random.default_rng([QTYPES.index(qtype), len(kind)])
    sc = {"random": normal_scales(1, 20), "zero": const_scales(0),
          "subnormal": lambda r, s: r.integers(0, 1024, size=s) | (r.integers(0, 2, size=s) << 15),
          "large": normal_scales(15, 18)}[kind]
    n_cols = 96
    raw = random_blocks(rng, 2, n_cols, qtype, sc)
    out = array("i", [0] * n_cols)
    row = raw[1]
    buf = bytes(raw.tobytes())
    kp.dequant_row_q(buf, spec.WTYPE[qtype], len(row), n_cols, out)
    assert list(out) == spec.dequant_row(row, n_cols, qtype).tolist()


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_float_vector_into_q16_matches_spec(dtype):
    # norm and bias vectors, converted per token when they stay in the file (wtype 0 f32, 1 f16):
    # values across the integer path's range, exact halves of the Q16 step, subnormals, zeros
    rng = np.random.default_rng([7, np.dtype(dtype).itemsize])
    big = 30000.0 if dtype == np.float32 else 32000.0
    v = np.concatenate([rng.normal(0, 1, 200), rng.uniform(-big, big, 50), rng.normal(0, 2.0 ** -14, 50),
                        (np.arange(-20, 21) + 0.5) / 65536, [0.0, -0.0, 2.0 ** -17, -(2.0 ** -17), 2.0 ** -18]]).astype(dtype)
    if dtype == np.float32:
        v = np.concatenate([v, np.frombuffer(np.array([1, 0x80000001, 0x7FFFFF], dtype=np.uint32).tobytes(),
                                             dtype=np.float32)])
    else:
        v = np.concatenate([v, np.frombuffer(np.array([1, 0x8001, 0x3FF], dtype=np.uint16).tobytes(), dtype=np.float16)])
    off = 3 * v.itemsize
    buf = bytes(off) + v.tobytes()
    out = array("i", [0] * len(v))
    kp.dequant_row_q(buf, 0 if dtype == np.float32 else 1, off, len(v), out)
    want = spec.float_vector_q16(v)
    assert list(out) == want.tolist()
    assert (want % 2 == 1).any() and (np.abs(want) > 1 << 30).any() and (want == 0).any()


LN_CASES = ("unit-64", "unit-768", "unit-3072", "const", "tiny-dev", "extreme", "offset", "one-outlier", "small-dev")


def ln_inputs(case, rng):
    n = int(case.split("-")[1]) if case.startswith("unit") else 64
    g = q16(rng.normal(1.0, 0.3, size=n))
    b = q16(rng.normal(0.0, 0.3, size=n))
    if case.startswith("unit"):
        x = q16(rng.normal(0.3, 1.0, size=n))
    elif case == "const":
        x = np.full(n, 12345)
    elif case == "tiny-dev":
        x = np.full(n, 1000) + rng.integers(-2, 3, size=n)
    elif case == "small-dev":
        x = np.full(n, -77) + rng.integers(-400, 400, size=n)
    elif case == "extreme":
        x = rng.choice([1 << 30, -(1 << 30)], size=n)
    elif case == "offset":
        x = (1 << 29) + q16(rng.normal(0, 3, size=n))
    else:
        x = np.zeros(n, dtype=np.int64)
        x[5] = -(1 << 30)
    return x, g, b


@pytest.mark.parametrize("case", LN_CASES)
def test_layernorm_matches_spec(case):
    rng = np.random.default_rng(LN_CASES.index(case))
    x, g, b = ln_inputs(case, rng)
    out = array("i", [0] * len(x))
    kp.layernorm_q(ai(x), len(x), ai(g), ai(b), out, EPS_Q32)
    assert list(out) == spec.layernorm(x, g, b, EPS_Q32).tolist()


def test_gelu_matches_spec():
    rng = np.random.default_rng(5)
    v = np.concatenate([np.arange(-(1 << 19) - 4100, (1 << 19) + 4100, 37),  # dense over [-8, 8)
                        rng.integers(-(1 << 30), 1 << 30, size=2000),
                        [-(1 << 30), 1 << 30, -524288, -524289, 524287, 524288, 0, -1, 1]])
    buf = ai(v)
    kp.gelu_q(buf, len(v))
    assert list(buf) == spec.gelu(v).tolist()


KV_CASES = ("rand64", "rand32", "zeros", "tiny", "extreme", "ms-carry", "one")


@pytest.mark.parametrize("case", KV_CASES)
def test_kv_store_matches_spec(case):
    rng = np.random.default_rng(KV_CASES.index(case) + 100)
    v = {"rand64": lambda: q16(rng.normal(0, 2, size=64)),
         "rand32": lambda: rng.integers(-(1 << 24), 1 << 24, size=32),
         "zeros": lambda: np.zeros(64, dtype=np.int64),
         "tiny": lambda: rng.integers(-3, 4, size=64),
         "extreme": lambda: rng.choice([1 << 30, -(1 << 30), 5, 0], size=64),
         "ms-carry": lambda: np.array([127 * 511, -5] * 16),  # t = 511 -> ms rounds up to 256
         "one": lambda: np.array([-1000])}[case]()
    n = len(v)
    dst = bytearray(n + 3)
    sc = bytearray(6)
    kp.kv_store(ai([0, 0] + list(v)), 2, n, dst, 3, sc, 1)
    k, ms, es = spec.kv_store(v)
    assert [t - 256 if t > 127 else t for t in dst[3:]] == k.tolist()
    assert (sc[2], sc[3]) == (ms, es & 255)
    assert 128 <= ms <= 255
    # the scale is the smallest ms * 2**es >= max(1, ceil(amax / 127)) with ms in [128, 255]
    t = max(1, -(-int(np.max(np.abs(v))) // 127))
    assert ms * 2.0 ** es >= t and ((ms - 1) * 2.0 ** es < t or ms == 128 and 255 * 2.0 ** (es - 1) < t)


def build_cache(rng, n_pos, hd, n_head, h, kstd=1.0, vstd=1.0, q=None):
    """KV cache of n_pos positions filled through kv_store; returns the kernel's buffers and
    the spec's per-head arrays."""
    d = hd * n_head
    kc, vc = bytearray(n_pos * d), bytearray(n_pos * d)
    ks, vs = bytearray(2 * n_pos * n_head), bytearray(2 * n_pos * n_head)
    for t in range(n_pos):
        for hh in range(n_head):
            kv = ai(q16(rng.normal(0, kstd, size=hd) * rng.uniform(0.1, 3)))
            vv = ai(q16(rng.normal(0, vstd, size=hd) * rng.uniform(0.1, 3)))
            kp.kv_store(kv, 0, hd, kc, t * d + hh * hd, ks, t * n_head + hh)
            kp.kv_store(vv, 0, hd, vc, t * d + hh * hd, vs, t * n_head + hh)

    def head(c, s):
        a = np.frombuffer(bytes(c), dtype=np.int8).reshape(n_pos, n_head, hd)[:, h].astype(np.int64)
        sc = np.frombuffer(bytes(s), dtype=np.uint8).reshape(n_pos, n_head, 2)[:, h]
        return a, sc[:, 0].astype(np.int64), sc[:, 1].view(np.int8).astype(np.int64)
    return (kc, ks, vc, vs), head(kc, ks), head(vc, vs)


def run_attend(qv, bufs, n_pos, hd, n_head, h):
    kc, ks, vc, vs = bufs
    d = hd * n_head
    out = array("i", [0] * d)
    c_isq = kp.isqrt((1 << 30) // hd)
    kp.attend_head(ai(list(qv) * n_head), h * hd, hd, kc, ks, vc, vs, n_pos, d, h * hd, n_head, h,
                   c_isq, array("i", [0] * n_pos), array("h", [0] * hd), out)
    return list(out[h * hd:(h + 1) * hd]), c_isq


ATT_CASES = [(1, 64, 1), (2, 64, 2), (9, 32, 3), (100, 64, 2), (600, 64, 1), (40, 128, 1)]


@pytest.mark.parametrize("n_pos,hd,n_head", ATT_CASES)
def test_attend_head_matches_spec(n_pos, hd, n_head):
    rng = np.random.default_rng([n_pos, hd, n_head])
    h = n_head - 1
    bufs, (K, kms, kes), (V, vms, ves) = build_cache(rng, n_pos, hd, n_head, h)
    q = q16(rng.normal(0, 1.5, size=hd))
    got, c_isq = run_attend(q, bufs, n_pos, hd, n_head, h)
    assert got == spec.attend(q, K, kms, kes, V, vms, ves, c_isq).tolist()


def test_attend_head_extremes_match_spec():
    """Sharp softmax (one position dominates), zero query, extreme query values."""
    rng = np.random.default_rng(77)
    hd, n_pos = 64, 50
    bufs, (K, kms, kes), (V, vms, ves) = build_cache(rng, n_pos, hd, 1, 0, kstd=4.0)
    for q in (np.zeros(hd, dtype=np.int64), q16(rng.normal(0, 20, size=hd)),
              np.where(np.arange(hd) % 2, 1 << 24, -(1 << 24)), np.full(hd, 3)):
        got, c_isq = run_attend(q, bufs, n_pos, hd, 1, 0)
        assert got == spec.attend(q, K, kms, kes, V, vms, ves, c_isq).tolist()


def test_isqrt_and_add_q():
    rng = np.random.default_rng(9)
    # isqrt's domain is 0 <= v < 2**30 (its callers stay there; 2**30 is not a small int on 32-bit ports)
    vals = [0, 1, 2, 3, 4, 15, 16, 17, (1 << 28), (1 << 30) - 1] + rng.integers(0, 1 << 30, size=300).tolist()
    for v in vals:
        assert kp.isqrt(v) == math.isqrt(v), v
    a = rng.integers(-(1 << 29), 1 << 29, size=100)
    b = rng.integers(-(1 << 29), 1 << 29, size=100)
    dst = ai(a)
    kp.add_q(dst, ai(b), 100)
    assert list(dst) == (a + b).tolist()


def sampler_logits(rng, n, kind):
    """Q16 logits: spread out, all equal, many ties, or at the int32 ends."""
    if kind == "spread":
        return rng.integers(-(30 << 16), 30 << 16, size=n)
    if kind == "equal":
        return np.full(n, 12345)
    if kind == "ties":
        return rng.integers(-5, 5, size=n) * 65536
    return rng.choice([-(1 << 31), (1 << 31) - 1, 0, -1], size=n)


@pytest.mark.parametrize("kind", ["spread", "equal", "ties", "ends"])
@pytest.mark.parametrize("n", [1, 7, 513, 50257])
def test_sampler_scans_match_spec(n, kind):
    rng = np.random.default_rng(n + len(kind))
    lg = sampler_logits(rng, n, kind)
    a = ai(lg)
    best = kp.argmax_q(a, n)
    assert best == spec.argmax(lg)
    for k in (1, 5, 40, min(n + 3, 600)):  # (k near n is quadratic in this insertion list)
        top = ai([0] * k)
        cnt = kp.top_k_q(a, n, k, top)
        assert list(top)[:cnt] == spec.top_k(lg, k)
    if kind == "ends":
        return  # weights take gaps below 2**31 (the gap to the largest logit of a real model)
    for temperature in (0.05, 0.8, 2.0):
        inv_t, cutoff = max(1, int(1024.0 / temperature + 0.5)), int(40 * 65536 * temperature)
        psh = 0
        while (n << 16) >> psh >= 1 << 30:
            psh += 1
        p = ai([7] * n)
        total = kp.weights_q(a, n, int(lg[best]), inv_t, cutoff, psh, p)
        want_p = spec.weights(lg, int(lg[best]), inv_t, cutoff, psh)
        assert list(p) == want_p.tolist() and total == int(want_p.sum())
        for top_p in (1.0, 0.95, 0.3, 0.0001):
            want = int(total * top_p)
            q = ai(p)
            kept = kp.top_p_q(q, n, want, max(p))
            want_q, want_kept = spec.top_p(p, want)
            assert (list(q), kept) == (want_q.tolist(), want_kept)
            for r in (0, kept - 1, kept // 3, kept, kept + 5):
                assert kp.draw_q(q, n, r) == spec.draw(list(q), r), r



# ------------------------------------------------------------------ 32-bit bounds

def test_intermediates_fit_32_bits():
    """Run the specs over worst cases of the documented ranges and check every intermediate.

    Ranges: Q16 inputs |v| <= 2**30; x16 |x| <= 2**13; rows up to 3072 columns; any finite
    fp16 scale (outputs fitting Q16); layer-norm gains |g| < 16; head_dim <= 128;
    positions up to 1024.
    """
    track = {}
    rng = np.random.default_rng(1)
    for qtype in QTYPES:
        for kind in ("extreme-q", "wide-exponents", "random-3072"):
            raw, n_rows, n_cols, x, sh = matvec_case(kind, qtype, rng)
            spec.matvec(raw, n_rows, n_cols, x, sh, qtype, track)
        # every block at the row's largest exponent with the largest mantissa
        raw, n_rows, n_cols, x, sh = matvec_case("extreme-q", qtype, rng)
        body = raw.reshape(n_rows, n_cols // 32, -1)
        body[..., 0], body[..., 1] = 0xff, 0x07  # man 2047, exponent 1 (subnormal): outputs fit
        if qtype == "q4_1":
            body[..., 2], body[..., 3] = 0xff, 0x07
        spec.matvec(raw, n_rows, n_cols, x, sh, qtype, track)
    n = 3072
    for x in (rng.choice([1 << 30, -(1 << 30)], size=n), np.where(np.arange(n) == 7, 1 << 30, -(1 << 30)),
              np.where(np.arange(n) == 7, -(1 << 30), 0)):
        g = np.full(n, (16 << 16) - 1) * np.where(np.arange(n) % 2, 1, -1)
        spec.layernorm(x, g, q16(rng.normal(0, 1, size=n)), EPS_Q32, track)
    for eps in (EPS_Q32, 1 << 31):
        spec.layernorm(np.arange(64) % 2, np.full(64, 1 << 16), np.zeros(64), eps, track)
    spec.gelu(np.arange(-(1 << 20), 1 << 20, 7), track)
    for v in (np.array([1 << 30, -(1 << 30)] * 32), np.array([1, -1] * 32), np.array([127 * 255 + 1] * 64)):
        spec.kv_store(v, track)
    for hd, n_pos in ((64, 1024), (128, 256), (1, 8)):
        K = np.where(rng.random((n_pos, hd)) < 0.5, 127, -127)
        # scores up to about 2**30 in Q12 (+-2**18 real): q at +-2**30 with small keys,
        # or smaller q with large keys; values at the largest and mixed scales
        for qsh, kes in ((0, -7), (14, 10)):
            q = np.where(K[0] > 0, 1 << 30, -(1 << 30)) >> qsh
            kk = np.where(np.arange(n_pos)[:, None] % 2, K, -K)
            spec.attend(q, kk, np.full(n_pos, 255), np.full(n_pos, kes), -K, np.full(n_pos, 129),
                        np.full(n_pos, 16), math.isqrt((1 << 30) // hd), track)
            spec.attend(q >> 20, K, np.full(n_pos, 255), np.full(n_pos, kes), K, np.full(n_pos, 255),
                        rng.integers(-7, 1, size=n_pos), math.isqrt((1 << 30) // hd), track)
    too_big = {k: v for k, v in track.items() if v >= LIMIT}
    assert not too_big, too_big
    assert len(track) > 30


# ------------------------------------------------------------------ accuracy vs float

def test_matvec_accuracy():
    """to_x16 + matvec vs the float product of the dequantized matrix: error <= 5e-4 of max|out|."""
    rng = np.random.default_rng(3)
    worst = {}
    for qtype in QTYPES:
        for n_cols in (768, 3072):
            n_rows = 4
            raw = quantized_matrix(rng, n_rows, n_cols, qtype)
            xq = q16(rng.normal(0, 1, size=n_cols))
            x, sh = spec.to_x16(xq)
            got = np.array(run_matvec(raw, n_rows, n_cols, x, sh, qtype), dtype=np.float64) / 65536
            want = quants.dequantize(raw.reshape(-1), qtype).reshape(n_rows, n_cols).astype(np.float64) @ (xq / 65536.0)
            err = np.max(np.abs(got - want)) / np.max(np.abs(want))
            worst[qtype, n_cols] = err
    print("matvec relative error", worst)
    assert max(worst.values()) <= 5e-4


def layernorm_error(rng, gstd, runs=6):
    """Largest |kernel - float| over unit-scale inputs (x ~ N(mu, 1), g ~ N(1, gstd), b ~ N(0, gstd))."""
    worst = 0.0
    for n in (64, 768, 3072):
        for _ in range(runs):
            xq = q16(rng.normal(rng.normal(0, 1), 1, size=n))
            gq = q16(rng.normal(1, gstd, size=n))
            bq = q16(rng.normal(0, gstd, size=n))
            out = array("i", [0] * n)
            kp.layernorm_q(ai(xq), n, ai(gq), ai(bq), out, EPS_Q32)
            xf = xq / 65536.0
            want = (xf - xf.mean()) / np.sqrt(xf.var() + 1e-5) * (gq / 65536.0) + bq / 65536.0
            worst = max(worst, np.max(np.abs(np.array(out) / 65536.0 - want)))
    return worst


def test_layernorm_accuracy():
    """Measured: 5.2e-4 (g = 1) and 5.7e-4 (g ~ N(1, 0.2))."""
    rng = np.random.default_rng(4)
    e1, e2 = layernorm_error(rng, 0.0), layernorm_error(rng, 0.2)
    print("layernorm abs error", e1, e2)
    assert max(e1, e2) <= 1e-3


def test_layernorm_accuracy_target():
    assert layernorm_error(np.random.default_rng(4), 0.0) <= 1e-3


def test_layernorm_near_constant_rows():
    for dev in (2, 30, 100):
        x = np.where(np.arange(64) % 2, 1000 + dev, 1000 - dev)
        out = array("i", [0] * 64)
        kp.layernorm_q(ai(x), 64, ai([65536] * 64), ai([0] * 64), out, EPS_Q32)
        xf = x / 65536.0
        want = (xf - xf.mean()) / np.sqrt(xf.var() + 1e-5)
        assert np.max(np.abs(np.array(out) / 65536.0 - want)) <= 1e-3, dev


def test_gelu_accuracy():
    v = np.arange(-(10 << 16), 10 << 16, 13)
    got = spec.gelu(v) / 65536.0
    x = v / 65536.0
    want = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    err = np.max(np.abs(got - want))
    print("gelu abs error", err)
    assert err <= 2e-4


def test_attention_accuracy():
    """Output vs float softmax attention on the dequantized cache: <= 1e-2 of max|out|."""
    rng = np.random.default_rng(6)
    worst = 0.0
    for n_pos, hd in ((1, 64), (5, 64), (64, 64), (300, 64), (50, 128)):
        bufs, (K, kms, kes), (V, vms, ves) = build_cache(rng, n_pos, hd, 1, 0, kstd=1.5)
        q = q16(rng.normal(0, 1.5, size=hd))
        got, _ = run_attend(q, bufs, n_pos, hd, 1, 0)
        kf = spec.kv_dequant(K, kms[:, None], kes[:, None])
        vf = spec.kv_dequant(V, vms[:, None], ves[:, None])
        s = kf @ (q / 65536.0) / math.sqrt(hd)
        w = np.exp(s - s.max())
        want = (w / w.sum()) @ vf
        worst = max(worst, np.max(np.abs(np.array(got) / 65536.0 - want)) / np.max(np.abs(want)))
    print("attention relative error", worst)
    assert worst <= 1e-2


def test_kv_store_accuracy():
    """Stored values are within half a step (plus the reciprocal's rounding) of the input."""
    rng = np.random.default_rng(8)
    for _ in range(50):
        v = q16(rng.normal(0, rng.uniform(0.01, 10), size=64))
        k, ms, es = spec.kv_store(v)
        step = ms * 2.0 ** es
        assert np.max(np.abs(k * step - v)) <= 0.5 * step * (1 + 1e-3) + 2 ** max(es, 0)


# ------------------------------------------------------------------ viper vs plain, MicroPython vs CPython
# tests/mpy/kernel_backends.py runs every case on every backend, on both interpreters

@pytest.fixture(scope="module")
def backend_runs():
    mp = run_micropython_file("kernel_backends.py", heapsize="16M")
    env = dict(os.environ, PYTHONPATH=LIB)
    r = subprocess.run([sys.executable, mpy_script("kernel_backends.py")], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    return mp, r.stdout


def test_viper_matches_plain_python_under_micropython(backend_runs):
    mp, _ = backend_runs
    lines = mp.splitlines()
    assert "viper" in lines[0].split()[1:], lines[0]
    mism = [ln for ln in lines if ln.startswith("MISMATCH")]
    assert not mism, "\n".join(mism)
    assert lines[-1].endswith("MISMATCHES 0") and int(lines[-1].split()[1]) > 40


def test_micropython_plain_matches_cpython(backend_runs):
    mp, cp = backend_runs
    ck_mp = [ln for ln in mp.splitlines() if ln.startswith("CK")]
    ck_cp = [ln for ln in cp.splitlines() if ln.startswith("CK")]
    assert len(ck_cp) > 40
    assert ck_mp == ck_cp
