#!/usr/bin/env python3
"""Build the small GPT-2 checkpoints under tests/fixtures/ (run by hand; outputs are committed).

    python host_tools/gen/make_fixtures.py [--out tests/fixtures] [--train-steps N]

Needs torch and transformers (`pip install torch transformers`); the tests that use the
fixtures need neither. Everything is seeded, so a rerun gives the same tokenizers and the
same random checkpoints (the trained one can differ in the last bits between torch builds).

Each fixture is a Hugging Face GPT-2 folder as `GPT2LMHeadModel.save_pretrained` writes it
(config.json, model.safetensors) plus a byte-level BPE tokenizer trained on tinyshakespeare
with the `tokenizers` package and saved as vocab.json + merges.txt the way GPT2Tokenizer
saves them (`<|endoftext|>` is the last id, as in GPT-2). Beside them, expected.npz holds:

    text      a snippet of the corpus
    tokens    its token ids (int32), at most n_positions of them
    logits    the HF model's logits for `tokens`, float32 (T, n_vocab)

The random fixtures use a 10x larger init (std 0.2) and jittered LayerNorm/bias values, so
that a transposed matrix or a swapped bias shows in the logits. The trained fixture
(`gpt2_trained`) is fitted for a short while on the first 90 % of the corpus; its npz adds

    heldout_tokens   tokens from the last 10 % (int32), a whole number of windows
    heldout_window   the window length (= n_positions)
    heldout_losses   torch's mean next-token loss of each window (float64)
    greedy_prompt    a prompt, and greedy_tokens: HF's 16 greedy continuation tokens
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from nanollm_host.paths import CACHE, FIXTURES, HOST_TOOLS

CORPUS = os.path.join(CACHE, "corpus", "tinyshakespeare.txt")
EOT = "<|endoftext|>"

# name -> (GPT2Config arguments, tokenizer vocab size (incl. <|endoftext|>), seed)
RANDOM_FIXTURES = {
    # the plain case: n_inner null (-> 4 * n_embd), tied head
    "gpt2_tiny": (dict(n_layer=2, n_embd=64, n_head=4, n_inner=None, n_positions=64), 320, 1),
    # sizes that are no multiple of 32 anywhere: quantizers must fall back to f32
    "gpt2_odd": (dict(n_layer=3, n_embd=48, n_head=3, n_inner=100, n_positions=40), 301, 2),
    # a separate lm_head
    "gpt2_untied": (dict(n_layer=1, n_embd=64, n_head=2, n_inner=None, n_positions=32,
                         tie_word_embeddings=False), 320, 3),
}
TRAINED = ("gpt2_trained", dict(n_layer=2, n_embd=64, n_head=4, n_inner=None, n_positions=64), 512, 4)


def read_corpus():
    if not os.path.exists(CORPUS):
        subprocess.run([sys.executable, os.path.join(HOST_TOOLS, "fetch", "fetch_data.py"), "corpus"],
                       check=True)
    with open(CORPUS, encoding="utf-8") as f:
        return f.read()


def train_tokenizer(text, vocab_size):
    """A GPT-2 style byte-level BPE with vocab_size - 1 learned tokens, then <|endoftext|>."""
    from tokenizers import ByteLevelBPETokenizer

    tok = ByteLevelBPETokenizer()  # GPT-2 regex split, no prefix space
    tok.train_from_iterator([text], vocab_size=vocab_size - 1, min_frequency=2,
                            show_progress=False, special_tokens=[])
    with tempfile.TemporaryDirectory() as tmp:
        tok.save_model(tmp)
        with open(os.path.join(tmp, "vocab.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        with open(os.path.join(tmp, "merges.txt"), encoding="utf-8") as f:
            merges = [ln for ln in f.read().split("\n") if ln and not ln.startswith("#version")]
    if len(vocab) != vocab_size - 1:
        raise SystemExit("tokenizer: got %d tokens, wanted %d" % (len(vocab), vocab_size - 1))
    vocab[EOT] = vocab_size - 1
    return tok, vocab, merges


def save_tokenizer(out_dir, vocab, merges):
    """vocab.json / merges.txt in GPT2Tokenizer's layout, plus a small tokenizer_config.json."""
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(vocab, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for m in merges:
            f.write(m + "\n")
    eot = vocab[EOT]
    cfg = {
        "tokenizer_class": "GPT2Tokenizer",
        "add_prefix_space": False,
        "bos_token": EOT, "eos_token": EOT, "unk_token": EOT,
        "model_max_length": 1024,
        "added_tokens_decoder": {str(eot): {"content": EOT, "lstrip": False, "normalized": True,
                                            "rstrip": False, "single_word": False, "special": True}},
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(cfg, indent=2) + "\n")


def make_config(args, vocab_size, init_std):
    from transformers import GPT2Config

    return GPT2Config(vocab_size=vocab_size, bos_token_id=vocab_size - 1, eos_token_id=vocab_size - 1,
                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                      initializer_range=init_std, **args)


def build_model(config, seed, jitter):
    import torch
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    if jitter:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if ".ln_" in name or "ln_f" in name or name.endswith(".bias"):
                    p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def snippet_tokens(tok, text, start, n):
    """Some corpus text from `start` whose encoding has exactly n tokens."""
    chunk = text[start:start + 8 * n]
    enc = tok.encode(chunk)
    # cut the text where a token ends, so that text -> tokens is exact; a cut inside a
    # word can re-split it, so step back until the snippet encodes to at most n tokens
    for k in range(n, 0, -1):
        sub = chunk[:enc.offsets[k - 1][1]]
        ids = tok.encode(sub).ids
        if len(ids) <= n:
            return sub, np.array(ids, dtype=np.int32)
    raise SystemExit("make_fixtures: could not cut a snippet")


def hf_logits(model, ids):
    import torch

    with torch.no_grad():
        out = model(torch.tensor(ids, dtype=torch.long)[None, :])
    return out.logits[0].float().numpy()


def save_checkpoint(model, out_dir):
    model.save_pretrained(out_dir, safe_serialization=True)
    gen = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen):  # not needed to load the model; keep the fixture lean
        os.remove(gen)


