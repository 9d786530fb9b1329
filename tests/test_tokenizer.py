"""The on-device GPT-2 tokenizer (lib/nanollm/tokenizer.py) against Hugging Face `tokenizers`.

Reference: a `tokenizers` BPE model from OpenAI's encoder.json / vocab.bpe with the
ByteLevel pre-tokenizer (add_prefix_space=False) and ByteLevel decoder.  Every test string
must encode to exactly the reference ids and decode back to itself, under CPython and
under the real unix MicroPython.
"""
import json
import os
import random
import sys
import unicodedata

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from testutil import run_micropython_file  # noqa: E402
import tokenizer_cases  # noqa: E402
from tokenizer_lpfile import pack_ids, write_items  # noqa: E402

from nanollm.errors import NanoLLMError  # noqa: E402
from nanollm import tokenizer as tkmod  # noqa: E402
from nanollm.tokenizer import Tokenizer  # noqa: E402

tokenizers = pytest.importorskip("tokenizers")


# Bytes the tokenizer may keep alive after construction, measured on the unix MicroPython
# port (gc.mem_alloc before/after, its build code imported before; December 2026): GPT-2
# 982,752; the 512-token vocab 5,472 (9,024 when the build code's import was counted too).
GPT2_MEM_BOUND = 1050000
SMALL_MEM_BOUND = 6200


def _byte_to_unicode():
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    table = {}
    extra = 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


B2U = _byte_to_unicode()


