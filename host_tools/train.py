#!/usr/bin/env python3
"""Train a small GPT-2 from scratch on a text corpus with nanotrain (numpy autodiff).

Writes into --out an HF-layout GPT-2 checkpoint (config.json, model.safetensors,
vocab.json, merges.txt), the resumable training state (train_state.safetensors), and
the loss curve (loss.csv); with --gguf also a GGUF file for nanollm.

Examples:
  python host_tools/train.py --corpus .cache/corpus/tinyshakespeare.txt --out .cache/run1
  python host_tools/train.py --corpus input.txt --out run1 --resume         # continue
  python host_tools/train.py --corpus input.txt --out ft --init-from run1 \\
      --optimizer lbfgs --steps 50                                          # full-batch fine-tune

The held-out split is the last 10 % of the corpus; the BPE vocabulary is learned
from the first 90 %. Ctrl-C finishes the current step, writes a checkpoint and exits
(press it twice to abort at once; the last checkpoint on disk stays intact).
"""
import argparse
import csv
import json
import math
import os
import signal
import sys
import time


def _preset_threads(argv):
    """BLAS threads must be fixed before numpy is imported (see --threads)."""
    n = "1"
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            n = argv[i + 1]
        elif arg.startswith("--threads="):
            n = arg.split("=", 1)[1]
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, n)


if __name__ == "__main__":
    _preset_threads(sys.argv[1:])

import numpy as np  # noqa: E402

from nanotrain import bpe, checkpoint, data, gpt2  # noqa: E402
from nanotrain.autodiff import Tensor, backward  # noqa: E402
from nanotrain.optim import AdamW, LBFGS  # noqa: E402
from nanotrain.progress import Progress, fmt_time  # noqa: E402

PROG = "train.py"


class TrainError(Exception):
    """A user-facing problem, reported as one line."""


def build_parser():
    p = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("data and output")
    g.add_argument("--corpus", required=True, metavar="FILE", help="UTF-8 text file to train on")
    g.add_argument("--extra", action="append", default=[], metavar="FILE",
                   help="more UTF-8 text for training only (repeatable): added to the training "
                        "split of --corpus and to the text the BPE is learned from; the held-out "
                        "split stays the last 10 %% of --corpus")
    g.add_argument("--out", required=True, metavar="DIR", help="checkpoint directory (created)")
    g.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out (same data order and RNG state)")
    g.add_argument("--overwrite", action="store_true",
                   help="start afresh in an --out that holds an earlier run, replacing it "
                        "(without this, such an --out is refused)")
    g.add_argument("--init-from", metavar="DIR",
                   help="start from the weights and tokenizer of an existing checkpoint "
                        "(fine-tuning) instead of a random init")
    g.add_argument("--gguf", metavar="OUT.gguf", help="also write a GGUF file at the end")
    g.add_argument("--outtype", default="q8_0",
                   help="GGUF tensor type for --gguf: f32, f16, q8_0, q4_0, q4_1 (default q8_0)")
    g = p.add_argument_group("model shape")
    g.add_argument("--layers", type=int, default=3, help="transformer blocks (default 3)")
    g.add_argument("--embd", type=int, default=96, help="embedding width (default 96)")
    g.add_argument("--heads", type=int, default=3, help="attention heads (default 3)")
    g.add_argument("--ctx", type=int, default=128, help="context length (default 128)")
    g.add_argument("--ffn", type=int, help="feed-forward width (default 4 x --embd)")
    g.add_argument("--vocab", type=int, default=512,
                   help="BPE vocabulary size incl. <|endoftext|>, 257..4096 (default 512)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--optimizer", choices=["adam", "lbfgs"], default="adam",
                   help="adam: AdamW on random mini-batches; lbfgs: full-batch L-BFGS "
                        "(for fine-tuning small models on small data)")
    g.add_argument("--steps", type=int, default=2400,
                   help="optimizer steps (L-BFGS: iterations) (default 2400)")
    g.add_argument("--batch", type=int, default=32, help="sequences per step (default 32)")
    g.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate (default 3e-3)")
    g.add_argument("--warmup", type=int, default=100, help="linear warm-up steps (default 100)")
    g.add_argument("--min-lr-ratio", type=float, default=0.1,
                   help="cosine decay ends at this fraction of --lr (default 0.1)")
    g.add_argument("--weight-decay", type=float, default=0.1,
                   help="AdamW decoupled weight decay on matrices (default 0.1)")
    g.add_argument("--clip", type=float, default=1.0,
                   help="clip the global gradient norm to this (0: off; default 1.0)")
    g.add_argument("--lbfgs-history", type=int, default=10, help="L-BFGS memory (default 10)")
    g.add_argument("--lbfgs-tokens", type=int, default=65536,
                   help="L-BFGS full batch: at most this many training tokens (default 65536)")
    g.add_argument("--seed", type=int, default=1337, help="random seed (default 1337)")
    g = p.add_argument_group("monitoring")
    g.add_argument("--val-every", type=int, default=100,
                   help="held-out loss every N steps, also the checkpoint interval (default 100)")
    g.add_argument("--val-tokens", type=int, default=16384,
                   help="held-out tokens scored at each check (the final check scores all)")
    g.add_argument("--stop-at", type=int, metavar="STEP",
                   help="stop (with a checkpoint) after this step; the schedule still "
                        "follows --steps, so --resume continues the same run")
    g.add_argument("--threads", type=int, default=1,
                   help="BLAS threads (default 1: the matrices are small and threaded "
                        "OpenBLAS slows down badly when the cores are shared)")
    g.add_argument("--sample", type=int, default=200,
                   help="tokens of text to sample at the end (0: none)")
    return p


