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