def make_random(out_root, name, text):
    args, vocab_size, seed = RANDOM_FIXTURES[name]
    out_dir = os.path.join(out_root, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    tok, vocab, merges = train_tokenizer(text, vocab_size)
    save_tokenizer(out_dir, vocab, merges)
    model = build_model(make_config(args, vocab_size, 0.2), seed, jitter=True)
    save_checkpoint(model, out_dir)
    snippet, ids = snippet_tokens(tok, text, 1000 * seed, args["n_positions"])
    logits = hf_logits(model, ids)
    np.savez_compressed(os.path.join(out_dir, "expected.npz"), text=np.array(snippet),
                        tokens=ids, logits=logits)
    print("%s: %d tokens, logits std %.3f, range [%.2f, %.2f]"
          % (name, len(ids), logits.std(), logits.min(), logits.max()))


def make_trained(out_root, text, steps, batch):
    import torch

    name, args, vocab_size, seed = TRAINED
    out_dir = os.path.join(out_root, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    split = int(len(text) * 0.9)
    train_text, held_text = text[:split], text[split:]
    tok, vocab, merges = train_tokenizer(train_text, vocab_size)
    save_tokenizer(out_dir, vocab, merges)
    data = torch.tensor(tok.encode(train_text).ids, dtype=torch.long)
    held = np.array(tok.encode(held_text).ids, dtype=np.int32)
    ctx = args["n_positions"]

    torch.set_num_threads(2)
    model = build_model(make_config(args, vocab_size, 0.02), seed, jitter=False)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for step in range(steps):
        ix = torch.randint(0, len(data) - ctx - 1, (batch,), generator=gen)
        x = torch.stack([data[i:i + ctx] for i in ix])
        loss = model(x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0 or step == steps - 1:
            print("  step %d loss %.3f (%.0f s)" % (step, loss.item(), time.time() - t0))
    model.eval()
    save_checkpoint(model, out_dir)

    n_win = 1024 // ctx
    held = held[:n_win * ctx]
    losses = []
    with torch.no_grad():
        for w in range(n_win):
            x = torch.tensor(held[w * ctx:(w + 1) * ctx], dtype=torch.long)[None, :]
            losses.append(model(x, labels=x).loss.item())
    snippet, ids = snippet_tokens(tok, held_text, 0, ctx)
    logits = hf_logits(model, ids)
    prompt = ids[:8]
    seq = [int(t) for t in prompt]
    for _ in range(16):
        seq.append(int(np.argmax(hf_logits(model, np.array(seq, dtype=np.int32))[-1])))
    np.savez_compressed(os.path.join(out_dir, "expected.npz"), text=np.array(snippet), tokens=ids,
                        logits=logits, heldout_tokens=held, heldout_window=np.int32(ctx),
                        heldout_losses=np.array(losses, dtype=np.float64),
                        greedy_prompt=prompt, greedy_tokens=np.array(seq[8:], dtype=np.int32))
    print("%s: held-out loss %.3f over %d tokens; greedy: %r"
          % (name, float(np.mean(losses)), len(held), tok.decode(seq)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=FIXTURES,
                    help="folder to write the fixtures into (default: tests/fixtures)")
    ap.add_argument("--train-steps", type=int, default=2000, help="optimizer steps for gpt2_trained")
    ap.add_argument("--batch", type=int, default=32, help="batch size for gpt2_trained")
    ap.add_argument("--only", choices=sorted(RANDOM_FIXTURES) + [TRAINED[0]], action="append",
                    help="build just this fixture (repeatable)")
    a = ap.parse_args(argv)
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        raise SystemExit("make_fixtures: needs torch and transformers (%s)" % e)
    text = read_corpus()
    wanted = a.only or (sorted(RANDOM_FIXTURES) + [TRAINED[0]])
    for name in wanted:
        if name in RANDOM_FIXTURES:
            make_random(a.out, name, text)
        else:
            make_trained(a.out, text, a.train_steps, a.batch)


if __name__ == "__main__":
    main()
