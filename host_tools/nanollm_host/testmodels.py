"""The models the tests and harnesses use, made once under build/devtest: the trained test
fixture as q8_0 (until lib/nanollm/model.gguf exists), and a random model larger than a
small board's heap (to test streaming)."""
import os

from nanollm_host.paths import BUILD as _BUILD, DEFAULT_MODEL, FIXTURES

BUILD = os.path.join(_BUILD, "devtest")
FIXTURE = os.path.join(FIXTURES, "gpt2_trained")


def _stale(out, *inputs):
    if not os.path.exists(out):
        return True
    t = os.path.getmtime(out)
    return any(os.path.getmtime(p) > t for p in inputs if os.path.exists(p))


# the block types the integer path runs (one matvec kernel each)
QUANT_TYPES = ("q8_0", "q4_0", "q4_1")


def fixture_model(qtype="q8_0"):
    """The trained test fixture as q8_0 (used until lib/nanollm/model.gguf exists), or
    as another of QUANT_TYPES."""
    out = os.path.join(BUILD, "fixture_%s.gguf" % qtype)
    src = os.path.join(FIXTURE, "model.safetensors")
    if _stale(out, src):
        from nanollm_host.gguf_model import convert_checkpoint
        os.makedirs(BUILD, exist_ok=True)
        convert_checkpoint(FIXTURE, out, qtype)
    return out


def default_model():
    return DEFAULT_MODEL if os.path.exists(DEFAULT_MODEL) else fixture_model()


def big_model(n_layer=3, n_embd=128, n_ff=512, n_ctx=64, seed=1):
    """A q8_0 GPT-2 with random weights and the fixture's vocabulary, larger than a small
    board's heap (n_layer=3: about 700 KB). Made once under build/devtest."""
    out = os.path.join(BUILD, "big_l%d_e%d_f%d_c%d_q8_0.gguf" % (n_layer, n_embd, n_ff, n_ctx))
    if not os.path.exists(out):
        import numpy as np
        from nanollm_host import gguf_model as gm
        hp0, _, vocab, _ = gm.read_hf_dir(FIXTURE)
        hp = gm.HParams(n_vocab=hp0.n_vocab, n_ctx=n_ctx, n_embd=n_embd, n_ff=n_ff, n_layer=n_layer,
                        n_head=4, eps=1e-5, tied=True, bos_token_id=hp0.bos_token_id,
                        eos_token_id=hp0.eos_token_id, name="random-big")
        rng = np.random.default_rng(seed)
        tensors = {}
        for name, shape in gm.expected_shapes(hp).items():
            if name.endswith("norm.weight"):
                tensors[name] = np.ones(shape, np.float32)
            elif len(shape) == 1:
                tensors[name] = np.zeros(shape, np.float32)
            else:
                tensors[name] = (rng.standard_normal(shape) * 0.05).astype(np.float32)
        os.makedirs(BUILD, exist_ok=True)
        gm.write_gguf(out, hp, tensors, vocab, "q8_0")
    return out
