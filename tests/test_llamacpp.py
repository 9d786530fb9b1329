"""llama.cpp interoperability: the same GGUF files in both runtimes.

- llama.cpp loads our converted GPT-2 GGUF and continues a prompt greedily with the same 32
  tokens as our runtime (f32 file), and tokenizes text to the same ids.
- q8_0: llama.cpp also quantizes activations (and keeps an f16 KV cache), our integer path
  uses Q16 activations and an int8 KV cache: we record the first divergence of the greedy
  continuations and compare the NLL of both on a held-out text.
- our runtime loads a GGUF made by llama.cpp's own convert_hf_to_gguf.py from the same HF
  checkpoint and gives the same logits as on our conversion (<= 1e-4).

Needs `make llamacpp` (a make test prerequisite: mk/bench.mk), torch + transformers for
llama.cpp's converter. Findings are printed (pytest -s) and kept in .cache/llamacpp/interop.json.
"""
import json
import math
import os
import sys

import numpy as np
import pytest

from testutil import CACHE, FIXTURES, ROOT

from nanollm_host import gguf_model as gm

from nanollm_host import llamacpp

TRAINED = os.path.join(FIXTURES, "gpt2_trained")
DEFAULT_MODEL = os.path.join(ROOT, "lib", "nanollm", "model.gguf")
PROMPT = "First Citizen:\nBefore we proceed any further, hear me"
WORK = os.path.join(CACHE, "llamacpp", "test")
FINDINGS = os.path.join(CACHE, "llamacpp", "interop.json")


def record(key, value):
    os.makedirs(os.path.dirname(FINDINGS), exist_ok=True)
    try:
        with open(FINDINGS) as f:
            d = json.load(f)
    except (OSError, ValueError):
        d = {}
    d[key] = value
    with open(FINDINGS + ".tmp", "w") as f:
        json.dump(d, f, indent=1)
    os.replace(FINDINGS + ".tmp", FINDINGS)
    print("\n[interop] %s: %s" % (key, value))


@pytest.fixture(scope="module")
def driver():
    if not llamacpp.available():
        llamacpp.build()  # normally done by `make llamacpp` before the tests
    assert os.path.exists(llamacpp.DRIVER)
    return llamacpp.DRIVER


@pytest.fixture(scope="module")
def files():
    """f32 and q8_0 files of the trained model: the default model when it has landed
    (re-stored by our quantize.py), else tests/fixtures/gpt2_trained converted by convert.py."""
    os.makedirs(WORK, exist_ok=True)
    out = {}
    if os.path.exists(DEFAULT_MODEL):
        tag = "default-%d" % os.path.getsize(DEFAULT_MODEL)
        for t in ("f32", "q8_0"):
            p = os.path.join(WORK, "%s-%s.gguf" % (tag, t))
            if not os.path.exists(p):
                gm.quantize_file(DEFAULT_MODEL, p, t, log=lambda s: None)
            out[t] = p
        out["source"] = "lib/nanollm/model.gguf"
    else:
        for t in ("f32", "q8_0"):
            p = os.path.join(WORK, "trained-%s.gguf" % t)
            gm.convert_checkpoint(TRAINED, p, t)
            out[t] = p
        out["source"] = "tests/fixtures/gpt2_trained"
    return out


def ours_run(path, ids, n_gen):
    """Our runtime (CPython): logits of every position (prompt and generated), greedy tokens."""
    import nanollm
    from nanollm.sampling import Sampler
    m = nanollm.load(path, ctx=len(ids) + n_gen)
    s = Sampler(m.n_vocab, m.logit_scale, 0, 0, 1.0, 1)
    rows, toks = [], []
    logits = None
    for p, t in enumerate(ids):
        logits = m.forward(t, p)
        rows.append(np.array(logits, dtype=np.float64) * m.logit_scale)
    for k in range(n_gen):
        tok = s.sample(logits)
        toks.append(tok)
        if k == n_gen - 1:
            break
        logits = m.forward(tok, len(ids) + k)
        rows.append(np.array(logits, dtype=np.float64) * m.logit_scale)
    tokens = m.tokenize
    m.close()
    return np.array(rows), toks, tokens


def nll(logits_rows, ids):
    """Mean negative log-likelihood (nats) of ids[1:] given the logits at positions 0..n-2."""
    tot = 0.0
    for p in range(len(ids) - 1):
        z = logits_rows[p].astype(np.float64)
        mx = z.max()
        tot += mx + math.log(np.exp(z - mx).sum()) - z[ids[p + 1]]
    return tot / (len(ids) - 1)


