"""An independent numpy GPT-2 forward pass over our GGUF files, the yardstick for the runtime.

Weights are loaded (and dequantized) with gguf_model; all maths is float64, a whole sequence
at a time with a causal mask:

    x = wte[t] + wpe[pos]
    per block:  h = LN(x);  q, k, v = split(h Wqkv^T + b);  per head softmax(q k^T / sqrt(d)) v
                x += (heads) Wo^T + bo
                x += W_down gelu_tanh(W_up LN(x) + b_up) + b_down
    logits = W_head LN_f(x)      (W_head = token_embd when the head is tied)

    from nanollm_host.reference import Reference
    ref = Reference("model.gguf")
    ref.logits([1, 2, 3])        # (T, n_vocab)
    ref.nll(ids)                 # mean -log p(ids[i+1] | ids[:i+1])
    ref.greedy(prompt_ids, 20)   # the 20 argmax continuation ids

As a command: python -m nanollm_host.reference MODEL.gguf --tokens 1,2,3 [--greedy N]
"""
import argparse
import math
import sys

import numpy as np

from nanollm_host import gguf_model as gm

GELU_C = math.sqrt(2.0 / math.pi)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(GELU_C * (x + 0.044715 * x * x * x)))


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)
    return xc / np.sqrt(var + eps) * w + b


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class Reference:
    def __init__(self, gguf_path):
        self.model = gm.load_gguf(gguf_path)
        self.hparams = hp = self.model.hparams
        self.w = {k: v.astype(np.float64) for k, v in self.model.tensors.items()}
        self.head = self.w["token_embd.weight"] if hp.tied else self.w["output.weight"]
        self.eps = float(hp.eps)

    @property
    def n_vocab(self):
        return self.hparams.n_vocab

    @property
    def n_ctx(self):
        return self.hparams.n_ctx

    def _check(self, ids):
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size == 0:
            raise gm.ToolError("no tokens to run")
        if ids.size > self.n_ctx:
            raise gm.ToolError("%d tokens exceed the model's context of %d" % (ids.size, self.n_ctx))
        if ids.min() < 0 or ids.max() >= self.n_vocab:
            raise gm.ToolError("token id %d is outside the vocabulary (0..%d)"
                               % (ids.max() if ids.max() >= self.n_vocab else ids.min(), self.n_vocab - 1))
        return ids

    def hidden(self, token_ids):
        """Final hidden states after output_norm, (T, n_embd) float64."""
        ids = self._check(token_ids)
        hp, w, eps = self.hparams, self.w, self.eps
        T, H, D = ids.size, hp.n_head, hp.head_dim
        x = w["token_embd.weight"][ids] + w["position_embd.weight"][:T]
        mask = np.triu(np.ones((T, T), dtype=bool), k=1)
        for i in range(hp.n_layer):
            b = "blk.%d." % i
            h = layer_norm(x, w[b + "attn_norm.weight"], w[b + "attn_norm.bias"], eps)
            qkv = h @ w[b + "attn_qkv.weight"].T + w[b + "attn_qkv.bias"]
            q, k, v = np.split(qkv, 3, axis=-1)
            q = q.reshape(T, H, D).transpose(1, 0, 2)
            k = k.reshape(T, H, D).transpose(1, 0, 2)
            v = v.reshape(T, H, D).transpose(1, 0, 2)
            att = q @ k.transpose(0, 2, 1) / math.sqrt(D)
            att[:, mask] = -np.inf
            att = np.exp(att - att.max(axis=-1, keepdims=True))
            att /= att.sum(axis=-1, keepdims=True)
            y = (att @ v).transpose(1, 0, 2).reshape(T, hp.n_embd)
            x = x + y @ w[b + "attn_output.weight"].T + w[b + "attn_output.bias"]
            h = layer_norm(x, w[b + "ffn_norm.weight"], w[b + "ffn_norm.bias"], eps)
            u = gelu_tanh(h @ w[b + "ffn_up.weight"].T + w[b + "ffn_up.bias"])
            x = x + u @ w[b + "ffn_down.weight"].T + w[b + "ffn_down.bias"]
        return layer_norm(x, w["output_norm.weight"], w["output_norm.bias"], eps)

    def logits(self, token_ids):
        """Logits for every position of the sequence, (T, n_vocab) float64."""
        return self.hidden(token_ids) @ self.head.T

    def token_nll(self, token_ids):
        """-log p(token_ids[i+1] | token_ids[:i+1]) for i = 0..T-2, float64 (T-1,)."""
        ids = self._check(token_ids)
        if ids.size < 2:
            raise gm.ToolError("need at least 2 tokens for a next-token loss")
        lp = log_softmax(self.logits(ids)[:-1])
        return -lp[np.arange(ids.size - 1), ids[1:]]

    def nll(self, token_ids):
        """Mean negative log-likelihood (nats) of each next token in the sequence."""
        return float(self.token_nll(token_ids).mean())

    def nll_windows(self, token_ids, window=None):
        """Mean NLL over a long sequence cut into independent windows of `window` tokens
        (default n_ctx); every window contributes window-1 predictions."""
        ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
        window = window or self.n_ctx
        losses = [self.token_nll(ids[s:s + window]) for s in range(0, ids.size - 1, window)
                  if ids[s:s + window].size >= 2]
        return float(np.concatenate(losses).mean())

    def greedy(self, token_ids, n):
        """Extend token_ids by n argmax tokens (full recompute per step); returns the n new ids."""
        seq = [int(t) for t in np.asarray(token_ids).reshape(-1)]
        out = []
        for _ in range(n):
            if len(seq) >= self.n_ctx:
                break
            nxt = int(np.argmax(self.logits(seq)[-1]))
            seq.append(nxt)
            out.append(nxt)
        return out


def parse_tokens(text):
    try:
        return [int(t) for t in text.replace(",", " ").split()]
    except ValueError:
        raise gm.ToolError("tokens must be integers separated by commas or spaces")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="reference.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="GGUF file (any type: weights are dequantized)")
    ap.add_argument("--tokens", required=True, help="token ids, e.g. 1,2,3")
    ap.add_argument("--greedy", type=int, default=0, metavar="N", help="also print N greedy tokens")
    a = ap.parse_args(argv)
    ref = Reference(a.model)
    ids = parse_tokens(a.tokens)
    lg = ref.logits(ids)
    for pos, row in enumerate(lg):
        print("pos %d token %d: argmax %d (%.4f)" % (pos, ids[pos], int(row.argmax()), float(row.max())))
    if len(ids) >= 2:
        print("nll %.6f nats/token" % ref.nll(ids))
    if a.greedy:
        print("greedy:", ",".join(str(t) for t in ref.greedy(ids, a.greedy)))
    return 0


if __name__ == "__main__":
    sys.exit(gm.run_tool(main, prog="reference.py"))