def _reference(vocab, merges):
    """A HF tokenizer from a vocab dict and a list of (left, right) merges."""
    from tokenizers import Tokenizer as HFTokenizer, decoders, models, pre_tokenizers
    tok = HFTokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def _read_gpt2(d):
    with open(os.path.join(d, "encoder.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(d, "vocab.bpe"), encoding="utf-8") as f:
        lines = [ln for ln in f.read().split("\n") if ln and not ln.startswith("#version")]
    merges = [tuple(ln.split(" ")) for ln in lines]
    return vocab, merges


class Vocab:
    """One vocabulary in all the forms the tests need."""

    def __init__(self, vocab, merges, types=None):
        self.vocab = vocab
        self.merges = merges
        self.tokens = [None] * len(vocab)
        for s, i in vocab.items():
            self.tokens[i] = s.encode("utf-8")
        self.merge_lines = [("%s %s" % m).encode("utf-8") for m in merges]
        self.types = types
        self.ref = _reference(vocab, merges)
        self.tok = Tokenizer(self.tokens, self.merge_lines, types)

    def write(self, d):
        write_items(os.path.join(d, "tokens.lp"), self.tokens)
        write_items(os.path.join(d, "merges.lp"), self.merge_lines)
        if self.types is not None:
            write_items(os.path.join(d, "types.lp"), [bytes(self.types)])


@pytest.fixture(scope="session")
def gpt2(gpt2_vocab_dir):
    vocab, merges = _read_gpt2(gpt2_vocab_dir)
    types = [1] * len(vocab)
    types[vocab["<|endoftext|>"]] = 3
    return Vocab(vocab, merges, types)


@pytest.fixture(scope="session")
def small():
    """A ~512-token ByteLevel BPE trained here with `tokenizers` on a few KB of text."""
    from tokenizers import Tokenizer as HFTokenizer, models, pre_tokenizers, trainers
    t = HFTokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=512, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>"])
    t.train_from_iterator(tokenizer_cases.training_text().split("\n"), trainer)
    model = json.loads(t.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    vocab = model["vocab"]
    types = [1] * len(vocab)
    types[vocab["<|endoftext|>"]] = 3
    return Vocab(vocab, merges, types)


@pytest.fixture(scope="session")
def strings():
    return tokenizer_cases.all_strings()


def _write_cases(path, vocab, strings):
    items = []
    for s in strings:
        items.append(s.encode("utf-8"))
        items.append(pack_ids(vocab.ref.encode(s).ids))
    write_items(path, items)


# -- CPython ----------------------------------------------------------------------------

def test_reference_sanity(gpt2):
    assert gpt2.ref.encode("Hello world").ids == [15496, 995]
    assert gpt2.tok.encode("Hello world") == [15496, 995]
    assert len(gpt2.tok) == gpt2.tok.n_vocab == 50257


def test_encode_matches_reference(gpt2, strings):
    assert len(strings) >= 300
    for s in strings:
        assert gpt2.tok.encode(s) == gpt2.ref.encode(s).ids, s


def test_decode_roundtrip(gpt2, strings):
    for s in strings:
        ids = gpt2.tok.encode(s)
        assert gpt2.tok.decode(ids) == s
        assert gpt2.ref.decode(ids) == s


def test_small_vocab_matches_reference(small, strings):
    assert 400 <= len(small.tokens) <= 600
    for s in strings:
        ids = small.tok.encode(s)
        assert ids == small.ref.encode(s).ids, s
        assert small.tok.decode(ids) == s


def _hf_pieces(pre, text):
    return [p for p, _ in pre.pre_tokenize_str(text)]


_LATIN1_TO_B2U = {b: ord(u) for b, u in B2U.items()}


def _my_pieces(text):
    b = text.encode("utf-8")
    return [b[i:j].decode("latin-1").translate(_LATIN1_TO_B2U) for i, j in tkmod.pieces(b)]


def test_pretokenizer_every_code_point():
    """Every code point assigned in CPython's Unicode version (private use: a sample), in a
    context that splits differently for letters, numbers, whitespace and other characters:
    our pieces equal the HF pre-tokenizer's."""
    from tokenizers import pre_tokenizers
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    cps = []
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        cat = unicodedata.category(chr(cp))
        if cp < 0x80 or cat != "Cn" and (cat != "Co" or cp % 97 == 0):
            cps.append(cp)
    assert len(cps) > 140000
    chunk = 20000
    for k in range(0, len(cps), chunk):
        text = "".join("%sa%s1 %s\n" % ((chr(cp),) * 3) for cp in cps[k:k + chunk])
        assert _my_pieces(text) == _hf_pieces(pre, text), hex(cps[k])


def test_pretokenizer_whitespace_table():
    """\\s, letters and numbers of unicode_ranges.py agree with the HF regex code point by
    code point, also for the characters where str.isspace() disagrees with \\s."""
    from tokenizers import pre_tokenizers
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    for cp in list(range(0x00, 0x100)) + [0x1680, 0x180E, 0x200B, 0x2028, 0x2029, 0x202F,
                                           0x205F, 0x3000, 0xFEFF] + list(range(0x2000, 0x200C)):
        c = chr(cp)
        text = "x%s%sy %s1" % (c, c, c)
        assert _my_pieces(text) == _hf_pieces(pre, text), hex(cp)


def test_unicode_ranges_up_to_date():
    """lib/nanollm/unicode_ranges.py and unicode_ranges.bin are what the generator makes
    (same Unicode version)."""
    from gen import gen_unicode_ranges
    from nanollm import unicode_ranges
    if unicode_ranges.UNICODE_VERSION != unicodedata.unidata_version:
        pytest.skip("this CPython has Unicode %s" % unicodedata.unidata_version)
    table = gen_unicode_ranges.table()
    with open(unicode_ranges.__file__, encoding="ascii") as f:
        assert f.read() == gen_unicode_ranges.render(table)
    folder = os.path.dirname(unicode_ranges.__file__)
    with open(os.path.join(folder, "unicode_ranges.bin"), "rb") as f:
        assert f.read() == table
    with open(os.path.join(folder, "unicode_runs.py"), encoding="ascii") as f:
        assert f.read() == gen_unicode_ranges.render_runs(table)
    assert len(table) == 3 * unicode_ranges.N_RUNS


def test_ranges_file_opened_per_encode_and_missing_file_said(small, monkeypatch, tmp_path):
    """The classes' file is open only while an encode() with a non-ASCII character runs;
    without it, the frozen literal (unicode_runs.py) serves; without both, such an encode()
    says which file is missing (ASCII text needs none)."""
    import sys
    from nanollm import tokenizer
    from nanollm.errors import NanoLLMError
    text = "na\u00efve caf\u00e9 12\u00bd \u2014 ok"
    want = list(tokenizer.pieces(text.encode()))
    assert want == [(0, 6), (6, 12), (12, 17), (17, 21), (21, 24)]
    assert tokenizer._runs is not None and tokenizer._runs.f is not None
    tokenizer._close_runs()
    assert small.tok.encode(text) and tokenizer._runs is None
    monkeypatch.setattr(tokenizer, "_RANGES_FILE", str(tmp_path / "unicode_ranges.bin"))
    assert list(tokenizer.pieces(text.encode())) == want  # from unicode_runs.RUNS
    assert tokenizer._runs.f is None
    tokenizer._close_runs()
    monkeypatch.setitem(sys.modules, "nanollm.unicode_runs", None)  # as if not there
    assert list(tokenizer.pieces(b"plain ASCII, 12")) == [(0, 5), (5, 11), (11, 12), (12, 15)]
    with pytest.raises(NanoLLMError, match="unicode_ranges.bin is missing"):
        list(tokenizer.pieces("caf\u00e9".encode()))
    (tmp_path / "unicode_ranges.bin").write_bytes(b"\x00\x00")
    with pytest.raises(NanoLLMError, match="is truncated"):
        list(tokenizer.pieces("caf\u00e9".encode()))
    tokenizer._close_runs()


def test_control_token_literal(gpt2):
    assert gpt2.tok.decode([50256]) == "<|endoftext|>"
    assert gpt2.tok.token_bytes(50256) == b"<|endoftext|>"
    ids = gpt2.tok.encode("<|endoftext|>")
    assert 50256 not in ids and ids == gpt2.ref.encode("<|endoftext|>").ids
    assert gpt2.tok.decode(gpt2.tok.encode("a<|endoftext|>b")) == "a<|endoftext|>b"


def test_token_bytes(gpt2):
    assert gpt2.tok.token_bytes(gpt2.vocab["\u0120the"]) == b" the"
    assert gpt2.tok.token_bytes(gpt2.vocab["\u010a"]) == b"\n"
    for i in range(0, 50256, 7):
        mapped = "".join(B2U[c] for c in gpt2.tok.token_bytes(i))
        assert mapped == gpt2.ref.id_to_token(i), i


def test_errors(gpt2):
    with pytest.raises(NanoLLMError):
        gpt2.tok.decode([50257])
    with pytest.raises(NanoLLMError):
        gpt2.tok.decode([-1])
    with pytest.raises(NanoLLMError):
        gpt2.tok.token_bytes(10 ** 6)
    with pytest.raises(NanoLLMError):
        gpt2.tok.stream_decoder().feed(50257)
    with pytest.raises(NanoLLMError):
        gpt2.tok.encode(b"bytes")
    # A vocab without the 256 single-byte tokens: encode says which byte is missing.
    t = Tokenizer([b"a", b"b", b"ab"], [b"a b"])
    assert t.encode("abab") == [2, 2]
    with pytest.raises(NanoLLMError, match="0x20"):
        t.encode("ab ab")
    with pytest.raises(NanoLLMError):
        Tokenizer([], [])


def test_merge_with_unknown_parts_is_ignored():
    # merges whose parts / result are missing can never apply (HF would refuse to load)
    t = Tokenizer([b"a", b"b", b"c", b"bc"], [b"a b", b"b c", b"x y", b"nospace"])
    assert t.encode("abc") == [0, 3]


def _byte_tokens():
    return ["".join(B2U[b]).encode("utf-8") for b in range(256)]


def test_long_tokens_and_chunk_boundaries():
    """Tokens longer than a chunk of the byte store, and tokens across chunk edges."""
    toks = _byte_tokens()
    long_literal = b"<|" + b"x" * 9000 + b"|>"
    toks.append(long_literal)                      # 256: control token, literal text
    toks.append(("\u0120" * 3000).encode("utf-8"))  # 257: 3000 spaces (byte-level form)
    toks.append("\u0120\u0120".encode("utf-8"))      # 258: two spaces
    toks += [("w%d" % i).encode() for i in range(3000)]
    types = [1] * len(toks)
    types[256] = 3
    t = Tokenizer(toks, ["\u0120 \u0120".encode("utf-8")], types)
    assert t.token_bytes(256) == long_literal
    assert t.token_bytes(257) == b" " * 3000
    assert t.decode([256, 257, 72]) == long_literal.decode() + " " * 3000 + "H"
    for i in range(259, len(toks)):
        assert t.token_bytes(i) == toks[i], i
    assert t.encode("     ") == [258, 258, 32]  # 5 spaces: pairs from the left
    assert t.is_literal(256) and not t.is_literal(257)


def test_construction_streams_once(tmp_path):
    """The loader's sequences are read by one iteration each, never indexed."""
    from tokenizer_lpfile import LPFile
    toks = _byte_tokens() + ["ab", "\u0120a"]
    toks[-2:] = [x.encode() for x in toks[-2:]]
    write_items(str(tmp_path / "t.lp"), toks)
    write_items(str(tmp_path / "m.lp"), [b"a b", "\u0120 a".encode()])
    T = LPFile(str(tmp_path / "t.lp"))
    M = LPFile(str(tmp_path / "m.lp"))
    t = Tokenizer(T, M)
    assert (T.passes, M.passes, T.random_reads, M.random_reads) == (1, 1, 0, 0)
    assert t.encode("ab a") == [256, 257]


def test_non_byte_level_token_is_literal():
    # a token with characters outside GPT-2's byte alphabet (a real space) is kept as text
    toks = _byte_tokens() + [b"[PAD] x"]
    t = Tokenizer(toks, [])
    assert t.is_literal(256) and t.decode([256]) == "[PAD] x"
    assert t.encode("[PAD] x") == [t._byte_id[b] for b in b"[PAD] x"]


# -- decoding: invalid UTF-8 and streaming ------------------------------------------------

def _random_bytes(rng, n):
    pool = [0x41, 0x20, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
            0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF, 0x00, 0x7F]
    return bytes(rng.choice(pool) if rng.random() < 0.8 else rng.randrange(256) for _ in range(n))


def test_lenient_decode_matches_cpython_replace():
    rng = random.Random(5)
    cases = [b"", b"\xff", b"\xe2\x82", b"\xe2\x82\xac", b"\xed\xa0\x80", b"\xc0\x80",
             b"\xf4\x90\x80\x80", b"\xe0\x80\x80", b"a\xf0\x9f\x98", b"\xf0\x9f\x98\x80"]
    cases += [_random_bytes(rng, rng.randint(1, 12)) for _ in range(3000)]
    for b in cases:
        assert tkmod._decode_lenient(b, True) == (b.decode("utf-8", "replace"), len(b)), b


def test_stream_decoder_split_character(gpt2):
    tok = gpt2.tok
    # "€" is 3 bytes; GPT-2 has the byte tokens, so feed them one by one
    ids = [tok._byte_id[b] for b in "€".encode()]
    d = tok.stream_decoder()
    assert [d.feed(i) for i in ids] == ["", "", "€"]
    assert d.flush() == ""
    # a character split across real tokens of an encoding
    s = "naïve 日本語 🤦🏻‍♂️ ok"
    out = []
    d = tok.stream_decoder()
    for i in tok.encode(s):
        piece = d.feed(i)
        assert "\ufffd" not in piece
        out.append(piece)
    out.append(d.flush())
    assert "".join(out) == s
    # an incomplete tail becomes U+FFFD at flush
    d = tok.stream_decoder()
    assert d.feed(ids[0]) == "" and d.feed(ids[1]) == ""
    assert d.flush() == "\ufffd"
    # invalid sequences come out as U+FFFD right away
    d = tok.stream_decoder()
    assert d.feed(tok._byte_id[0xFF]) == "\ufffd"
    assert d.feed(tok._byte_id[0xE2]) == ""
    assert d.feed(tok._byte_id[0x41]) == "\ufffdA"


def test_stream_decoder_random_ids(gpt2, small):
    rng = random.Random(11)
    for v in (gpt2, small):
        n = len(v.tokens)
        for _ in range(300):
            ids = [rng.randrange(n) for _ in range(rng.randint(0, 20))]
            d = v.tok.stream_decoder()
            got = "".join(d.feed(i) for i in ids) + d.flush()
            raw = b"".join(v.tok.token_bytes(i) for i in ids)
            assert got == raw.decode("utf-8", "replace") == v.tok.decode(ids)


# -- MicroPython --------------------------------------------------------------------------

PROMPT = ("The quick brown fox jumps over the lazy dog. It's 2024, and naïve café-goers pay "
          "€3.50 for coffee; “smart quotes” — em dashes… 日本語 and emoji 👍🏽!\n\tx = f(y, 42)  # ok")


def _run_mp(vocab, strings, tmp_path, heapsize):
    vocab.write(str(tmp_path))
    _write_cases(os.path.join(str(tmp_path), "cases.lp"), vocab, strings)
    out = run_micropython_file("tokenizer_build_check.py",
                               [str(tmp_path), int(vocab.types is not None), vocab.vocab["<|endoftext|>"], PROMPT],
                               heapsize=heapsize)
    res = {}
    fails = []
    for line in out.splitlines():
        if line.startswith("FAIL"):
            fails.append(line)
        else:
            k, _, v = line.partition(" ")
            res[k] = v
    assert not fails, "\n".join(fails)
    assert int(res["CASES"]) == len(strings)
    assert res["RANDOM_READS"] == "0 PASSES 1 1"  # one streaming pass, no random access
    assert res["STREAM_BAD"] == "0"
    assert res["EOT"] == repr("<|endoftext|>")
    print(out)
    return res


def test_micropython_gpt2(gpt2, strings, tmp_path):
    res = _run_mp(gpt2, strings, tmp_path, heapsize="3M")  # builds in ~1.6M
    assert int(res["MEM"]) <= GPT2_MEM_BOUND
    assert int(res["ENCODE_US"]) < 1000000  # a 200-character prompt in well under 1 s


def test_micropython_small_vocab(small, strings, tmp_path):
    res = _run_mp(small, strings, tmp_path, heapsize="2M")
    assert int(res["MEM"]) <= SMALL_MEM_BOUND
