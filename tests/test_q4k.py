"""q4_K, ggml's 4-bit K-quant (super-blocks of 256 in 144 bytes), end to end: our quantizer
against gguf's dequantizer, the kernel spec against float maths, plain Python against the
spec bit for bit (viper and C: tests/mpy/kernel_backends.py, native_cases.py), the 32-bit
bounds, the host tools (quantize.py's fallback per tensor, K-quant inputs) and the runtime on
a 256-wide model (both interpreters, streamed or in RAM, no allocation per token).

Byte identity with llama.cpp's own quantizer: tests/test_llamacpp.py.
"""
import os
import subprocess
import sys
from array import array

import numpy as np
import pytest

from testutil import FIXTURES, HOST_TOOLS, ROOT, run_micropython_file

import nanollm
from nanollm import NanoLLMError
from nanollm import kernels_py as kp
from nanollm_host import gguf_model as gm
from nanollm_host import kernel_spec as spec
from nanollm_host import quants, quants_k
from nanollm_host.reference import Reference

LIMIT = 1 << 31


def f16_bits(rng, shape, lo, hi):
    e = rng.integers(lo, hi + 1, size=shape)
    return rng.integers(0, 1024, size=shape) | (e << 10) | (rng.integers(0, 2, size=shape) << 15)


def random_q4k(rng, n_rows, n_cols, lo=1, hi=10, d_bits=None):
    """Random q4_K bytes with d/dmin exponents in lo..hi (or d_bits(rng, shape))."""
    raw = rng.integers(0, 256, size=(n_rows, n_cols // 256, 144), dtype=np.uint8)
    for off in (0, 2):
        h = np.asarray(d_bits(rng, raw.shape[:2]) if d_bits else f16_bits(rng, raw.shape[:2], lo, hi), dtype=np.uint16)
        raw[..., off] = h & 255
        raw[..., off + 1] = h >> 8
    return raw.reshape(n_rows, -1)


def kp_matvec(raw, n_rows, n_cols, x, shx):
    out = array("i", [0] * n_rows)
    kp.matvec_q4_K(bytes(np.asarray(raw, np.uint8).tobytes()), n_rows, n_cols, array("h", [int(v) for v in x]), shx,
                   out, 0)
    return list(out)


# ------------------------------------------------------------------ the quantizer

def test_quantizer_round_trips_through_gguf_dequantizer():
    """Our dequantizer is gguf's bit for bit, and the quantizer's error is a 4-bit one."""
    from gguf import GGMLQuantizationType, quants as gq
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((16, 768)) * 0.05).astype(np.float32)
    raw = quants.quantize(x, "q4_K")
    assert raw.shape == (16, 3 * 144)
    ours = quants.dequantize(raw, "q4_K")
    assert np.array_equal(ours, gq.dequantize(raw, GGMLQuantizationType.Q4_K))
    rel = np.sqrt(np.mean((ours - x) ** 2)) / x.std()
    assert 0.02 < rel < 0.1, rel  # q4_0 on the same data: about 0.11


def test_quantizer_edge_rows():
    rng = np.random.default_rng(1)
    rows = np.stack([np.zeros(256), np.full(256, 0.25), np.full(256, -3.0), np.linspace(-1, 1, 256),
                     np.where(np.arange(256) == 7, 100.0, 0.0), rng.standard_normal(256) * 1e-6,
                     np.abs(rng.standard_normal(256))]).astype(np.float32)
    raw = quants.quantize(rows, "q4_K")
    back = quants.dequantize(raw, "q4_K")
    assert np.all(np.isfinite(back))
    assert np.array_equal(back[0], np.zeros(256))
    # a constant row: min -3 (d = 0 sub-blocks keep the fit's quants): every value back within a step
    assert np.max(np.abs(back[2] + 3.0)) < 0.05
    assert np.max(np.abs(back[3] - rows[3])) < 2.0 / 15
    with pytest.raises(ValueError):
        quants.quantize(np.zeros((2, 96), np.float32), "q4_K")


def test_scale_packing_round_trips():
    rng = np.random.default_rng(2)
    ls = rng.integers(0, 64, size=(50, 8))
    lm = rng.integers(0, 64, size=(50, 8))
    sc, mn = quants_k.unpack_scales(quants_k.pack_scales(ls, lm))
    assert np.array_equal(sc, ls) and np.array_equal(mn, lm)


# ------------------------------------------------------------------ the spec against floats

def test_spec_dequant_matches_gguf():
    """dequant_row: each element floor(d sc q) - floor(dmin mn), within 2 units of Q16 of ggml's floats."""
    from gguf import GGMLQuantizationType, quants as gq
    rng = np.random.default_rng(3)
    raw = quants.quantize((rng.standard_normal((4, 512)) * 0.3).astype(np.float32), "q4_K")
    want = gq.dequantize(raw, GGMLQuantizationType.Q4_K).astype(np.float64)
    for r in range(4):
        got = spec.dequant_row(raw[r], 512, "q4_K") / 65536.0
        assert np.max(np.abs(got - want[r])) <= 2 / 65536 + 1e-6


def test_matvec_accuracy():
    """to_x16 + matvec vs the float product of gguf's dequantized matrix: <= 5e-4 of max|out|."""
    from gguf import GGMLQuantizationType, quants as gq
    rng = np.random.default_rng(4)
    for n_cols in (256, 768, 3072):
        raw = quants.quantize((rng.standard_normal((6, n_cols)) * 0.02).astype(np.float32), "q4_K")
        xq = np.round(rng.normal(0, 1, size=n_cols) * 65536).astype(np.int64)
        x, sh = spec.to_x16(xq)
        got = np.array(kp_matvec(raw, 6, n_cols, x, sh), dtype=np.float64) / 65536
        want = gq.dequantize(raw, GGMLQuantizationType.Q4_K).astype(np.float64) @ (xq / 65536.0)
        assert np.max(np.abs(got - want)) / np.max(np.abs(want)) <= 5e-4, n_cols


# ------------------------------------------------------------------ plain Python against the spec

CASES = ("random-256", "random-768", "random-3072", "subnormal", "zero-scales", "huge", "wide-exponents",
         "extreme-q", "zero-x")


def case(kind, rng):
    if kind.startswith("random"):
        n = int(kind.split("-")[1])
        x, sh = spec.to_x16(rng.integers(-(1 << 16), 1 << 16, size=n))
        return random_q4k(rng, 3, n), 3, n, x, sh
    x = rng.integers(-8192, 8193, size=512)
    if kind == "subnormal":
        return random_q4k(rng, 2, 512, d_bits=lambda r, s: r.integers(0, 1024, size=s)), 2, 512, x, 18
    if kind == "zero-scales":
        return random_q4k(rng, 2, 512, d_bits=lambda r, s: np.full(s, 0x8000)), 2, 512, x, 0
    if kind == "huge":
        return random_q4k(rng, 2, 512, 29, 30), 2, 512, rng.integers(-3, 4, size=512), -30
    if kind == "wide-exponents":  # super-blocks 0..30 exponents apart: every branch of the rule
        def bits(r, s):
            e = r.integers(1, 31, size=s)
            e[:, 0] = 20
            return r.integers(0, 1024, size=s) | (e << 10) | (r.integers(0, 2, size=s) << 15)
        return random_q4k(rng, 4, 3072, d_bits=bits), 4, 3072, rng.integers(-8192, 8193, size=3072), -12
    if kind == "extreme-q":  # every nibble 15, every scale and min 63, x at +-2**13
        raw = random_q4k(rng, 2, 3072, 1, 2).reshape(2, 12, 144)
        raw[:, :, 4:] = 0xFF
        return raw.reshape(2, -1), 2, 3072, np.where(np.arange(3072) % 3 == 0, -8192, 8192), -12
    if kind == "zero-x":
        return random_q4k(rng, 2, 512), 2, 512, np.zeros(512, np.int64), 0
    raise ValueError(kind)


@pytest.mark.parametrize("kind", CASES)
def test_matvec_matches_spec(kind):
    rng = np.random.default_rng([12, CASES.index(kind)])
    raw, n_rows, n_cols, x, sh = case(kind, rng)
    want = spec.matvec(raw, n_rows, n_cols, x, sh, "q4_K")
    assert kp_matvec(raw, n_rows, n_cols, x, sh) == [int(t) for t in want]


@pytest.mark.parametrize("lo,hi", [(1, 20), (0, 0), (15, 18)])
def test_dequant_row_matches_spec(lo, hi):
    rng = np.random.default_rng([lo, hi])
    raw = random_q4k(rng, 2, 512, lo, hi) if hi else random_q4k(rng, 2, 512, d_bits=lambda r, s: r.integers(0, 1024, size=s))
    out = array("i", [0] * 512)
    kp.dequant_row_q(bytes(raw.tobytes()), 12, raw.shape[1], 512, out)
    assert list(out) == spec.dequant_row(raw[1], 512, "q4_K").tolist()


def test_intermediates_fit_32_bits():
    """Worst cases of the documented ranges (x16 |x| <= 2**13, rows up to 3072, scales whose
    outputs fit Q16): every intermediate below 2**31, the super-block sum sd included."""
    track = {}
    rng = np.random.default_rng(5)
    for kind in ("extreme-q", "wide-exponents", "random-3072"):
        raw, n_rows, n_cols, x, sh = case(kind, rng)
        spec.matvec(raw, n_rows, n_cols, x, sh, "q4_K", track)
    raw, n_rows, n_cols, x, sh = case("extreme-q", rng)
    body = raw.reshape(n_rows, -1, 144)
    for off in (0, 2):  # every scale at the row's exponent, largest mantissa (subnormal: outputs fit)
        body[..., off], body[..., off + 1] = 0xFF, 0x03
    spec.matvec(raw, n_rows, n_cols, x, sh, "q4_K", track)
    spec.matvec(raw, n_rows, n_cols, np.full(n_cols, 8192), sh, "q4_K", track)  # all one sign
    spec.matvec(raw, n_rows, n_cols, np.full(n_cols, -8192), sh, "q4_K", track)
    assert track["q4_K.sd"] > 1 << 30  # the bound is close: 63 * 15 * 2**13 * 256 < 2**31
    too_big = {k: v for k, v in track.items() if v >= LIMIT}
    assert not too_big, too_big


# ------------------------------------------------------------------ host tools

def test_parse_outtype():
    assert gm.parse_outtype("q4_K") == gm.parse_outtype("Q4_K") == gm.parse_outtype("q4_k") == "q4_K"
    assert gm.parse_outtype("14") == "q4_K"  # llama.cpp's MOSTLY_Q4_K_S
    with pytest.raises(gm.ToolError, match="Q3_K_M"):
        gm.parse_outtype("12")


def run_tool(name, *args):
    return subprocess.run([sys.executable, os.path.join(HOST_TOOLS, name)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=600)


def test_quantize_tool_falls_back_per_tensor(tmp_path, fixture_gguf):
    """The 64-wide fixture (ffn 256): ffn_down's rows are one super-block, every other matrix
    goes to the fallback, and the table says so on each of their lines."""
    src = fixture_gguf("gpt2_trained", "f32")
    out = tmp_path / "q4k.gguf"
    r = run_tool("quantize.py", src, out, "q4_K", "--fallback", "q4_1")
    assert r.returncode == 0, r.stderr
    m = gm.load_gguf(str(out), dequantize=False)
    mats = [n for n, t in m.types.items() if n.endswith("weight") and "norm" not in n]
    down = [n for n in mats if "ffn_down" in n]
    assert down and all(m.types[n] == "q4_K" for n in down)
    assert all(m.types[n] == "q4_1" for n in mats if n not in down)
    for n in mats:
        line = next(ln for ln in r.stdout.splitlines() if ln.startswith(n + " "))
        if n in down:
            assert "stored as" not in line, line
        else:
            assert "stored as q4_1: row length 64 is not a multiple of 256" in line, line
    r = run_tool("quantize.py", src, tmp_path / "x.gguf", "q4_K", "--fallback", "q4_K")
    assert r.returncode == 2 and "fallback" in r.stderr


# ------------------------------------------------------------------ the runtime on a 256-wide model

@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A 1-layer GPT-2 of width 256 (ffn 1024) with random weights and the fixture's vocabulary:
    f32, q4_K, and a copy whose ffn_down is q6_K (a type the runtime does not run)."""
    d = tmp_path_factory.mktemp("q4k")
    hp0, _, vocab, _ = gm.read_hf_dir(os.path.join(FIXTURES, "gpt2_trained"))
    hp = gm.HParams(n_vocab=hp0.n_vocab, n_ctx=32, n_embd=256, n_ff=1024, n_layer=1, n_head=4, eps=1e-5,
                    tied=True, bos_token_id=hp0.bos_token_id, eos_token_id=hp0.eos_token_id, name="wide-256")
    rng = np.random.default_rng(7)
    tensors = {}
    for name, shape in gm.expected_shapes(hp).items():
        if name.endswith("norm.weight"):
            tensors[name] = (1 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        elif len(shape) == 1:
            tensors[name] = (0.02 * rng.standard_normal(shape)).astype(np.float32)
        else:
            tensors[name] = (0.08 * rng.standard_normal(shape)).astype(np.float32)
    out = {"f32": str(d / "wide-f32.gguf"), "q4_K": str(d / "wide-q4_K.gguf")}
    gm.write_gguf(out["f32"], hp, tensors, vocab, "f32")
    gm.quantize_file(out["f32"], out["q4_K"], "q4_K", log=lambda s: None)
    out["tensors"], out["hp"], out["vocab"] = tensors, hp, vocab
    return out


IDS = [5, 99, 300, 17, 42, 250, 3, 77, 128, 9, 400, 11]


def test_runtime_q4k_matches_reference(wide):
    m = nanollm.load(wide["q4_K"])
    assert m.mode == "int" and all(t.type == 12 for n, t in m.weight_tensors().items() if n.endswith("qkv.weight"))
    got = np.array([np.array(m.forward(t, i), np.float64) * m.logit_scale for i, t in enumerate(IDS)])
    ref = Reference(wide["q4_K"]).logits(IDS)
    assert np.abs(got - ref).max() < 0.05
    nll = lambda lg: -np.mean([lg[i, IDS[i + 1]] - np.log(np.exp(lg[i]).sum()) for i in range(len(IDS) - 1)])
    assert abs(nll(got) - nll(ref)) / nll(ref) < 0.01


def test_streamed_equals_resident(wide):
    res = nanollm.load(wide["q4_K"], stream=False)
    st = nanollm.load(wide["q4_K"], stream=True)
    assert st.plan["weights_resident"] == 0 and res.plan["weights_streamed"] == 0
    for i, t in enumerate(IDS[:5]):
        assert list(res.forward(t, i)) == list(st.forward(t, i))


def test_micropython_viper_equals_cpython(wide):
    m = nanollm.load(wide["q4_K"])
    want = [list(m.forward(t, i)) for i, t in enumerate(IDS[:6])]
    out = run_micropython_file("forward_logits.py", ["viper", wide["q4_K"], "auto", ",".join(map(str, IDS[:6]))])
    lines = out.strip().splitlines()
    assert lines[0].split()[1:3] == ["viper", "int"], lines[0]
    assert [[int(v) for v in ln.split()] for ln in lines[1:]] == want


@pytest.mark.parametrize("stream", [False, True])
def test_decode_step_allocates_nothing(wide, stream):
    out = run_micropython_file("heap_lock_decode.py", [wide["q4_K"]] + (["stream"] if stream else []))
    assert out.split()[:2] == ["OK", "viper"], out


def test_other_k_quants_are_refused_with_the_command_then_converted(wide, tmp_path):
    """A file with a q6_K matrix: the runtime names the exact quantize.py command; that
    command (gguf's q6_K dequantizer) writes a file the runtime runs."""
    import gguf
    src = str(tmp_path / "mixed.gguf")
    hp, vocab = wide["hp"], wide["vocab"]
    # write the f32 model, then re-store ffn_down as q6_K bytes (gguf has no q6_K quantizer:
    # random blocks with small fp16 scales)
    rng = np.random.default_rng(8)
    w = gguf.GGUFWriter(src, gm.ARCH)
    r = gguf.GGUFReader(wide["f32"])
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        v = f.contents()
        t = f.types[0]
        if t == gguf.GGUFValueType.ARRAY:
            w.add_key_value(f.name, v, t, sub_type=f.types[-1])
        else:
            w.add_key_value(f.name, v, t)
    for t in r.tensors:
        data = np.asarray(t.data)
        if t.name == "blk.0.ffn_down.weight":
            blocks = rng.integers(0, 256, size=(256, 4, 210), dtype=np.uint8)
            blocks[..., 192:208] = rng.integers(-20, 20, size=(256, 4, 16)).astype(np.int8).view(np.uint8)
            blocks[..., 208:210] = np.array([0x0400], dtype="<u2").view(np.uint8)  # d = 2**-14
            w.add_tensor(t.name, blocks.reshape(256, 840), raw_dtype=gguf.GGMLQuantizationType.Q6_K)
        else:
            w.add_tensor(t.name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(NanoLLMError) as e:
        nanollm.load(src)
    msg = str(e.value)
    want = "python host_tools/quantize.py %s %s q4_K" % (src, src[:-5] + "-q4_K.gguf")
    assert "q6_K" in msg and want in msg, msg
    args = want.split()[2:]
    r = subprocess.run([sys.executable, os.path.join(ROOT, "host_tools", "quantize.py")] + args,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "q6_K -> q4_K" in r.stdout
    m = nanollm.load(args[1])
    assert m.mode == "int"
    m.forward(5, 0)


# ------------------------------------------------------------------ the NLL target

@pytest.fixture(scope="module")
def widened(tmp_path_factory):
    """The trained fixture tiled 4 times wider (width 256, ffn 1024, 16 heads): the same
    function (nanollm_host/widen.py), with rows of whole super-blocks."""
    from nanollm_host import widen
    d = tmp_path_factory.mktemp("widened")
    out = {"f32": str(d / "w-f32.gguf"), "q4_K": str(d / "w-q4_K.gguf")}
    widen.widen_checkpoint(os.path.join(FIXTURES, "gpt2_trained"), out["f32"], 4)
    gm.quantize_file(out["f32"], out["q4_K"], "q4_K", log=lambda s: None)
    return out


def test_widening_keeps_the_function(widened, fixture_gguf):
    ids = [3, 17, 99, 250, 4, 0, 45, 120]
    a = Reference(fixture_gguf("gpt2_trained", "f32")).logits(ids)
    b = Reference(widened["f32"]).logits(ids)
    assert np.abs(a - b).max() < 1e-9
    m = gm.load_gguf(widened["q4_K"], dequantize=False)
    assert {t for n, t in m.types.items() if n.endswith("weight") and "norm" not in n} == {"q4_K"}


def test_q4k_heldout_nll_within_3_percent_micropython(widened):
    """The integer path on the real MicroPython (viper) on held-out text: q4_K's NLL within
    3 % of the f32 model's (measured +2.7 %; q4_0 +3.8 %, q4_1 +3.3 %, q8_0 +0.03 % on the
    same widened fixture)."""
    e = np.load(os.path.join(FIXTURES, "gpt2_trained", "expected.npz"))
    toks, window = [int(t) for t in e["heldout_tokens"]], int(e["heldout_window"])

    def nll(rows_fn, scale=1.0):
        tot, n = 0.0, 0
        for w0 in range(0, len(toks) - 1, window):
            win = toks[w0:w0 + window]
            lg = np.array(rows_fn(win[:-1]), dtype=np.float64) * scale
            mx = lg.max(axis=1, keepdims=True)
            lse = (mx + np.log(np.exp(lg - mx).sum(axis=1, keepdims=True)))[:, 0]
            tot += float((lse - lg[np.arange(len(win) - 1), win[1:]]).sum())
            n += len(win) - 1
        return tot / n

    def mp_rows(ids):
        out = run_micropython_file("forward_logits.py", ["viper", widened["q4_K"], "auto", ",".join(map(str, ids))])
        lines = out.strip().splitlines()
        assert lines[0].split()[1:3] == ["viper", "int"], lines[0]
        return [[int(v) for v in ln.split()] for ln in lines[1:]]

    base = nll(Reference(widened["f32"]).logits)
    got = nll(mp_rows, 1 / 65536)
    print("\nq4_K integer path (MicroPython, viper): held-out NLL %.5f vs f32 %.5f (%+.2f %%)"
          % (got, base, 100 * (got / base - 1)))
    assert got / base - 1 <= 0.03


def test_check_tool_takes_other_k_quants(wide, tmp_path):
    """check.py on a file holding a type the runtime does not run (q5_0 here, gguf's own
    quantizer) checks it re-stored as --as, says so, and reports the file's own NLL."""
    import gguf
    src = str(tmp_path / "q5.gguf")
    hp, vocab, t = wide["hp"], wide["vocab"], dict(wide["tensors"])
    gm.write_gguf(src, hp, t, vocab, "f32")
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(str(tmp_path / "q5_0.gguf"), gm.ARCH)
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        ty = f.types[0]
        if ty == gguf.GGUFValueType.ARRAY:
            w.add_key_value(f.name, f.contents(), ty, sub_type=f.types[-1])
        else:
            w.add_key_value(f.name, f.contents(), ty)
    for tt in r.tensors:
        a = np.asarray(tt.data)
        if a.ndim == 2:
            w.add_tensor(tt.name, gguf.quants.quantize(a, gguf.GGMLQuantizationType.Q5_0),
                         raw_dtype=gguf.GGMLQuantizationType.Q5_0)
        else:
            w.add_tensor(tt.name, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    out = run_tool("check.py", tmp_path / "q5_0.gguf", "--interpreter", "cpython", "--max-tokens", "8", "--as", "q8_0")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "holds q5_0 tensors" in out.stdout and "re-stored as q8_0" in out.stdout
    assert "own weights (reference)" in out.stdout and "check: PASS" in out.stdout


def test_plan_knows_q4k(wide, tmp_path):
    """plan.py reads a q4_K file (integer path), counts a requantization to q4_K exactly, and
    suggests q4_K for a 256-wide model that fits only so."""
    import plan as planner
    info = planner.read_model(wide["q4_K"])
    assert info["types"] == ["q4_K"] and info["integer"]
    r = run_tool("plan.py", wide["q4_K"], "--board", "rp2350")
    assert r.returncode in (0, 1) and "q4_K" in r.stdout, r.stdout + r.stderr
    q8 = str(tmp_path / "q8.gguf")
    gm.quantize_file(wide["f32"], q8, "q8_0", log=lambda s: None)
    info8 = planner.read_model(q8)
    qk = planner.requantized(info8, "q4_K")
    assert [m.nbytes for m in qk["mats"]] == [m.nbytes for m in info["mats"]]
    b = dict(planner.load_board("rp2350"))
    need8 = planner.evaluate(info8, b, stream=False)["total"]
    needk = planner.evaluate(qk, b, stream=False)["total"]
    b["free_heap_bytes"] = (need8 + needk) // 2
    ev = planner.evaluate(info8, b, stream=False)
    assert not ev["fits"]
    assert "q4_K" in planner.suggest(info8, b, ev["ctx"], "mpy", stream=False)


@pytest.fixture(scope="module")
def native_dir(tmp_path_factory):
    import shutil
    r = subprocess.run(["make", "-s", "native", "PY=" + sys.executable], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    d = tmp_path_factory.mktemp("natmod-q4k")
    shutil.copy(os.path.join(ROOT, "build", "natmod", "nanollm_native_x64.mpy"), d / "nanollm_native.mpy")
    return str(d)


def test_native_module_model_equals_cpython_and_allocates_nothing(wide, native_dir):
    """The whole model on the C kernels (the natmod under MicroPython): the same logits as
    plain Python on CPython, and a decode step with the heap locked."""
    m = nanollm.load(wide["q4_K"])
    want = [list(m.forward(t, i)) for i, t in enumerate(IDS[:4])]
    out = run_micropython_file("forward_logits.py", ["native", wide["q4_K"], "auto", ",".join(map(str, IDS[:4]))],
                               path=[native_dir])
    lines = out.strip().splitlines()
    assert lines[0].split()[1:3] == ["native", "int"], lines[0]
    assert [[int(v) for v in ln.split()] for ln in lines[1:]] == want
    out = run_micropython_file("heap_lock_decode.py", [wide["q4_K"], "stream"], path=[native_dir])
    assert out.split()[:2] == ["OK", "native"], out


def test_tensors_already_of_the_type_are_copied(wide, tmp_path):
    """Re-storing a q4_K file as q4_K copies its blocks (no second rounding), and says so."""
    out = tmp_path / "again.gguf"
    r = run_tool("quantize.py", wide["q4_K"], out, "q4_K")
    assert r.returncode == 0, r.stderr
    assert "copied as they are" in r.stdout
    assert "(copied as stored)" in next(ln for ln in r.stdout.splitlines() if ln.startswith("blk.0.ffn_up.weight"))
    a = gm.load_gguf(wide["q4_K"], dequantize=False)
    b = gm.load_gguf(str(out), dequantize=False)
    for n, t in a.types.items():
        assert b.types[n] == t
        assert np.array_equal(np.asarray(a.tensors[n]), np.asarray(b.tensors[n])), n