def prompt_ids(path, text=PROMPT):
    import nanollm
    m = nanollm.load(path, ctx=8)
    ids = m.tokenize(text)
    m.close()
    return ids


def test_llamacpp_greedy_matches_ours_f32(driver, files):
    path = files["f32"]
    ids = prompt_ids(path)
    assert len(ids) > 4
    ours_logits, ours_toks, _ = ours_run(path, ids, 32)
    r = llamacpp.run(path, ids, 32, threads=1, logits=True, kv_f32=True)
    assert r["n_vocab"] == ours_logits.shape[1]
    assert r["prompt"] == ids
    record("f32 greedy (%s)" % files["source"], {"ours": ours_toks, "llama.cpp": r["tokens"]})
    assert r["tokens"] == ours_toks, "greedy continuations differ at %d" % next(
        i for i, (a, b) in enumerate(zip(r["tokens"], ours_toks)) if a != b)
    # the logits themselves: ggml's CPU GELU rounds its input and output to f16 (a lookup
    # table, GGML_GELU_FP16 in ggml-cpu/vec.h), so they agree to about 1e-3 of the logit range
    diff = float(np.abs(r["logits"] - ours_logits).max())
    span = float(np.ptp(ours_logits, axis=1).max())
    record("f32 max |logit diff| llama.cpp (f32 KV) vs ours, and logit range", [diff, span])
    assert diff <= 2e-3 * span


def test_llamacpp_default_f16_kv_same_greedy(driver, files):
    """llama.cpp's default f16 KV cache: the greedy continuation is still ours."""
    path = files["f32"]
    ids = prompt_ids(path)
    _, ours_toks, _ = ours_run(path, ids, 32)
    r = llamacpp.run(path, ids, 32, threads=2)
    same = next((i for i, (a, b) in enumerate(zip(r["tokens"], ours_toks)) if a != b), 32)
    record("f32 greedy with llama.cpp's f16 KV cache: agree for", same)
    assert same >= 16


@pytest.mark.parametrize("text", [PROMPT, "Hello world", "  two  spaces\n\nand lines\t tab",
                                  "O Romeo, Romeo! wherefore art thou Romeo?", "caf\u00e9 na\u00efve \u2014 1234 56"])
def test_tokenizer_agrees_with_llamacpp(driver, files, text):
    path = files["f32"]
    assert llamacpp.tokenize(path, text) == prompt_ids(path, text)


def test_llamacpp_q8_0_divergence_and_nll(driver, files, corpus_path):
    """q8_0: both quantize differently beyond the weights; report, and bound the NLL gap."""
    with open(corpus_path, encoding="utf-8") as f:
        f.seek(1000000)
        text = f.read(4000)
    text = text[text.index("\n\n") + 2:]
    path8, path32 = files["q8_0"], files["f32"]
    import nanollm
    m = nanollm.load(path8, ctx=8)
    n_ctx = m.n_ctx_train
    m.close()
    ids = prompt_ids(path8, text)[:min(n_ctx, 64)]
    ours8, _, _ = ours_run(path8, ids, 0)
    ours32, _, _ = ours_run(path32, ids, 0)
    r8 = llamacpp.run(path8, ids, 0, threads=1, logits=True)
    nll_ours8, nll_ours32, nll_llama8 = nll(ours8, ids), nll(ours32, ids), nll(r8["logits"], ids)
    # greedy continuation of the prompt, 32 tokens
    p = prompt_ids(path8)
    _, toks_ours, _ = ours_run(path8, p, 32)
    rg = llamacpp.run(path8, p, 32, threads=1)
    first = next((i for i, (a, b) in enumerate(zip(rg["tokens"], toks_ours)) if a != b), None)
    record("q8_0 (%s)" % files["source"], {
        "first greedy divergence (of 32)": first, "ours": toks_ours, "llama.cpp": rg["tokens"],
        "NLL nats/token over %d tokens: ours q8_0" % (len(ids) - 1): round(float(nll_ours8), 5),
        "llama.cpp q8_0": round(float(nll_llama8), 5), "ours f32": round(float(nll_ours32), 5)})
    assert all(math.isfinite(v) for v in (nll_ours8, nll_ours32, nll_llama8))
    # both q8_0 runtimes within 2% of the f32 NLL, and of each other
    assert abs(nll_ours8 - nll_ours32) <= 0.02 * nll_ours32
    assert abs(nll_llama8 - nll_ours32) <= 0.02 * nll_ours32
    assert first is None or first >= 4


