"""host_tools/nanollm_host/quants.py (our numpy quantizers) and host_tools/quantize.py (the GGUF re-typer)."""
import os
import subprocess
import sys

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFReader
from gguf import quants as gq

from testutil import FIXTURES, HOST_TOOLS

from nanollm_host import gguf_model as gm
import quantize
from nanollm_host import quants
from nanollm_host.reference import Reference

GGML = {"q8_0": GGMLQuantizationType.Q8_0, "q4_0": GGMLQuantizationType.Q4_0,
        "q4_1": GGMLQuantizationType.Q4_1}
QTYPES = sorted(GGML)

# the "huge" cases overflow fp16 on purpose (in ggml's code as in ours)
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")


def assert_same_as_ggml(x, qtype):
    x = np.ascontiguousarray(x, dtype=np.float32)
    ours = quants.quantize(x, qtype)
    theirs = gq.quantize(x, GGML[qtype])
    assert ours.dtype == np.uint8 and ours.shape == theirs.shape
    if not np.array_equal(ours, theirs):
        bad = np.argwhere(ours != theirs)[0]
        raise AssertionError("%s differs from ggml at byte %s: %d != %d"
                             % (qtype, tuple(bad), ours[tuple(bad)], theirs[tuple(bad)]))
    with np.errstate(invalid="ignore", over="ignore"):
        np.testing.assert_array_equal(quants.dequantize(ours, qtype), gq.dequantize(theirs, GGML[qtype]))


def random_cases():
    rng = np.random.default_rng(1234)
    cases = {}
    for shape in [(1, 32), (3, 64), (17, 96), (64, 256), (2, 4096), (4, 3, 64)]:
        cases["normal%s" % (shape,)] = rng.standard_normal(shape).astype(np.float32)
    cases["uniform"] = rng.uniform(-1, 1, (33, 160)).astype(np.float32)
    cases["positive"] = rng.uniform(0.5, 2, (9, 64)).astype(np.float32)
    cases["negative"] = -rng.uniform(0.5, 2, (9, 64)).astype(np.float32)
    cases["zeros"] = np.zeros((5, 64), np.float32)
    cases["constant rows"] = np.repeat(rng.standard_normal((8, 1)), 96, axis=1).astype(np.float32)
    cases["one nonzero"] = np.zeros((4, 32), np.float32)
    cases["one nonzero"][np.arange(4), [0, 7, 16, 31]] = [3.0, -2.0, 1e-3, -7.5]
    cases["huge"] = (rng.standard_normal((6, 64)) * 1e30).astype(np.float32)
    cases["beyond fp16"] = (rng.standard_normal((6, 64)) * 1e6).astype(np.float32)
    cases["tiny"] = (rng.standard_normal((6, 64)) * 1e-30).astype(np.float32)
    cases["fp16 subnormal scale"] = (rng.standard_normal((6, 64)) * 1e-5).astype(np.float32)
    cases["mixed magnitudes"] = (rng.standard_normal((16, 64)) * 10.0 ** rng.integers(-8, 8, (16, 1))).astype(np.float32)
    cases["heavy tails"] = rng.standard_cauchy((20, 128)).astype(np.float32)
    # exact rounding ties: q8_0 with amax 127 has d = 1, so k + 0.5 sits on a tie
    t = rng.integers(-126, 126, (8, 32)).astype(np.float32) + 0.5
    t[:, 0] = 127.0
    cases["q8_0 ties"] = t
    # q4_0 with max -8 has d = 1: (x + 8.5) lands on integers
    t = rng.integers(-7, 7, (8, 32)).astype(np.float32) + 0.5
    t[:, 3] = -8.0
    cases["q4_0 ties"] = t
    # q4_1 with min 0, max 15 has d = 1: x + 0.5 lands on integers
    t = rng.integers(0, 14, (8, 32)).astype(np.float32) + 0.5
    t[:, 0], t[:, 1] = 0.0, 15.0
    cases["q4_1 ties"] = t
    # a +/- pair of equal magnitude: q4_0 must take the first one's sign
    t = rng.uniform(-1, 1, (4, 32)).astype(np.float32)
    t[0, 2], t[0, 9] = 3.0, -3.0
    t[1, 2], t[1, 9] = -3.0, 3.0
    cases["q4_0 max ties"] = t
    cases["small ints"] = rng.integers(-3, 4, (10, 64)).astype(np.float32)
    return cases


CASES = random_cases()


