"""GPT-2 (HF GPT2LMHeadModel layout, tied head) built from the autodiff ops.

Parameters live in a dict keyed by the Hugging Face tensor names, in HF's Conv1D
layout (weights are (in, out)), so a checkpoint is just that dict written out.
"""
import json
import math

import numpy as np

from . import ops
from .autodiff import Tensor


class Config:
    def __init__(self, vocab_size, n_layer, n_embd, n_head, n_ctx, layer_norm_epsilon=1e-5,
                 bos_token_id=None, eos_token_id=None, n_inner=None):
        self.vocab_size = int(vocab_size)
        self.n_layer = int(n_layer)
        self.n_embd = int(n_embd)
        self.n_head = int(n_head)
        self.n_ctx = int(n_ctx)
        # feed-forward width; GPT-2's is 4 * n_embd (written as n_inner null in config.json)
        self.n_inner = 4 * self.n_embd if n_inner is None else int(n_inner)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.bos_token_id = vocab_size - 1 if bos_token_id is None else int(bos_token_id)
        self.eos_token_id = vocab_size - 1 if eos_token_id is None else int(eos_token_id)
        if self.n_embd % self.n_head:
            raise ValueError("n_embd %d is not divisible by n_head %d" % (self.n_embd, self.n_head))

    def to_hf(self):
        """The config.json dict of an HF GPT2LMHeadModel with these sizes."""
        return {
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "vocab_size": self.vocab_size,
            "n_positions": self.n_ctx,
            "n_ctx": self.n_ctx,
            "n_embd": self.n_embd,
            "n_layer": self.n_layer,
            "n_head": self.n_head,
            "n_inner": None if self.n_inner == 4 * self.n_embd else self.n_inner,
            "activation_function": "gelu_new",
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "resid_pdrop": 0.0,
            "embd_pdrop": 0.0,
            "attn_pdrop": 0.0,
            "initializer_range": 0.02,
            "scale_attn_weights": True,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "tie_word_embeddings": True,
            "torch_dtype": "float32",
        }

    @classmethod
    def from_hf(cls, d):
        return cls(d["vocab_size"], d["n_layer"], d["n_embd"], d["n_head"], d["n_positions"],
                   d.get("layer_norm_epsilon", 1e-5), d.get("bos_token_id"), d.get("eos_token_id"),
                   d.get("n_inner"))

    def __repr__(self):
        return "Config(%s)" % json.dumps(self.to_hf())


def param_shapes(cfg):
    """Ordered {HF name: shape} of every trainable tensor."""
    V, E, C, F = cfg.vocab_size, cfg.n_embd, cfg.n_ctx, cfg.n_inner
    s = {"transformer.wte.weight": (V, E), "transformer.wpe.weight": (C, E)}
    for i in range(cfg.n_layer):
        h = "transformer.h.%d." % i
        s[h + "ln_1.weight"] = (E,)
        s[h + "ln_1.bias"] = (E,)
        s[h + "attn.c_attn.weight"] = (E, 3 * E)
        s[h + "attn.c_attn.bias"] = (3 * E,)
        s[h + "attn.c_proj.weight"] = (E, E)
        s[h + "attn.c_proj.bias"] = (E,)
        s[h + "ln_2.weight"] = (E,)
        s[h + "ln_2.bias"] = (E,)
        s[h + "mlp.c_fc.weight"] = (E, F)
        s[h + "mlp.c_fc.bias"] = (F,)
        s[h + "mlp.c_proj.weight"] = (F, E)
        s[h + "mlp.c_proj.bias"] = (E,)
    s["transformer.ln_f.weight"] = (E,)
    s["transformer.ln_f.bias"] = (E,)
    return s


def n_params(cfg):
    return sum(int(np.prod(s)) for s in param_shapes(cfg).values())


