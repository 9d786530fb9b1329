"""train.py end to end on tiny shapes: checkpoint layout, tokenizer files, exact resume,
clear errors, L-BFGS fine-tuning, and logits consistency with the numpy reference and
the device runtime."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

from testutil import HOST_TOOLS, micropython_path, run_micropython_file

import train
from nanotrain import bpe, checkpoint, data, gpt2
from nanotrain.autodiff import Tensor

TRAIN_PY = os.path.join(HOST_TOOLS, "train.py")
TINY = ["--layers", "2", "--embd", "32", "--heads", "2", "--ctx", "16", "--vocab", "300",
        "--batch", "4", "--sample", "0", "--warmup", "2", "--lr", "3e-3"]


@pytest.fixture(scope="module")
def small_corpus(corpus_path, tmp_path_factory):
    """The first 40,000 characters of tinyshakespeare."""
    with open(corpus_path, encoding="utf-8") as f:
        text = f.read(40000)
    p = tmp_path_factory.mktemp("corpus") / "small.txt"
    p.write_text(text, encoding="utf-8")
    return str(p)


def run_train(args, capsys=None):
    """train.main in-process; returns (exit code, stderr text)."""
    code = train.main(list(args))
    err = capsys.readouterr().err if capsys is not None else ""
    return code, err


@pytest.fixture(scope="module")
def trained_dir(small_corpus, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run") / "ckpt")
    assert train.main(["--corpus", small_corpus, "--out", out, "--steps", "12",
                       "--val-every", "6"] + TINY) == 0
    return out


# ----------------------------------------------------------------------------- tokenizer

def test_bpe_files_read_by_hf_tokenizers_and_round_trip(corpus_path, tmp_path):
    from tokenizers import ByteLevelBPETokenizer
    with open(corpus_path, encoding="utf-8") as f:
        text = f.read()
    train_text, held_out = data.split_text(text[:200000])
    vocab, merges = bpe.train_bpe(train_text, 400)
    bpe.save(vocab, merges, str(tmp_path))
    with open(tmp_path / "merges.txt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0] == "#version: 0.2" and len(lines) == 1 + 400 - 257
    with open(tmp_path / "vocab.json", encoding="utf-8") as f:
        v = json.load(f)
    assert len(v) == 400 and v["<|endoftext|>"] == 399
    assert sorted(v.values()) == list(range(400))
    tok = ByteLevelBPETokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    samples = [held_out[:5000], "Hello, world!  Tabs\tand\nnewlines\n\n", "naïve café — 日本語 🙂",
               "  leading spaces", "x" * 50, ""]
    for s in samples:
        ids = tok.encode(s).ids
        assert all(0 <= i < 399 for i in ids)
        assert tok.decode(ids) == s
    # merges compress the held-out English text well below one token per byte
    n = len(tok.encode(held_out).ids)
    assert n < 0.7 * len(held_out.encode("utf-8"))


def test_bpe_training_is_deterministic(corpus_path):
    with open(corpus_path, encoding="utf-8") as f:
        text = f.read(100000)
    assert bpe.train_bpe(text, 600) == bpe.train_bpe(text, 600)


def test_unigram_baselines():
    toks = np.array([0, 0, 1, 1])
    assert abs(train.unigram_entropy(toks, 3) - np.log(2)) < 1e-12
    # add-one counts from [0, 0, 0]: p(0) = 4/6, p(1) = 1/6
    x = train.unigram_cross_entropy(np.array([0, 0, 0]), toks, 3)
    assert abs(x - 0.5 * (np.log(6 / 4) + np.log(6))) < 1e-12


def test_bpe_vocab_larger_than_corpus_supports():
    with pytest.raises(bpe.VocabError, match="larger than the corpus supports"):
        bpe.train_bpe("abcabc abcabc abc", 300)


# ----------------------------------------------------------------------------- checkpoint

def test_checkpoint_has_hf_gpt2_layout(trained_dir):
    with open(os.path.join(trained_dir, "config.json")) as f:
        c = json.load(f)
    assert c["model_type"] == "gpt2" and c["architectures"] == ["GPT2LMHeadModel"]
    assert (c["vocab_size"], c["n_positions"], c["n_embd"], c["n_layer"], c["n_head"]) == \
        (300, 16, 32, 2, 2)
    assert c["n_inner"] is None and c["activation_function"] == "gelu_new"
    assert c["layer_norm_epsilon"] == 1e-5 and c["tie_word_embeddings"] is True
    assert c["bos_token_id"] == c["eos_token_id"] == 299
    t = load_file(os.path.join(trained_dir, "model.safetensors"))
    E, V = 32, 300
    want = {"transformer.wte.weight": (V, E), "transformer.wpe.weight": (16, E),
            "transformer.ln_f.weight": (E,), "transformer.ln_f.bias": (E,)}
    for i in range(2):
        h = "transformer.h.%d." % i
        want.update({h + "ln_1.weight": (E,), h + "ln_1.bias": (E,),
                     h + "attn.c_attn.weight": (E, 3 * E), h + "attn.c_attn.bias": (3 * E,),
                     h + "attn.c_proj.weight": (E, E), h + "attn.c_proj.bias": (E,),
                     h + "ln_2.weight": (E,), h + "ln_2.bias": (E,),
                     h + "mlp.c_fc.weight": (E, 4 * E), h + "mlp.c_fc.bias": (4 * E,),
                     h + "mlp.c_proj.weight": (4 * E, E), h + "mlp.c_proj.bias": (E,)})
    assert {k: v.shape for k, v in t.items()} == want
    assert all(v.dtype == np.float32 for v in t.values())
    for name in ("vocab.json", "merges.txt", "loss.csv", checkpoint.STATE_FILE):
        assert os.path.exists(os.path.join(trained_dir, name)), name
    assert not [n for n in os.listdir(trained_dir) if n.endswith(".tmp")]
    with open(os.path.join(trained_dir, "loss.csv")) as f:
        rows = f.read().splitlines()
    assert rows[0] == "step,train_loss,val_loss,lr,elapsed_s" and len(rows) == 13
    losses = [float(r.split(",")[1]) for r in rows[1:]]
    assert losses[-1] < losses[0]


def test_resume_continues_exactly(small_corpus, tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    common = ["--corpus", small_corpus, "--steps", "8", "--val-every", "4"] + TINY
    assert train.main(common + ["--out", a]) == 0
    assert train.main(common + ["--out", b, "--stop-at", "4"]) == 0
    _, meta = checkpoint.load_state(b)
    assert meta["step"] == 4
    assert train.main(common + ["--out", b, "--resume"]) == 0
    wa = load_file(os.path.join(a, "model.safetensors"))
    wb = load_file(os.path.join(b, "model.safetensors"))
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)
    sa, _ = checkpoint.load_state(a)
    sb, _ = checkpoint.load_state(b)
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    with open(os.path.join(a, "loss.csv")) as f, open(os.path.join(b, "loss.csv")) as g:
        la = [r.split(",")[:3] for r in f.read().splitlines()]
        lb = [r.split(",")[:3] for r in g.read().splitlines()]
    assert la == lb


def test_ctrl_c_leaves_a_resumable_checkpoint(small_corpus, tmp_path):
    out = str(tmp_path / "c")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, TRAIN_PY, "--corpus", small_corpus, "--out", out,
                          "--steps", "100000", "--val-every", "5"] + TINY,
                         stderr=subprocess.PIPE, text=True, env=env)
    state = os.path.join(out, checkpoint.STATE_FILE)
    t0 = time.time()
    while not os.path.exists(state) and time.time() - t0 < 60:
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "interrupted: checkpoint at step" in err
    _, meta = checkpoint.load_state(out)
    assert meta["step"] >= 5
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]
    cfg, w = checkpoint.load_hf(out)
    assert all(np.isfinite(v).all() for v in w.values())


# ----------------------------------------------------------------------------- errors

def _last_error_line(err):
    lines = [l for l in err.splitlines() if l.strip()]
    assert lines and lines[-1].startswith("train.py: error: "), err
    return lines[-1]


def test_error_empty_corpus(tmp_path, capsys):
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    code, err = run_train(["--corpus", str(p), "--out", str(tmp_path / "o")] + TINY, capsys)
    assert code == 1 and "is empty" in _last_error_line(err)


def test_error_not_utf8(tmp_path, capsys):
    p = tmp_path / "latin1.txt"
    p.write_bytes("caf\xe9 au lait, ".encode("latin-1") * 100)
    code, err = run_train(["--corpus", str(p), "--out", str(tmp_path / "o")] + TINY, capsys)
    assert code == 1 and "not UTF-8" in _last_error_line(err) and "offset 3" in err


def test_error_corpus_smaller_than_context(tmp_path, capsys):
    p = tmp_path / "short.txt"
    p.write_text("To be or not to be.\n", encoding="utf-8")
    code, err = run_train(["--corpus", str(p), "--out", str(tmp_path / "o"), "--ctx", "64",
                           "--vocab", "257", "--layers", "1", "--embd", "16", "--heads", "2"],
                          capsys)
    assert code == 1 and "smaller than one context window" in _last_error_line(err)


def test_error_vocab_larger_than_corpus_supports(small_corpus, tmp_path, capsys):
    code, err = run_train(["--corpus", small_corpus, "--out", str(tmp_path / "o")] + TINY
                          + ["--vocab", "4096"], capsys)
    assert code == 1 and "larger than the corpus supports" in _last_error_line(err)


def test_error_width_not_divisible_by_heads(small_corpus, tmp_path, capsys):
    code, err = run_train(["--corpus", small_corpus, "--out", str(tmp_path / "o")] + TINY
                          + ["--heads", "3"], capsys)
    assert code == 1 and "not divisible by --heads 3" in _last_error_line(err)


def test_error_nan_loss_keeps_last_good_checkpoint(small_corpus, tmp_path, capsys):
    out = str(tmp_path / "o")
    common = ["--corpus", small_corpus, "--out", out, "--steps", "50", "--val-every", "1"] + TINY
    assert train.main(common + ["--stop-at", "2"]) == 0
    # continue with an absurd learning rate: the loss blows up within a step or two
    code, err = run_train(common + ["--resume", "--lr", "1e30"], capsys)
    line = _last_error_line(err)
    assert code == 1 and "nan at step" in line and "last good checkpoint (step" in line, line
    bad_step = int(line.split("at step ")[1].split(";")[0])
    good_step = int(line.split("checkpoint (step ")[1].split(")")[0])
    assert good_step == bad_step - 1 >= 2
    _, meta = checkpoint.load_state(out)
    assert meta["step"] == good_step
    cfg, w = checkpoint.load_hf(out)
    assert all(np.isfinite(v).all() for v in w.values())


def test_out_holding_a_run_is_refused_without_resume_or_overwrite(small_corpus, tmp_path, capsys):
    """Issue 15, item 1: training afresh into the folder of an earlier run (easy right after
    a Ctrl-C) used to overwrite its checkpoint silently."""
    out = str(tmp_path / "run")
    common = ["--corpus", small_corpus, "--out", out, "--steps", "6", "--val-every", "2"] + TINY
    assert train.main(common + ["--stop-at", "2"]) == 0
    before = {n: os.path.getmtime(os.path.join(out, n)) for n in os.listdir(out)}
    code, err = run_train(common, capsys)
    line = _last_error_line(err)
    assert code == 1 and "already holds a training run (train_state.safetensors, step 2)" in line, line
    assert "--resume" in line and "--overwrite" in line
    # nothing in the earlier run was touched
    assert {n: os.path.getmtime(os.path.join(out, n)) for n in os.listdir(out)} == before
    _, meta = checkpoint.load_state(out)
    assert meta["step"] == 2
    # an HF checkpoint alone (e.g. a folder given to --init-from) is protected too
    os.remove(os.path.join(out, checkpoint.STATE_FILE))
    code, err = run_train(common, capsys)
    assert code == 1 and "already holds a training run (model.safetensors)" in _last_error_line(err)
    # --overwrite starts afresh; --resume and --overwrite together make no sense
    assert train.main(common + ["--overwrite", "--stop-at", "4"]) == 0
    _, meta = checkpoint.load_state(out)
    assert meta["step"] == 4
    code, err = run_train(common + ["--resume", "--overwrite"], capsys)
    assert code == 1 and "exclude each other" in _last_error_line(err)


@pytest.mark.parametrize("extra,msg", [
    (["--gguf", "m.gguf", "--outtype", "q5_k"], "--outtype: unknown type 'q5_k'"),
    (["--outtype", "q3"], "--outtype: unknown type 'q3'"),
    (["--gguf", "."], "--gguf . is a folder"),
])
def test_gguf_settings_checked_before_training(small_corpus, tmp_path, capsys, extra, msg):
    """Issue 15, item 2: a bad --outtype used to end a whole training run in a traceback.
    The default --steps is 2400: were the check still at the end, this would train for minutes."""
    out = str(tmp_path / "o")
    t0 = time.time()
    code, err = run_train(["--corpus", small_corpus, "--out", out] + extra + TINY, capsys)
    assert code == 1 and msg in _last_error_line(err), err
    assert "Traceback" not in err and time.time() - t0 < 10
    assert not os.path.exists(out)  # refused before the folder was made, let alone trained in
    assert train.main(["--corpus", small_corpus, "--out", out, "--steps", "1", "--val-every", "1",
                       "--outtype", "Q4_0", "--gguf", str(tmp_path / "m.gguf")] + TINY) == 0
    import gguf
    types = {t.tensor_type.name for t in gguf.GGUFReader(str(tmp_path / "m.gguf")).tensors}
    assert "Q4_0" in types


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as e:
        train.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--corpus", "--out", "--layers", "--embd", "--heads", "--ctx", "--vocab",
                "--steps", "--batch", "--lr", "--optimizer", "--seed", "--resume", "--val-every",
                "--gguf", "--outtype", "--overwrite"):
        assert opt in out


# ----------------------------------------------------------------------------- L-BFGS

def test_lbfgs_fine_tuning_lowers_full_batch_loss(small_corpus, trained_dir, tmp_path):
    out = str(tmp_path / "ft")
    assert train.main(["--corpus", small_corpus, "--out", out, "--init-from", trained_dir,
                       "--optimizer", "lbfgs", "--steps", "4", "--val-every", "4",
                       "--lbfgs-tokens", "2048", "--sample", "0"]) == 0
    _, meta = checkpoint.load_state(out)
    assert meta["optimizer"] == "lbfgs" and meta["step"] == 4
    with open(os.path.join(out, "loss.csv")) as f:
        losses = [float(r.split(",")[1]) for r in f.read().splitlines()[1:]]
    cfg, w0 = checkpoint.load_hf(trained_dir)
    # the starting full-batch loss, on the same windows
    tok = bpe.load(trained_dir)
    with open(small_corpus, encoding="utf-8") as f:
        tr, _ = data.split_text(f.read())
    xs, ys = data.eval_windows(bpe.encode(tok, tr), cfg.n_ctx, 2048)
    f0 = float(gpt2.loss_fn({k: Tensor(v) for k, v in w0.items()}, cfg, xs, ys).data)
    assert losses[0] < f0 and all(b <= a + 1e-6 for a, b in zip(losses, losses[1:]))


# ----------------------------------------------------------------------------- consistency

def _trainer_logits(hf_dir, ids):
    cfg, w = checkpoint.load_hf(hf_dir)
    return gpt2.logits_numpy({k: Tensor(v) for k, v in w.items()}, cfg, np.asarray(ids))


def test_forward_matches_numpy_reference(trained_dir, tmp_path):
    from nanollm_host.gguf_model import convert_checkpoint
    from nanollm_host.reference import Reference
    path = str(tmp_path / "tiny-f32.gguf")
    convert_checkpoint(trained_dir, path, "f32")
    ids = np.random.default_rng(5).integers(0, 300, size=16)
    ours = _trainer_logits(trained_dir, ids)
    ref = np.asarray(Reference(path).logits(list(int(i) for i in ids)))
    assert ref.shape == ours.shape == (16, 300)
    assert np.abs(ours - ref).max() < 1e-4


def test_gguf_option_writes_q8_0(small_corpus, tmp_path):
    import gguf
    out = str(tmp_path / "g")
    path = str(tmp_path / "m.gguf")
    assert train.main(["--corpus", small_corpus, "--out", out, "--steps", "2", "--val-every", "2",
                       "--gguf", path, "--outtype", "q8_0"] + TINY) == 0
    r = gguf.GGUFReader(path)
    types = {t.name: t.tensor_type.name for t in r.tensors}
    assert "Q8_0" in types.values()


@pytest.mark.skipif(micropython_path() is None, reason="no micropython")
def test_forward_matches_device_runtime(trained_dir, tmp_path):
    from nanollm_host.gguf_model import convert_checkpoint
    path = str(tmp_path / "tiny-f32.gguf")
    convert_checkpoint(trained_dir, path, "f32")
    ids = [int(i) for i in np.random.default_rng(6).integers(0, 300, size=10)]
    out = run_micropython_file("forward_logits.py", ["auto", path, "auto", ",".join(map(str, ids))], heapsize="4M")
    dev = np.array([[float(x) for x in line.split()] for line in out.strip().splitlines()[1:]])  # after BACKEND
    ours = _trainer_logits(trained_dir, ids)
    assert dev.shape == ours.shape
    print("\ndevice runtime vs trainer: max |logit difference| %.2e" % np.abs(dev - ours).max())
    assert np.abs(dev - ours).max() < 1e-4


# ----------------------------------------------------------------------------- --extra, --ffn

def test_extra_text_is_trained_on_but_never_held_out(small_corpus, tmp_path):
    """--extra adds training text (and BPE text); the held-out split stays the corpus's own."""
    extra = tmp_path / "extra.txt"
    extra.write_text("Zebras quietly zigzag.\n" * 400, encoding="utf-8")
    a = train.build_parser().parse_args(["--corpus", small_corpus, "--out", str(tmp_path / "o"),
                                         "--extra", str(extra)] + TINY)
    os.makedirs(a.out)
    tok, tr, val = train.prepare_data(a, log=lambda s: None)
    with open(small_corpus, encoding="utf-8") as f:
        own_train, own_val = data.split_text(f.read())
    assert tok.decode([int(t) for t in val]) == own_val
    assert "Zebras quietly zigzag" in tok.decode([int(t) for t in tr])
    assert "Zebras" not in tok.decode([int(t) for t in val])
    # the BPE learned from the extra text too: its repeated words became tokens
    assert len(tok.encode("Zebras quietly zigzag.").ids) < 8