def test_ours_runs_llamacpp_converter_output(driver, files, tmp_path):
    """llama.cpp's convert_hf_to_gguf.py on the same HF checkpoint: identical tensors, and our
    runtime gives the same logits on it as on our own conversion."""
    ours_path = str(tmp_path / "ours-f32.gguf")
    theirs = str(tmp_path / "llamacpp-f32.gguf")
    gm.convert_checkpoint(TRAINED, ours_path, "f32")
    notes = llamacpp.convert_hf(TRAINED, theirs, "f32")
    record("llama.cpp converter needed", notes)
    from gguf import GGUFReader
    a, b = GGUFReader(ours_path), GGUFReader(theirs)
    ta = {t.name: t for t in a.tensors}
    tb = {t.name: t for t in b.tensors}
    assert sorted(ta) == sorted(tb)
    for n in ta:
        assert ta[n].tensor_type == tb[n].tensor_type, n
        assert np.array_equal(np.asarray(ta[n].data), np.asarray(tb[n].data)), n
    for k in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type",
              "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "gpt2.context_length",
              "gpt2.embedding_length", "gpt2.feed_forward_length", "gpt2.block_count",
              "gpt2.attention.head_count", "gpt2.attention.layer_norm_epsilon"):
        assert a.fields[k].contents() == b.fields[k].contents(), k
    only = sorted((set(a.fields) ^ set(b.fields)) - {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"})
    record("metadata keys in only one of the files", only)
    ids = prompt_ids(theirs)
    la, _, _ = ours_run(ours_path, ids, 8)
    lb, _, _ = ours_run(theirs, ids, 8)
    assert float(np.abs(la - lb).max()) <= 1e-4
    # and against the Hugging Face (PyTorch) logits stored with the fixture
    ref = np.load(os.path.join(TRAINED, "expected.npz"))
    toks = [int(t) for t in ref["tokens"][:24]]
    import nanollm
    m = nanollm.load(theirs, ctx=len(toks))
    got = np.array([np.array(m.forward(t, p)) for p, t in enumerate(toks)])
    m.close()
    diff = float(np.abs(got - ref["logits"][:len(toks)]).max())
    record("ours on llama.cpp's conversion vs transformers logits, max |diff|", diff)
    assert diff <= 1e-4


# ------------------------------------------------------------------ K-quants (issue 17)

def _q4k_rows():
    """Rows to quantize: random shapes of data (spread, skewed, outliers, constant, tiny,
    sparse, heavy-tailed) and every matrix of the default model and of the trained fixture,
    cut into rows of 256."""
    rng = np.random.default_rng(17)
    cases = {
        "normal": rng.standard_normal((64, 512)) * 0.05,
        "uniform": rng.uniform(-1, 1, (32, 256)),
        "positive": np.abs(rng.standard_normal((32, 256))),
        "outliers": rng.standard_normal((32, 768)) * 0.02 + (rng.random((32, 768)) < 0.01) * 3,
        "constant": np.concatenate([np.zeros((2, 256)), np.full((2, 256), 0.3), np.full((2, 256), -2.0)]),
        "tiny": rng.standard_normal((8, 256)) * 1e-7,
        "sparse": rng.standard_normal((16, 256)) * (rng.random((16, 256)) < 0.1),
        "heavy-tailed": rng.standard_t(2, (32, 1024)) * 0.1,
    }
    sources = [("fixture", gm.read_hf_dir(TRAINED)[1])]
    if os.path.exists(DEFAULT_MODEL):
        sources.append(("default model", gm.load_gguf(DEFAULT_MODEL).tensors))
    for tag, tensors in sources:
        flat = np.concatenate([np.asarray(a, np.float32).reshape(-1) for n, a in sorted(tensors.items())
                               if np.asarray(a).ndim == 2])
        cases[tag] = flat[:len(flat) // 256 * 256].reshape(-1, 256)
    return {k: np.asarray(v, np.float32) for k, v in cases.items()}


def test_q4k_quantizer_byte_identical_to_llamacpp(driver):
    """quantize.py's q4_K is ggml's quantize_row_q4_K_ref, byte for byte (ggml_quantize_chunk
    without an importance matrix, as llama-quantize runs without --imatrix)."""
    from nanollm_host import quants
    n = 0
    for name, x in _q4k_rows().items():
        theirs = llamacpp.quantize_rows(x, 12)
        ours = quants.quantize(x, "q4_K")
        assert ours.shape == theirs.shape, name
        bad = np.nonzero((ours != theirs).any(axis=1))[0]
        assert not len(bad), "%s: %d of %d rows differ, first %d" % (name, len(bad), len(x), bad[0])
        n += x.size
    record("q4_K quantizer byte-identical to llama.cpp's on (weights)", n)


@pytest.fixture(scope="module")
def widened_files():
    """The trained fixture tiled to width 256 (nanollm_host/widen.py: the same function), f32,
    and quantized by llama.cpp's own llama_model_quantize as Q4_K_M."""
    from nanollm_host import widen
    os.makedirs(WORK, exist_ok=True)
    f32 = os.path.join(WORK, "widened-f32.gguf")
    if not os.path.exists(f32):
        widen.widen_checkpoint(TRAINED, f32, 4)
    km = os.path.join(WORK, "widened-Q4_K_M.gguf")
    if os.path.exists(km):
        os.remove(km)
    llamacpp.quantize_model(f32, km, 15)  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    return {"f32": f32, "Q4_K_M": km}


def test_llamacpp_q4_k_m_file_converts_and_runs(driver, widened_files, tmp_path):
    """A Q4_K_M GPT-2 made by llama.cpp mixes q4_K with q6_K: the runtime refuses it naming the
    command; that command re-stores it (q6_K dequantized, q4_K re-quantized) and the runtime
    runs the result, near the f32 model."""
    import subprocess
    import sys
    import nanollm
    from nanollm import NanoLLMError
    km = widened_files["Q4_K_M"]
    types = set(gm.load_gguf(km, dequantize=False).types.values())
    record("llama.cpp Q4_K_M of the widened fixture: tensor types", sorted(types))
    assert {"q4_K", "q6_K"} <= types
    with pytest.raises(NanoLLMError) as e:
        nanollm.load(km)
    cmd = str(e.value).split("re-store it on a computer with: ")[1].split()
    assert cmd[:2] == ["python", "host_tools/quantize.py"] and cmd[2] == km
    out = str(tmp_path / "converted-q4_K.gguf")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "host_tools", "quantize.py"), km, out] + cmd[4:],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr
    a, b = gm.load_gguf(km, dequantize=False), gm.load_gguf(out, dequantize=False)
    kept = [n for n, t in a.types.items() if t == "q4_K"]
    assert kept and all(np.array_equal(np.asarray(a.tensors[n]), np.asarray(b.tensors[n])) for n in kept)
    assert set(b.types.values()) <= {"f32", "q4_K", "q8_0"}
    ids = prompt_ids(out)[:40]
    ours_q, _, _ = ours_run(out, ids, 0)
    ours_32, _, _ = ours_run(widened_files["f32"], ids, 0)
    from nanollm_host.reference import Reference
    ref_km = Reference(km).logits(ids)  # the Q4_K_M weights themselves, dequantized
    got = {"ours on the converted q4_K file": nll(ours_q, ids), "reference on the Q4_K_M weights": nll(ref_km, ids),
           "ours f32": nll(ours_32, ids)}
    record("Q4_K_M -> q4_K NLL over %d tokens" % (len(ids) - 1), {k: round(float(v), 5) for k, v in got.items()})
    assert abs(got["ours on the converted q4_K file"] / got["ours f32"] - 1) <= 0.05


def test_llamacpp_runs_our_q4k_file(driver, widened_files, tmp_path):
    """llama.cpp runs quantize.py's q4_K file; its NLL and ours on that file agree within 2 %."""
    path = str(tmp_path / "ours-q4_K.gguf")
    gm.quantize_file(widened_files["f32"], path, "q4_K", log=lambda s: None)
    ids = prompt_ids(path)[:40]
    ours, _, _ = ours_run(path, ids, 0)
    r = llamacpp.run(path, ids, 0, threads=1, logits=True)
    a, b = nll(ours, ids), nll(r["logits"], ids)
    record("our q4_K file: NLL ours, llama.cpp", [round(float(a), 5), round(float(b), 5)])
    assert abs(a - b) <= 0.02 * b