def init_params(cfg, rng, dtype=np.float32):
    """GPT-2 initialisation: N(0, 0.02) weights, residual projections scaled by
    1/sqrt(2 n_layer), zero biases, unit layer-norm gains. Returns {name: Tensor}."""
    params = {}
    resid_std = 0.02 / math.sqrt(2 * cfg.n_layer)
    for name, shape in param_shapes(cfg).items():
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
            a = np.ones(shape)
        elif name.endswith(".bias"):
            a = np.zeros(shape)
        elif name.endswith("c_proj.weight"):
            a = rng.normal(0.0, resid_std, size=shape)
        elif name == "transformer.wpe.weight":
            a = rng.normal(0.0, 0.01, size=shape)
        else:
            a = rng.normal(0.0, 0.02, size=shape)
        params[name] = Tensor(a.astype(dtype), requires_grad=True, name=name)
    return params


def forward(params, cfg, ids):
    """Logits Tensor (B, T, V) for integer ids (B, T) (or (T,) -> (T, V))."""
    ids = np.asarray(ids)
    squeeze = ids.ndim == 1
    if squeeze:
        ids = ids[None, :]
    B, T = ids.shape
    if T > cfg.n_ctx:
        raise ValueError("sequence of %d tokens is longer than n_ctx %d" % (T, cfg.n_ctx))
    P = params
    eps = cfg.layer_norm_epsilon
    x = ops.add(ops.embedding(P["transformer.wte.weight"], ids),
                ops.embedding(P["transformer.wpe.weight"], np.arange(T)))
    for i in range(cfg.n_layer):
        h = "transformer.h.%d." % i
        a = ops.layer_norm(x, P[h + "ln_1.weight"], P[h + "ln_1.bias"], eps)
        a = ops.linear(a, P[h + "attn.c_attn.weight"], P[h + "attn.c_attn.bias"])
        a = ops.causal_attention(a, cfg.n_head)
        a = ops.linear(a, P[h + "attn.c_proj.weight"], P[h + "attn.c_proj.bias"])
        x = ops.add(x, a)
        m = ops.layer_norm(x, P[h + "ln_2.weight"], P[h + "ln_2.bias"], eps)
        m = ops.gelu(ops.linear(m, P[h + "mlp.c_fc.weight"], P[h + "mlp.c_fc.bias"]))
        m = ops.linear(m, P[h + "mlp.c_proj.weight"], P[h + "mlp.c_proj.bias"])
        x = ops.add(x, m)
    x = ops.layer_norm(x, P["transformer.ln_f.weight"], P["transformer.ln_f.bias"], eps)
    logits = ops.matmul_t(x, P["transformer.wte.weight"])
    if squeeze:
        logits = ops.reshape(logits, logits.shape[1:])
    return logits


def loss_fn(params, cfg, x, y):
    """Mean next-token cross-entropy (nats) of targets y given inputs x, both (B, T)."""
    return ops.cross_entropy(forward(params, cfg, x), y)


def logits_numpy(params, cfg, ids):
    """Plain-array logits without recording a graph."""
    frozen = {k: Tensor(v.data if isinstance(v, Tensor) else np.asarray(v)) for k, v in params.items()}
    return forward(frozen, cfg, ids).data


def generate(params, cfg, prompt_ids, n_new, temperature=1.0, top_k=None, rng=None):
    """Extend prompt_ids by n_new tokens. temperature 0 = greedy. Returns a list of ids."""
    ids = list(int(t) for t in prompt_ids)
    if not ids:
        ids = [cfg.bos_token_id]
    rng = rng if rng is not None else np.random.default_rng(0)
    frozen = {k: Tensor(v.data) for k, v in params.items()}
    for _ in range(n_new):
        window = ids[-cfg.n_ctx:]
        logits = forward(frozen, cfg, np.asarray(window)).data[-1].astype(np.float64)
        if temperature <= 0:
            nxt = int(np.argmax(logits))
        else:
            z = logits / temperature
            if top_k:
                kth = np.sort(z)[-top_k]
                z = np.where(z < kth, -np.inf, z)
            p = np.exp(z - z.max())
            p /= p.sum()
            nxt = int(rng.choice(len(p), p=p))
        ids.append(nxt)
    return ids
