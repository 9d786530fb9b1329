"""Fuzzing the tokenizer with random Unicode, random bytes and random id sequences, on CPython
and the real MicroPython, with the GPT-2 vocabulary and the small gpt2_tiny fixture vocabulary:
  * detokenize(tokenize(s)) == s for every valid string, and both interpreters give the same ids;
  * decoding any sequence of valid ids never raises: invalid UTF-8 becomes U+FFFD exactly where
    CPython's "replace" decoder puts it, and the stream decoder gives the same text, holding an
    incomplete character back (never a U+FFFD in the middle of one that completes later);
  * bad arguments (bytes, lone surrogates, ids out of range) get NanoLLMError.
"""
import json
import os
import random

import pytest

from testutil import FIXTURES, run_micropython_file
from tokenizer_lpfile import pack_ids, write_items

from nanollm.errors import NanoLLMError
from nanollm.tokenizer import Tokenizer

N_STRINGS_CPY = 3000   # per vocabulary
N_STRINGS_MP = 1000
N_IDSEQ_CPY = 2000
N_IDSEQ_MP = 500

# code point ranges to draw from (surrogates excluded: they are not valid in a str to encode)
_RANGES = [(0x00, 0x7F), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF),
           (0x0300, 0x036F), (0x1F300, 0x1FAFF), (0x4E00, 0x9FFF), (0x0600, 0x06FF), (0x0E00, 0x0E7F)]
_SPECIAL = [" ", "  ", "\n", "\r\n", "\t", "\u00a0", "\u3000", "'s", "'ll", "'", "0", "123", "\x00",
            "\ufeff", "\u200d", "\ufffd", "<|endoftext|>", "e\u0301", "\U0001F44D\U0001F3FD", "a"]


def random_text(rng):
    k = rng.random()
    if k < 0.15:  # random bytes, made text by the UTF-8 'replace' decoder
        return bytes(rng.randrange(256) for _ in range(rng.randrange(40))).decode("utf-8", "replace")
    if k < 0.25:  # random bytes as Latin-1 text
        return bytes(rng.randrange(256) for _ in range(rng.randrange(40))).decode("latin-1")
    parts = []
    for _ in range(rng.randrange(1, 24)):
        r = rng.random()
        if r < 0.35:
            parts.append(rng.choice(_SPECIAL))
        elif r < 0.6:
            parts.append(chr(rng.randrange(0x20, 0x7F)) * rng.choice((1, 1, 1, 2, 5)))
        else:
            lo, hi = rng.choice(_RANGES)
            parts.append(chr(rng.randint(lo, hi)))
    return "".join(parts)


class Vocab:
    def __init__(self, tokens, merges, types):
        self.tokens, self.merges, self.types = tokens, merges, types
        self.tok = Tokenizer(tokens, merges, types)

    def write(self, d):
        write_items(os.path.join(d, "tokens.lp"), self.tokens)
        write_items(os.path.join(d, "merges.lp"), self.merges)
        write_items(os.path.join(d, "types.lp"), [bytes(self.types)])


def _vocab(vocab, merge_lines):
    tokens = [None] * len(vocab)
    for s, i in vocab.items():
        tokens[i] = s.encode("utf-8")
    types = [3 if t == b"<|endoftext|>" else 1 for t in tokens]
    return Vocab(tokens, [m.encode("utf-8") for m in merge_lines], types)


@pytest.fixture(scope="module")
def vocabs(gpt2_vocab_dir):
    with open(os.path.join(gpt2_vocab_dir, "encoder.json"), encoding="utf-8") as f:
        g = json.load(f)
    with open(os.path.join(gpt2_vocab_dir, "vocab.bpe"), encoding="utf-8") as f:
        gm = [ln for ln in f.read().split("\n") if ln and not ln.startswith("#version")]
    d = os.path.join(FIXTURES, "gpt2_tiny")
    with open(os.path.join(d, "vocab.json"), encoding="utf-8") as f:
        s = json.load(f)
    with open(os.path.join(d, "merges.txt"), encoding="utf-8") as f:
        sm = [ln for ln in f.read().split("\n") if ln and not ln.startswith("#version")]
    return {"gpt2": _vocab(g, gm), "tiny": _vocab(s, sm)}