def check_args(a):
    if a.layers < 1 or a.embd < 1 or a.heads < 1 or a.ctx < 2:
        raise TrainError("--layers, --embd, --heads must be >= 1 and --ctx >= 2")
    if a.ffn is not None and a.ffn < 1:
        raise TrainError("--ffn must be >= 1")
    if a.embd % a.heads:
        raise TrainError("--embd %d is not divisible by --heads %d" % (a.embd, a.heads))
    if not bpe.MIN_VOCAB <= a.vocab <= bpe.MAX_VOCAB:
        raise TrainError("--vocab %d is outside %d..%d" % (a.vocab, bpe.MIN_VOCAB, bpe.MAX_VOCAB))
    if a.steps < 1 or a.batch < 1:
        raise TrainError("--steps and --batch must be >= 1")
    if not a.lr > 0:
        raise TrainError("--lr must be > 0")
    if a.val_every < 1:
        raise TrainError("--val-every must be >= 1")
    if a.resume and a.init_from:
        raise TrainError("--resume and --init-from exclude each other")
    if a.resume and a.overwrite:
        raise TrainError("--resume and --overwrite exclude each other")
    # Everything the run ends with is checked before it starts: a bad --outtype must not
    # surface after hours of training.
    from nanollm_host.gguf_model import ToolError, parse_outtype
    try:
        a.outtype = parse_outtype(a.outtype)
    except ToolError as e:
        raise TrainError("--outtype: %s" % e)
    if a.gguf is not None:
        if os.path.isdir(a.gguf):
            raise TrainError("--gguf %s is a folder; give the name of the GGUF file to write" % a.gguf)
        folder = os.path.dirname(os.path.abspath(a.gguf))
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise TrainError("--gguf %s: %s is not a folder" % (a.gguf, os.path.dirname(a.gguf)))


