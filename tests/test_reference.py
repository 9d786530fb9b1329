"""host_tools/nanollm_host/reference.py against the Hugging Face (torch) outputs stored in the fixtures.

The fixtures' expected.npz files were made by host_tools/gen/make_fixtures.py with transformers'
GPT2LMHeadModel in float32; torch is not needed here. Measured when the fixtures were made:
max |reference - HF| logits about 4-5e-6 on every fixture (the tolerance is 1e-4).
"""
import os

import numpy as np
import pytest

from testutil import FIXTURES

from nanollm_host import gguf_model as gm
from nanollm_host.reference import Reference, gelu_tanh

NAMES = ["gpt2_tiny", "gpt2_odd", "gpt2_untied", "gpt2_trained"]


@pytest.fixture(scope="module")
def refs(fixture_gguf):
    return {name: Reference(fixture_gguf(name, "f32")) for name in NAMES}


def expected(name):
    return np.load(os.path.join(FIXTURES, name, "expected.npz"))


@pytest.mark.parametrize("name", NAMES)
def test_logits_match_hf(refs, name):
    e = expected(name)
    lg = refs[name].logits(e["tokens"])
    assert lg.shape == e["logits"].shape
    diff = float(np.abs(lg - e["logits"]).max())
    print("%s: %d tokens, max |ref - HF| = %.2e" % (name, len(e["tokens"]), diff))
    assert diff <= 1e-4
    # the fixtures are not degenerate: positions and tokens really differ
    assert e["logits"].std() > 0.5
    assert (lg.argmax(axis=1) == e["logits"].argmax(axis=1)).all()


@pytest.mark.parametrize("name", NAMES)
def test_causal(refs, name):
    """Logits of a prefix do not depend on what follows it."""
    ids = expected(name)["tokens"]
    full = refs[name].logits(ids)
    part = refs[name].logits(ids[:5])
    np.testing.assert_allclose(part, full[:5], rtol=0, atol=1e-10)


def test_trained_nll_matches_torch(refs):
    e = expected("gpt2_trained")
    ids, window = e["heldout_tokens"], int(e["heldout_window"])
    ref = refs["gpt2_trained"]
    losses = [ref.nll(ids[s:s + window]) for s in range(0, len(ids), window)]
    np.testing.assert_allclose(losses, e["heldout_losses"], rtol=0, atol=2e-5)
    assert ref.nll_windows(ids, window) == pytest.approx(float(np.mean(e["heldout_losses"])), abs=2e-5)
    # it learned something: well below the uniform log(512) = 6.24
    assert np.mean(losses) < 4.0


def test_trained_greedy_matches_hf(refs):
    e = expected("gpt2_trained")
    assert refs["gpt2_trained"].greedy(e["greedy_prompt"], len(e["greedy_tokens"])) == \
        [int(t) for t in e["greedy_tokens"]]


def test_nll_definition(refs):
    ref = refs["gpt2_tiny"]
    ids = expected("gpt2_tiny")["tokens"][:10]
    lg = ref.logits(ids)
    p = np.exp(lg - lg.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    want = -np.mean(np.log(p[np.arange(9), ids[1:]]))
    assert ref.nll(ids) == pytest.approx(want, rel=1e-12)


def test_gelu_is_tanh_form():
    x = np.array([-3.0, -1.0, 0.0, 0.5, 2.0])
    want = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(gelu_tanh(x), want, rtol=1e-15)


def test_bad_tokens(refs):
    ref = refs["gpt2_tiny"]
    with pytest.raises(gm.ToolError, match="outside the vocabulary"):
        ref.logits([1, 2, ref.n_vocab])
    with pytest.raises(gm.ToolError, match="exceed the model's context"):
        ref.logits([1] * (ref.n_ctx + 1))
    with pytest.raises(gm.ToolError, match="no tokens"):
        ref.logits([])


def test_quantized_reference_is_close(refs, tmp_path):
    """The reference runs quantized files too (weights dequantized)."""
    e = expected("gpt2_tiny")
    p = str(tmp_path / "q8.gguf")
    gm.convert_checkpoint(os.path.join(FIXTURES, "gpt2_tiny"), p, "q8_0")
    lg = Reference(p).logits(e["tokens"])
    assert np.abs(lg - e["logits"]).max() < 0.25