def _id_seqs(rng, v, n):
    """Random id sequences, biased to single-byte tokens (which make broken UTF-8 often)."""
    nv = len(v.tokens)
    byte_ids = [v.tok._byte_id[b] for b in range(256) if v.tok._byte_id[b] != v.tok._absent]
    out = []
    for _ in range(n):
        ids = [rng.choice(byte_ids) if rng.random() < 0.5 else rng.randrange(nv)
               for _ in range(rng.randrange(0, 24))]
        out.append(ids)
    return out


@pytest.mark.parametrize("name", ["gpt2", "tiny"])
def test_roundtrip_random_text_cpython(vocabs, name):
    v = vocabs[name]
    rng = random.Random({"gpt2": 1, "tiny": 2}[name])
    n = 0
    for _ in range(N_STRINGS_CPY):
        s = random_text(rng)
        ids = v.tok.encode(s)
        assert all(0 <= i < len(v.tokens) for i in ids)
        assert v.tok.decode(ids) == s, (s, ids)
        n += 1
    assert n == N_STRINGS_CPY


@pytest.mark.parametrize("name", ["gpt2", "tiny"])
def test_decode_random_ids_cpython(vocabs, name):
    v = vocabs[name]
    rng = random.Random(7)
    replaced = 0
    for ids in _id_seqs(rng, v, N_IDSEQ_CPY):
        raw = b"".join(v.tok.token_bytes(i) for i in ids)
        want = raw.decode("utf-8", "replace")
        assert v.tok.decode(ids) == want
        d = v.tok.stream_decoder()
        pieces = [d.feed(i) for i in ids]
        assert "".join(pieces) + d.flush() == want
        replaced += "\ufffd" in want
    assert replaced >= N_IDSEQ_CPY // 10  # the sequences did exercise invalid UTF-8


def test_split_characters_are_held_back(vocabs):
    """Feeding a valid multi-byte character byte by byte: nothing until it completes."""
    v = vocabs["gpt2"]
    rng = random.Random(5)
    for _ in range(500):
        ch = chr(rng.choice((rng.randint(0x80, 0x7FF), rng.randint(0x800, 0xD7FF), rng.randint(0x10000, 0x10FFFF))))
        b = ch.encode()
        d = v.tok.stream_decoder()
        got = [d.feed(v.tok._byte_id[x]) for x in b]
        assert got[:-1] == [""] * (len(b) - 1) and got[-1] == ch
        assert d.flush() == ""
        # cut short: the held bytes come out as one U+FFFD at the end of the stream
        d = v.tok.stream_decoder()
        assert [d.feed(v.tok._byte_id[x]) for x in b[:-1]] == [""] * (len(b) - 1)
        assert d.flush() == "\ufffd"


def test_bad_arguments(vocabs):
    tok = vocabs["tiny"].tok
    for bad in (b"bytes", None, 42):
        with pytest.raises(NanoLLMError, match="takes a str"):
            tok.encode(bad)
    with pytest.raises(NanoLLMError, match="not valid Unicode"):
        tok.encode("a\ud800b")
    for bad_id in (-1, len(tok), 10 ** 12):
        with pytest.raises(NanoLLMError, match="out of range"):
            tok.decode([0, bad_id])
        with pytest.raises(NanoLLMError, match="out of range"):
            tok.stream_decoder().feed(bad_id)


@pytest.mark.parametrize("name,heap", [("gpt2", "3M"), ("tiny", "512k")])
def test_micropython_random_text_and_ids(vocabs, name, heap, tmp_path):
    v = vocabs[name]
    v.write(str(tmp_path))
    rng = random.Random(99)
    items = []
    for _ in range(N_STRINGS_MP):
        s = random_text(rng)
        items += [s.encode(), pack_ids(v.tok.encode(s))]
    write_items(str(tmp_path / "cases.lp"), items)
    items = []
    for ids in _id_seqs(rng, v, N_IDSEQ_MP):
        items += [pack_ids(ids), b"".join(v.tok.token_bytes(i) for i in ids).decode("utf-8", "replace").encode()]
    write_items(str(tmp_path / "ids.lp"), items)
    out = run_micropython_file("tokenizer_random_check.py", [str(tmp_path)], heapsize=heap)
    fails = [ln for ln in out.splitlines() if ln.startswith("FAIL")]
    assert not fails, "\n".join(fails[:10])
    assert "CASES %d" % N_STRINGS_MP in out and "IDS %d" % N_IDSEQ_MP in out, out