@pytest.mark.parametrize("qtype", QTYPES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_byte_identical_to_ggml(qtype, case):
    assert_same_as_ggml(CASES[case], qtype)


@pytest.mark.parametrize("qtype", QTYPES)
def test_byte_identical_on_checkpoint_tensors(qtype):
    from safetensors.numpy import load_file

    sd = load_file(os.path.join(FIXTURES, "gpt2_trained", "model.safetensors"))
    n = 0
    for name, w in sorted(sd.items()):
        if w.ndim == 2:
            for mat in (w, w.T):  # both layouts, each row must be a multiple of 32
                if mat.shape[-1] % 32 == 0:
                    assert_same_as_ggml(mat, qtype)
                    n += 1
    assert n >= 10


def test_f16_and_f32():
    x = CASES["mixed magnitudes"]
    np.testing.assert_array_equal(quants.quantize(x, "f16"), gq.quantize(x, GGMLQuantizationType.F16))
    np.testing.assert_array_equal(quants.dequantize(quants.quantize(x, "f16"), "f16"),
                                  x.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(quants.quantize(x, "f32"), x)


def test_block_layout():
    x = np.arange(32, dtype=np.float32) - 16.0  # max magnitude: -16 at element 0
    raw = quants.quantize(x[None, :], "q4_0")[0]
    assert raw.size == 18
    assert np.frombuffer(raw[:2].tobytes(), "<f2")[0] == 2.0  # d = -16 / -8
    q = (x / 2.0 + 8.5).astype(int).clip(0, 15)
    assert raw[2] == q[0] | (q[16] << 4)  # byte j: element j low, element j+16 high
    assert quants.row_bytes(64, "q8_0") == 68 and quants.row_bytes(64, "q4_1") == 40
    with pytest.raises(ValueError):
        quants.quantize(np.zeros((2, 48), np.float32), "q8_0")


# --------------------------------------------------------------------------- quantize.py

@pytest.fixture(scope="module")
def f32_models(fixture_gguf):
    return {name: fixture_gguf(name, "f32") for name in ("gpt2_tiny", "gpt2_trained", "gpt2_odd")}


def run_quantize(*args):
    return subprocess.run([sys.executable, os.path.join(HOST_TOOLS, "quantize.py")] + [str(a) for a in args],
                          capture_output=True, text=True)


def test_table_and_sizes(f32_models, tmp_path):
    src = f32_models["gpt2_tiny"]
    out = tmp_path / "q8.gguf"
    res = run_quantize(src, out, "q8_0")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["tensor", "shape", "type", "bytes", "in", "bytes", "out"]
    r = GGUFReader(str(out))
    for t in r.tensors:
        row = [ln for ln in lines if ln.split()[:1] == [t.name]]
        assert len(row) == 1, t.name
        cols = row[0].split()
        assert cols[1] == "x".join(str(int(d)) for d in reversed(t.shape))
        want = "q8_0" if len(t.shape) == 2 else "f32"
        assert cols[2:5] == ["f32", "->", want]
        assert int(cols[6]) == t.n_bytes
        assert int(cols[5]) == t.n_elements * 4
    assert "token_embd.weight" in res.stdout and "320x64" in res.stdout
    size_line = [ln for ln in lines if ln.startswith("file size:")][0]
    assert "(%d -> %d bytes)" % (os.path.getsize(src), os.path.getsize(out)) in size_line
    assert os.path.getsize(out) < 0.35 * os.path.getsize(src)
    assert GGUFReader(str(out)).fields["general.file_type"].contents() == 7


@pytest.mark.parametrize("qtype,num", [("q8_0", 7), ("q4_0", 2), ("q4_1", 3), ("f16", 1), ("f32", 0)])
def test_type_numbers_and_names(f32_models, tmp_path, qtype, num):
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    assert quantize.main([f32_models["gpt2_tiny"], str(a), qtype, "-q"]) == 0
    assert quantize.main([f32_models["gpt2_tiny"], str(b), str(num), "-q"]) == 0
    assert a.read_bytes() == b.read_bytes()
    # the same bytes as converting straight from the HF folder
    c = tmp_path / "c.gguf"
    gm.convert_checkpoint(os.path.join(FIXTURES, "gpt2_tiny"), str(c), qtype)
    assert a.read_bytes() == c.read_bytes()


def test_quantized_tensors_are_ggml_bytes(f32_models, tmp_path):
    out = tmp_path / "q4.gguf"
    assert run_quantize(f32_models["gpt2_trained"], out, "q4_1").returncode == 0
    src = gm.load_gguf(f32_models["gpt2_trained"])
    for t in GGUFReader(str(out)).tensors:
        if t.tensor_type == GGMLQuantizationType.Q4_1:
            want = gq.quantize(src.tensors[t.name], GGMLQuantizationType.Q4_1)
            np.testing.assert_array_equal(np.asarray(t.data), want)


def test_round_trip_q8_0(f32_models, tmp_path):
    src = f32_models["gpt2_trained"]
    q8, back = tmp_path / "q8.gguf", tmp_path / "back.gguf"
    assert run_quantize(src, q8, "q8_0").returncode == 0
    res = run_quantize(q8, back, "f32")
    assert res.returncode == 0
    assert "dequantized to f32" in res.stdout
    a, b, q = gm.load_gguf(src), gm.load_gguf(str(back)), gm.load_gguf(str(q8))
    assert set(b.types.values()) == {"f32"}
    for name, w in a.tensors.items():
        np.testing.assert_array_equal(b.tensors[name], q.tensors[name])  # lossless from q8_0 on
        if w.ndim == 1:
            np.testing.assert_array_equal(b.tensors[name], w)
            continue
        blocks = w.reshape(-1, 32)
        err = np.abs(b.tensors[name].reshape(-1, 32) - blocks)
        amax = np.abs(blocks).max(axis=1, keepdims=True)
        # half a step of d = amax/127, plus fp16 rounding of d
        assert np.all(err <= amax * (0.5 / 127 + 1e-3) + 1e-12), name


def test_requantize_says_so(f32_models, tmp_path):
    q8, q4 = tmp_path / "q8.gguf", tmp_path / "q4.gguf"
    assert run_quantize(f32_models["gpt2_tiny"], q8, "q8_0").returncode == 0
    res = run_quantize(q8, q4, "q4_0")
    assert res.returncode == 0
    assert "holds q8_0 tensors; they are dequantized to f32" in res.stdout
    assert "q8_0 -> q4_0" in res.stdout


def test_odd_model_falls_back(f32_models, tmp_path):
    res = run_quantize(f32_models["gpt2_odd"], tmp_path / "o.gguf", "q4_0")
    assert res.returncode == 0
    assert "kept f32: row length 48 is not a multiple of 32" in res.stdout
    assert "kept f32: row length 100 is not a multiple of 32" in res.stdout


def test_bad_inputs(f32_models, tmp_path):
    notgguf = tmp_path / "x.gguf"
    notgguf.write_text("just text\n")
    trunc = tmp_path / "t.gguf"
    trunc.write_bytes(open(f32_models["gpt2_tiny"], "rb").read()[:3000])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "o.gguf"
    for args, fragment in (((notgguf, out, "q8_0"), "not a GGUF file"),
                           ((trunc, out, "q8_0"), "truncated"),
                           ((tmp_path / "absent.gguf", out, "q8_0"), "no such file"),
                           ((f32_models["gpt2_tiny"], out, "q3_k"), "unknown type 'q3_k'"),
                           ((f32_models["gpt2_tiny"], out, "5"), "unknown type '5'")):
        res = run_quantize(*args)
        assert res.returncode != 0
        assert "Traceback" not in res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], res.stderr
        assert os.listdir(out_dir) == []
    assert run_quantize("--help").returncode == 0


# --------------------------------------------------------------------------- accuracy

def test_quantized_nll_close_to_f32(f32_models, tmp_path):
    """The trained model's held-out NLL barely moves under q8_0, and a little under q4_x."""
    e = np.load(os.path.join(FIXTURES, "gpt2_trained", "expected.npz"))
    ids, window = e["heldout_tokens"], int(e["heldout_window"])
    base = Reference(f32_models["gpt2_trained"]).nll_windows(ids, window)
    limits = {"q8_0": 0.005, "f16": 0.001, "q4_0": 0.05, "q4_1": 0.05}
    for qtype, limit in limits.items():
        p = tmp_path / ("%s.gguf" % qtype)
        gm.quantize_file(f32_models["gpt2_trained"], str(p), qtype, log=lambda s: None)
        nll = Reference(str(p)).nll_windows(ids, window)
        rel = abs(nll - base) / base
        print("%s: held-out NLL %.4f vs f32 %.4f (%.2f %%)" % (qtype, nll, base, 100 * rel))
        assert rel < limit, (qtype, nll, base)
