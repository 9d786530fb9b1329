"""Byte-level BPE tokenizer training (GPT-2 pre-tokenisation), saved in GPT-2's
vocab.json + merges.txt format. The merges are learned with the HF `tokenizers`
BPE trainer; files are written by us and read back with tokenizers' ByteLevelBPE.

Layout of the vocabulary: the 256 byte symbols, then one token per merge in merge
order, then `<|endoftext|>` as the last id (used as bos and eos).
"""
import json
import os

EOT = "<|endoftext|>"
MIN_VOCAB = 257          # 256 bytes + <|endoftext|>
MAX_VOCAB = 4096


class VocabError(ValueError):
    pass


def _atomic_write_text(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def train_bpe(text, vocab_size):
    """Learn a byte-level BPE of exactly `vocab_size` tokens (incl. <|endoftext|>) from text.

    Returns (vocab {token: id}, merges [(a, b), ...]). Raises VocabError when the text
    does not contain enough repeated pairs to build that many tokens.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    if not MIN_VOCAB <= vocab_size <= MAX_VOCAB:
        raise VocabError("vocab size %d is outside %d..%d" % (vocab_size, MIN_VOCAB, MAX_VOCAB))
    n_merges = vocab_size - MIN_VOCAB
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    merges = []
    if n_merges > 0:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        trainer = trainers.BpeTrainer(vocab_size=256 + n_merges, min_frequency=2,
                                      initial_alphabet=alphabet, special_tokens=[],
                                      show_progress=False, limit_alphabet=256)
        tok.train_from_iterator([text], trainer=trainer)
        model = json.loads(tok.to_str())["model"]
        for m in model["merges"]:
            a, b = m.split(" ") if isinstance(m, str) else m
            merges.append((a, b))
    if len(merges) < n_merges:
        raise VocabError("vocab size %d is larger than the corpus supports (it has repeated pairs "
                         "for at most %d tokens)" % (vocab_size, MIN_VOCAB + len(merges)))
    merges = merges[:n_merges]
    vocab = {}
    for ch in sorted(alphabet, key=_byte_of):
        vocab[ch] = len(vocab)
    for a, b in merges:
        vocab[a + b] = len(vocab)
    if len(vocab) != vocab_size - 1:
        raise VocabError("BPE training produced duplicate tokens (%d unique of %d)"
                         % (len(vocab), vocab_size - 1))
    vocab[EOT] = len(vocab)
    return vocab, merges


_BYTE_OF = None


def _byte_of(ch):
    """The byte value GPT-2's byte-to-unicode table maps to `ch`."""
    global _BYTE_OF
    if _BYTE_OF is None:
        bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) \
            + list(range(ord("\xae"), ord("\xff") + 1))
        cs = bs[:]
        n = 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + n)
                n += 1
        _BYTE_OF = {chr(c): b for b, c in zip(bs, cs)}
    return _BYTE_OF[ch]


def save(vocab, merges, out_dir):
    """Write vocab.json and merges.txt (GPT-2 format, '#version: 0.2' header) atomically."""
    os.makedirs(out_dir, exist_ok=True)
    _atomic_write_text(os.path.join(out_dir, "vocab.json"),
                       json.dumps(vocab, ensure_ascii=False, separators=(",", ":")))
    lines = ["#version: 0.2"] + ["%s %s" % (a, b) for a, b in merges]
    _atomic_write_text(os.path.join(out_dir, "merges.txt"), "\n".join(lines) + "\n")


def load(out_dir):
    """An HF tokenizers ByteLevelBPETokenizer built from out_dir's vocab.json + merges.txt."""
    from tokenizers import ByteLevelBPETokenizer
    tok = ByteLevelBPETokenizer(os.path.join(out_dir, "vocab.json"),
                                os.path.join(out_dir, "merges.txt"),
                                add_prefix_space=False, trim_offsets=False)
    tok.add_special_tokens([EOT])
    return tok


def encode(tok, text):
    import numpy as np
    return np.asarray(tok.encode(text).ids, dtype=np.int32)