def check_out_dir(a):
    """Refuse an --out that holds an earlier run unless told what to do with it: training
    afresh would overwrite its checkpoint (easily done right after a Ctrl-C)."""
    if os.path.exists(a.out) and not os.path.isdir(a.out):
        raise TrainError("--out %s is a file, not a folder" % a.out)
    state_path = os.path.join(a.out, checkpoint.STATE_FILE)
    if a.resume:
        if not os.path.exists(state_path):
            raise TrainError("--resume: %s has no %s to resume from" % (a.out, checkpoint.STATE_FILE))
        return
    if a.overwrite:
        return
    found = [n for n in (checkpoint.STATE_FILE, "model.safetensors") if os.path.exists(os.path.join(a.out, n))]
    if found:
        step = checkpoint.saved_step(a.out)
        raise TrainError("--out %s already holds a training run (%s%s): continue it with --resume, "
                         "replace it with --overwrite, or choose another --out"
                         % (a.out, found[0], ", step %d" % step if step is not None else ""))


# ----------------------------------------------------------------------------- data

def prepare_data(a, log):
    """Tokenizer (learned or loaded) and the encoded train / held-out token arrays."""
    text = data.read_corpus(a.corpus)
    train_text, val_text = data.split_text(text)
    for path in a.extra:    # training text only: the held-out split is the corpus's own
        train_text += "\n" + data.read_corpus(path)
    tok_src = a.out if a.resume else a.init_from
    if tok_src is None and len(train_text.encode("utf-8")) < a.ctx + 1:
        raise TrainError("corpus %s is smaller than one context window: %d bytes of training "
                         "text, need more than --ctx %d tokens"
                         % (a.corpus, len(train_text.encode("utf-8")), a.ctx))
    if tok_src is not None:
        if not os.path.exists(os.path.join(tok_src, "vocab.json")):
            raise TrainError("%s has no vocab.json" % tok_src)
    else:
        t0 = time.time()
        try:
            vocab, merges = bpe.train_bpe(train_text, a.vocab)
        except bpe.VocabError as e:
            raise TrainError("--vocab %d: %s" % (a.vocab, e))
        bpe.save(vocab, merges, a.out)
        log("learned a %d-token byte-level BPE in %.1f s" % (a.vocab, time.time() - t0))
        tok_src = a.out
    tok = bpe.load(tok_src)
    if tok_src != a.out:        # fine-tuning: the checkpoint carries its tokenizer along
        with open(os.path.join(tok_src, "vocab.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        with open(os.path.join(tok_src, "merges.txt"), encoding="utf-8") as f:
            merges = [tuple(l.split(" ")) for l in f.read().splitlines()[1:] if l]
        bpe.save(vocab, merges, a.out)
    train = bpe.encode(tok, train_text)
    val = bpe.encode(tok, val_text)
    if len(train) < a.ctx + 1:
        raise TrainError("corpus %s is smaller than one context window: %d training tokens, "
                         "need at least --ctx + 1 = %d" % (a.corpus, len(train), a.ctx + 1))
    if len(val) < 2:
        raise TrainError("corpus %s is too small to hold out 10 %% for validation" % a.corpus)
    return tok, train, val


def eval_loss(params, cfg, tokens, batch, max_tokens=None):
    """Mean held-out cross-entropy (nats/token) over non-overlapping windows."""
    ctx = min(cfg.n_ctx, len(tokens) - 1)
    xs, ys = data.eval_windows(tokens, ctx, max_tokens)
    frozen = {k: Tensor(p.data) for k, p in params.items()}
    total, n = 0.0, 0
    for i in range(0, len(xs), batch):
        x, y = xs[i:i + batch], ys[i:i + batch]
        total += float(gpt2.loss_fn(frozen, cfg, x, y).data) * y.size
        n += y.size
    return total / n


def unigram_entropy(tokens, vocab_size):
    """Entropy (nats) of the empirical unigram distribution of `tokens`: the loss of
    the best possible context-free model fitted to these very tokens."""
    c = np.bincount(tokens, minlength=vocab_size)
    p = c[c > 0] / c.sum()
    return float(-(p * np.log(p)).sum())


def unigram_cross_entropy(train_tokens, val_tokens, vocab_size):
    """Cross-entropy (nats) on val_tokens of a unigram model fitted (add-one) to train_tokens."""
    c = np.bincount(train_tokens, minlength=vocab_size) + 1.0
    return float(-np.log(c[val_tokens] / c.sum()).mean())


# ----------------------------------------------------------------------------- L-BFGS glue

class FullBatch:
    """Loss and flat gradient of the model over a fixed set of windows (for L-BFGS)."""

    def __init__(self, params, cfg, xs, ys, batch):
        self.params, self.cfg, self.xs, self.ys, self.batch = params, cfg, xs, ys, batch
        self.names = list(params)
        self.shapes = [params[k].shape for k in self.names]
        self.sizes = [int(np.prod(s)) for s in self.shapes]

    def flat(self):
        return np.concatenate([self.params[k].data.ravel() for k in self.names]).astype(np.float64)

    def set_flat(self, x):
        o = 0
        for k, shape, n in zip(self.names, self.shapes, self.sizes):
            self.params[k].data = x[o:o + n].reshape(shape).astype(np.float32)
            o += n

    def __call__(self, x):
        self.set_flat(x)
        for p in self.params.values():
            p.grad = None
        total = 0.0
        n = self.ys.size
        for i in range(0, len(self.xs), self.batch):
            x_, y_ = self.xs[i:i + self.batch], self.ys[i:i + self.batch]
            loss = gpt2.loss_fn(self.params, self.cfg, x_, y_)
            w = y_.size / n
            total += float(loss.data) * w
            backward(loss, grad=np.asarray(w, dtype=np.float32))
        g = np.concatenate([(self.params[k].grad if self.params[k].grad is not None
                             else np.zeros(self.params[k].shape, np.float32)).ravel()
                            for k in self.names]).astype(np.float64)
        if not np.isfinite(total):
            total = np.inf
        return total, g


# ----------------------------------------------------------------------------- main loop

def write_curve(path, rows):
    def w(tmp):
        with open(tmp, "w", newline="") as f:
            wr = csv.writer(f)
            wr.writerow(["step", "train_loss", "val_loss", "lr", "elapsed_s"])
            for r in rows:
                wr.writerow(r)
    checkpoint._atomic(path, w)


def read_curve(path, upto):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    return [r for r in rows if int(r[0]) <= upto]


class Interrupt:
    """First Ctrl-C: finish the step, checkpoint, exit. Second: abort at once."""

    def __init__(self):
        self.requested = False
        self.old = signal.signal(signal.SIGINT, self.handler)

    def handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self):
        signal.signal(signal.SIGINT, self.old)


def run(a, log=None):
    """Train according to parsed arguments `a`. Returns a dict of results."""
    out_stream = sys.stderr
    log = log or (lambda s: print(s, file=out_stream, flush=True))
    check_args(a)
    check_out_dir(a)
    os.makedirs(a.out, exist_ok=True)

    meta = None
    if a.resume:
        arrays, meta = checkpoint.load_state(a.out)
        if meta["optimizer"] != a.optimizer:
            raise TrainError("--resume: the run in %s used --optimizer %s"
                             % (a.out, meta["optimizer"]))
        cfg = gpt2.Config.from_hf(meta["config"])
    elif a.init_from:
        cfg, init_arrays = checkpoint.load_hf(a.init_from)
    else:
        cfg = gpt2.Config(a.vocab, a.layers, a.embd, a.heads, a.ctx, n_inner=a.ffn)

    if a.resume or a.init_from:       # the checkpoint decides the shape
        a.vocab, a.layers, a.embd, a.heads, a.ctx, a.ffn = (cfg.vocab_size, cfg.n_layer, cfg.n_embd,
                                                            cfg.n_head, cfg.n_ctx, cfg.n_inner)
    tok, train, val = prepare_data(a, log)
    if int(train.max()) >= cfg.vocab_size or int(val.max()) >= cfg.vocab_size:
        raise TrainError("the tokenizer produces ids beyond the model's vocab_size %d"
                         % cfg.vocab_size)
    log("corpus %s: %d training tokens, %d held-out tokens; model %s: %d parameters"
        % (a.corpus, len(train), len(val),
           "L%d E%d H%d F%d ctx%d V%d" % (cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.n_inner,
                                          cfg.n_ctx, cfg.vocab_size), gpt2.n_params(cfg)))

    rng_init = np.random.default_rng(a.seed)
    params = gpt2.init_params(cfg, rng_init)
    if a.init_from:
        for k, p in params.items():
            p.data = init_arrays[k].copy()
    data_rng = np.random.default_rng([a.seed, 1])
    step, elapsed_before, best_val = 0, 0.0, None

    if a.optimizer == "adam":
        opt = AdamW(params, lr=a.lr, weight_decay=a.weight_decay, warmup=a.warmup,
                    total_steps=a.steps, min_lr_ratio=a.min_lr_ratio, clip=a.clip)
    if meta is not None:
        for k, p in params.items():
            p.data = np.array(arrays["param." + k], dtype=np.float32)
        step = int(meta["step"])
        data_rng.bit_generator.state = meta["rng"]
        elapsed_before = float(meta["elapsed"])
        best_val = meta.get("val_loss")
        if a.optimizer == "adam":
            opt.load_state_arrays(arrays, step)
        log("resuming %s at step %d" % (a.out, step))
    if a.optimizer == "lbfgs":
        xs, ys = data.eval_windows(train, cfg.n_ctx, a.lbfgs_tokens)
        fb = FullBatch(params, cfg, xs, ys, a.batch)
        log("L-BFGS on a full batch of %d windows (%d tokens)" % (len(xs), ys.size))
        if meta is not None:
            opt = LBFGS.__new__(LBFGS)
            opt.fun, opt.history, opt.stalled = fb, a.lbfgs_history, False
            opt.load_state_arrays(arrays, meta["lbfgs_f"], meta["lbfgs_nit"], meta["lbfgs_nfev"])
            fb.set_flat(opt.x)
        else:
            opt = LBFGS(fb, fb.flat(), a.lbfgs_history)

    curve_path = os.path.join(a.out, "loss.csv")
    rows = read_curve(curve_path, step) if a.resume else []
    last_saved = step if a.resume else None
    stop = a.steps if a.stop_at is None else min(a.steps, a.stop_at)

    def save(step_done, val_loss):
        nonlocal last_saved
        arrays_out = {"param." + k: p.data for k, p in params.items()}
        m = {"step": step_done, "rng": data_rng.bit_generator.state, "config": cfg.to_hf(),
             "optimizer": a.optimizer, "elapsed": elapsed_before + (time.time() - t_start),
             "val_loss": val_loss, "args": {k: v for k, v in vars(a).items()}}
        if a.optimizer == "adam":
            arrays_out.update(opt.state_arrays())
        else:
            arrays_out.update(opt.state_arrays())
            m.update(lbfgs_f=opt.f, lbfgs_nit=opt.nit, lbfgs_nfev=opt.nfev)
        checkpoint.save_hf(a.out, cfg, params)
        write_curve(curve_path, rows)
        checkpoint.save_state(a.out, arrays_out, m)   # last: the resume point
        last_saved = step_done

    def where_saved():
        if last_saved is None:
            return "no checkpoint was written"
        return "the last good checkpoint (step %d) is in %s" % (last_saved, a.out)

    prog = Progress(a.steps, start_step=step, stream=out_stream)
    intr = Interrupt()
    t_start = time.time()
    val_loss = best_val
    tokens_per_step = a.batch * cfg.n_ctx if a.optimizer == "adam" else fb.ys.size
    try:
        while step < stop:
            if a.optimizer == "adam":
                x, y = data.sample_batch(train, a.batch, cfg.n_ctx, data_rng)
                opt.zero_grad()
                with np.errstate(over="ignore", invalid="ignore"):   # checked just below
                    loss = gpt2.loss_fn(params, cfg, x, y)
                lv = float(loss.data)
                if not math.isfinite(lv):
                    raise TrainError("loss became %s at step %d; stopped, %s"
                                     % (lv, step + 1, where_saved()))
                with np.errstate(over="ignore", invalid="ignore"):
                    backward(loss)
                try:
                    lr, _ = opt.step()
                except FloatingPointError as e:
                    raise TrainError("%s at step %d; stopped, %s" % (e, step + 1, where_saved()))
            else:
                ok = opt.step()
                fb.set_flat(opt.x)
                lv, lr = opt.f, float("nan")
                if not math.isfinite(lv):
                    raise TrainError("loss became %s at step %d; stopped, %s"
                                     % (lv, step + 1, where_saved()))
                if not ok:
                    log("L-BFGS: no further decrease along the search direction at step %d"
                        % (step + 1))
            step += 1
            prog.update(step, lv, tokens_per_step, lr if a.optimizer == "adam" else None)
            is_val = step % a.val_every == 0 or step == stop
            vl = ""
            if is_val:
                full = step == a.steps
                with np.errstate(over="ignore", invalid="ignore"):
                    val_loss = eval_loss(params, cfg, val, a.batch, None if full else a.val_tokens)
                if not math.isfinite(val_loss):
                    raise TrainError("held-out loss became %s at step %d; stopped, %s"
                                     % (val_loss, step, where_saved()))
                prog.last_val = val_loss
                vl = "%.5f" % val_loss
            rows.append([step, "%.5f" % lv, vl, "%.6g" % lr if a.optimizer == "adam" else "",
                         "%.1f" % (elapsed_before + time.time() - t_start)])
            if is_val or intr.requested:
                save(step, val_loss)
                if is_val:
                    prog.message("step %d: held-out loss %.4f (checkpoint saved)" % (step, val_loss))
            if intr.requested:
                prog.message("interrupted: checkpoint at step %d saved in %s; continue with --resume"
                             % (step, a.out))
                break
            if a.optimizer == "lbfgs" and not ok:
                save(step, val_loss)
                break
    except KeyboardInterrupt:
        prog.close()
        raise TrainError("aborted at step %d; %s" % (step, where_saved()))
    finally:
        intr.restore()
        prog.close()

    result = {"step": step, "val_loss": val_loss, "params": gpt2.n_params(cfg),
              "train_seconds": elapsed_before + time.time() - t_start, "config": cfg}
    if step >= a.steps and not intr.requested:
        H = unigram_entropy(val, cfg.vocab_size)
        X = unigram_cross_entropy(train, val, cfg.vocab_size)
        result["unigram_entropy"] = H
        log("done: %d steps in %s; held-out loss %.4f nats/token; unigram entropy of the "
            "held-out tokens %.4f nats (ratio %.3f); a unigram model fitted to the training "
            "tokens scores %.4f on them" % (step, fmt_time(result["train_seconds"]), val_loss, H,
                                            val_loss / H, X))
        if a.sample:
            ids = gpt2.generate(params, cfg, [cfg.bos_token_id], a.sample, temperature=0.8,
                                top_k=40, rng=np.random.default_rng(a.seed))
            log("sample (temperature 0.8):\n" + tok.decode(ids[1:]))
        if a.gguf:
            write_gguf(a.out, a.gguf, a.outtype)
            log("wrote %s (%d bytes)" % (a.gguf, os.path.getsize(a.gguf)))
    return result


def write_gguf(hf_dir, out_path, outtype):
    from nanollm_host.gguf_model import convert_checkpoint
    d = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(d, exist_ok=True)
    convert_checkpoint(hf_dir, out_path, outtype)


def main(argv=None):
    a = build_parser().parse_args(argv)
    try:
        run(a)
    except (TrainError, data.DataError) as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return 1
    except OSError as e:  # e.g. the disk filled up while a checkpoint was written
        print("%s: error: %s%s (the last complete checkpoint in %s is kept)"
              % (PROG, e.strerror or e, ": " + e.filename if getattr(e, "filename", None) else "", a.out),
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("%s: interrupted before training started" % PROG, file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