def test_ffn_width_sets_the_feed_forward_shape(small_corpus, tmp_path):
    out = str(tmp_path / "ffn")
    assert train.main(["--corpus", small_corpus, "--out", out, "--steps", "2", "--val-every", "2",
                       "--ffn", "48", "--gguf", str(tmp_path / "ffn.gguf"), "--outtype", "f32"]
                      + TINY) == 0
    with open(os.path.join(out, "config.json")) as f:
        assert json.load(f)["n_inner"] == 48
    w = load_file(os.path.join(out, "model.safetensors"))
    assert w["transformer.h.0.mlp.c_fc.weight"].shape == (32, 48)
    assert w["transformer.h.1.mlp.c_proj.weight"].shape == (48, 32)
    from nanollm_host import gguf_model
    assert gguf_model.load_gguf(str(tmp_path / "ffn.gguf")).hparams.n_ff == 48


def test_extra_plays_hold_none_of_the_held_out_text(corpus_path):
    """The extra training plays (fetch_data.py plays) must not contain tinyshakespeare's
    held-out tenth, or the default model's held-out loss would be scored on seen text.
    They do contain its training text (the same plays): the check can tell."""
    import subprocess
    plays_path = os.path.join(os.path.dirname(corpus_path), "shakespeare_plays.txt")
    if not os.path.exists(plays_path):
        subprocess.run([sys.executable, os.path.join(HOST_TOOLS, "fetch_data.py"), "plays"], check=True)
    with open(plays_path, encoding="utf-8") as f:
        plays = {ln.strip() for ln in f}
    with open(corpus_path, encoding="utf-8") as f:
        own_train, held_out = data.split_text(f.read())

    def long_lines(text):
        return [ln.strip() for ln in text.splitlines() if len(ln.strip()) >= 40]
    assert not [ln for ln in long_lines(held_out) if ln in plays]
    seen = [ln for ln in long_lines(own_train) if ln in plays]
    assert len(seen) > 0.3 * len(long_lines(own_train))
    assert "KING:" in plays and "King." not in plays      # speaker lines rewritten
