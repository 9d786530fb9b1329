"""Corpus loading, validation, the train/held-out split, and batch sampling."""
import numpy as np

VAL_FRACTION = 0.1


class DataError(ValueError):
    """A problem with the user's corpus, reported as one line."""


def read_corpus(path):
    """The corpus text; DataError when it is missing, empty or not UTF-8."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError("cannot read corpus %s: %s" % (path, e.strerror or e))
    if not raw.strip():
        raise DataError("corpus %s is empty" % path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError("corpus %s is not UTF-8 text (invalid byte 0x%02x at offset %d)"
                        % (path, raw[e.start], e.start))
    return text


def split_text(text, val_fraction=VAL_FRACTION):
    """(train, held_out): the held-out part is the last val_fraction of the text,
    starting at a line boundary when there is one nearby."""
    cut = int(len(text) * (1.0 - val_fraction))
    nl = text.rfind("\n", max(0, cut - 200), cut)
    if nl > 0:
        cut = nl + 1
    return text[:cut], text[cut:]


def sample_batch(tokens, batch, ctx, rng):
    """Random windows: x (batch, ctx) and the next-token targets y (batch, ctx)."""
    starts = rng.integers(0, len(tokens) - ctx, size=batch)
    idx = starts[:, None] + np.arange(ctx + 1)[None, :]
    w = tokens[idx]
    return w[:, :-1], w[:, 1:]


def eval_windows(tokens, ctx, max_tokens=None):
    """Non-overlapping windows covering `tokens` (for held-out loss): list of (x, y).

    With max_tokens, windows are taken evenly spaced so that about max_tokens
    targets are scored; the selection is deterministic."""
    n = (len(tokens) - 1) // ctx
    starts = np.arange(n) * ctx
    if max_tokens is not None and n * ctx > max_tokens:
        k = max(1, max_tokens // ctx)
        starts = starts[np.linspace(0, n - 1, k).round().astype(int)]
    xs = np.stack([tokens[s:s + ctx] for s in starts])
    ys = np.stack([tokens[s + 1:s + ctx + 1] for s in starts])
    return xs, ys
