"""GPT-2 byte-level BPE tokenizer for the on-device runtime (MicroPython and CPython).

    tok = Tokenizer(tokens, merges, token_types=None)
    ids = tok.encode("Hello world")          # [15496, 995] with GPT-2's vocab
    text = tok.decode(ids)                   # invalid UTF-8 -> U+FFFD, never raises
    d = tok.stream_decoder(); d.feed(i) ...  # incremental text, whole characters only

`encode` gives exactly the ids of OpenAI's / Hugging Face's GPT-2 tokenizer: the text is
split by the pre-tokenizer regex
    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
(hand-written here, over the UTF-8 bytes, with the character classes of
unicode_ranges.py and unicode_ranges.bin), then each piece's bytes are merged pairwise,
lowest merge rank first (leftmost first among equal ranks), as Hugging Face's BPE model does.

Inputs
  tokens       the vocabulary as UTF-8 bytes in GPT-2's byte-to-unicode form
               (b"\\xc4\\xa0the" is "Ġthe" is the raw bytes b" the").  Read once, in
               order, by iteration; `tokens[i]` is never called.
  merges       b"left right" merge rules in the same form, rank = position.  Read once.
  token_types  optional GGUF token types.  Types 3 (control, e.g. <|endoftext|>) and
               4 (user-defined) are kept as their literal UTF-8 text: `encode` never
               produces them from plain text, and `decode` gives their literal text
               (decode([50256]) == "<|endoftext|>").  A token of another type whose
               text is not in GPT-2's byte alphabet is treated the same way.
  Merges whose parts or result are not in the vocabulary, or that involve a control
  token, are ignored (they can never apply).

Memory (what stays allocated after construction; V tokens, M merges; ids are 'H'
(2 bytes) when V < 65535, else 'I'):
  per token : its raw bytes (6.4 on average for GPT-2, ~2 for a 512-token vocab), in
              chunks of 1-4 KB (no single large block is needed), + an offset: 2 bytes
              ('H') for vocabs up to 8192 tokens whose bytes total < 64 KB, else 4
              + 1 bit (literal-text flag) + 256 ids (byte -> token) shared.
  per merge : 2 + 2 + 2 (left, right and result ids) + 1.5 slots x 2 bytes of the
              open-addressing table (left, right) -> rank + 1  =  9 bytes.
  Measured on the unix MicroPython port (gc.mem_alloc before/after construction):
    GPT-2, 50,257 tokens + 50,000 merges: 982,720 bytes (10.6 per token, 9.0 per merge)
    trained 512-token vocab + 255 merges:   5,408 bytes ( 6.1 per token, 9.0 per merge)
  Construction also holds a temporary table raw token bytes -> id (2.5 slots x 2 bytes
  per token), freed at the end; the fixed-size tables are allocated largest first to
  limit fragmentation.  The GPT-2 tokenizer builds in a 1.6 MB MicroPython heap
  (that includes ~0.2 MB for importing the nanollm package and the test harness).
The character classes: ASCII's are a 128-byte literal (unicode_ranges.py); those above
are 4.6 KB of runs in unicode_ranges.bin, binary-searched where they lie (in place on a
ROMFS partition, else read 3 bytes at a time from the file, opened at the first non-ASCII
character of an encode() and closed at its end): no heap for them between calls. Frozen
firmware has no file beside the code: there the runs are unicode_runs.py's literal, in flash.

No per-call cache: `encode` allocates only per piece (a list of ids and one of ranks).
"""


from .errors import NanoLLMError
from .unicode_ranges import ASCII as _ASCII_CLS, N_RUNS as _N_RUNS

_OTHER = 0
_LETTER = 1
_NUMBER = 2
_SPACE = 3

_NONE = 0x3FFFFFFF  # "no merge" rank: larger than every real rank, still a small int


_RANGES_FILE = (__file__.rsplit("/", 1)[0] + "/" if "/" in __file__ else "") + "unicode_ranges.bin"


class _Runs:
    """unicode_ranges.bin, open: run i's 3 bytes, from a view of the file when its
    filesystem keeps it in memory (ROMFS), else read into a buffer of 3. Without the file
    beside this module (firmware that freezes the package), unicode_runs.py's literal."""

    def __init__(self):
        self.buf = bytearray(3)
        try:
            self.f = open(_RANGES_FILE, "rb")
        except OSError:
            self.f = None
            self.view = _frozen_runs()
            return
        try:
            self.view = memoryview(self.f)
        except (TypeError, ValueError, OSError, AttributeError):
            self.view = None

    def key(self, i):
        r = self.view
        j = 3 * i
        if r is None:
            self.f.seek(j)
            r = self.buf
            if self.f.readinto(r) != 3:
                raise NanoLLMError("%s is truncated: copy it again" % _RANGES_FILE)
            j = 0
        return (r[j] << 16) | (r[j + 1] << 8) | r[j + 2]

    def close(self):
        self.view = None
        if self.f is not None:
            self.f.close()


def _frozen_runs():
    try:
        from .unicode_runs import RUNS
    except ImportError:
        raise NanoLLMError("%s is missing: copy the whole nanollm folder to the board (the tokenizer "
                           "reads the classes of non-ASCII characters there)" % _RANGES_FILE)
    return RUNS


_runs = None  # the open _Runs between the first non-ASCII character of an encode() and its end


def _close_runs():
    global _runs
    if _runs is not None:
        r = _runs
        _runs = None
        r.close()


def _class_of(cp):
    """Character class of a code point > 127 (binary search in unicode_ranges.bin)."""
    global _runs
    r = _runs
    if r is None:
        r = _runs = _Runs()
    key = (cp << 2) | 3
    lo = 0
    hi = _N_RUNS  # runs[lo] <= key < runs[hi] ; runs[0] = 0
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if r.key(mid) <= key:
            lo = mid
        else:
            hi = mid
    return r.key(lo) & 3


def _char_at(s, i):
    """(class, index after the character) of the UTF-8 character at s[i] (s is valid)."""
    b = s[i]
    if b < 0x80:
        return _ASCII_CLS[b], i + 1
    if b < 0xE0:
        return _class_of(((b & 0x1F) << 6) | (s[i + 1] & 0x3F)), i + 2
    if b < 0xF0:
        return (_class_of(((b & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F)),
                i + 3)
    return (_class_of(((b & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12)
                      | ((s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F)), i + 4)


def pieces(s):
    """Yield (start, end) byte spans of the pre-tokenizer pieces of UTF-8 bytes `s`."""
    n = len(s)
    i = 0
    while i < n:
        b = s[i]
        if b == 0x27 and i + 1 < n:  # ' : contractions 's 't 're 've 'm 'll 'd
            c1 = s[i + 1]
            if c1 == 0x73 or c1 == 0x74 or c1 == 0x6D or c1 == 0x64:  # s t m d
                yield i, i + 2
                i += 2
                continue
            if i + 2 < n:
                c2 = s[i + 2]
                if (c2 == 0x65 and (c1 == 0x72 or c1 == 0x76)) or (c1 == 0x6C and c2 == 0x6C):
                    yield i, i + 3  # 're 've 'll
                    i += 3
                    continue
        start = i
        if b < 0x80:
            c = _ASCII_CLS[b]
            j = i + 1
        else:
            c, j = _char_at(s, i)
        if b == 0x20 and j < n:  # " ?X+" : a space joins a following non-space run
            c2, j2 = _char_at(s, j)
            if c2 != _SPACE:
                c = c2
                j = j2
        if c == _SPACE:
            last = start  # start of the last whitespace character of the run
            k = j
            while k < n:
                b = s[k]
                if b < 0x80:
                    if _ASCII_CLS[b] != _SPACE:
                        break
                    k3 = k + 1
                else:
                    c3, k3 = _char_at(s, k)
                    if c3 != _SPACE:
                        break
                last = k
                k = k3
            if k < n and last > start:
                k = last  # \s+(?!\S): leave the last space for the next piece
            yield start, k
            i = k
            continue
        k = j
        while k < n:
            b = s[k]
            if b < 0x80:
                if _ASCII_CLS[b] != c:
                    break
                k += 1
            else:
                c3, k3 = _char_at(s, k)
                if c3 != c:
                    break
                k = k3
        yield start, k
        i = k


def _utf8_char_len(buf, i, n):
    """Length of the UTF-8 character at buf[i].

    > 0: a valid character of that many bytes.  < 0: -(number of bytes that form an
    invalid sequence, to be replaced by one U+FFFD) -- the 'maximal subpart' rule that
    CPython's errors='replace' and Rust's from_utf8_lossy follow.  0: a valid but
    incomplete prefix that runs to the end of buf.
    """
    b = buf[i]
    if b < 0x80:
        return 1
    if b < 0xC2 or b > 0xF4:
        return -1
    if b < 0xE0:
        need = 1
        lo = 0x80
        hi = 0xBF
    elif b < 0xF0:
        need = 2
        lo = 0xA0 if b == 0xE0 else 0x80
        hi = 0x9F if b == 0xED else 0xBF
    else:
        need = 3
        lo = 0x90 if b == 0xF0 else 0x80
        hi = 0x8F if b == 0xF4 else 0xBF
    k = 1
    while k <= need:
        if i + k >= n:
            return 0
        c = buf[i + k]
        if c < lo or c > hi:
            return -k
        lo = 0x80
        hi = 0xBF
        k += 1
    return need + 1


def _decode_lenient(buf, final):
    """Decode UTF-8 bytes, invalid sequences -> U+FFFD.

    Returns (text, consumed).  If not `final`, a valid but incomplete character at the
    end is not consumed (consumed < len(buf)); if `final`, it becomes one U+FFFD.
    """
    # MicroPython's bytes.decode accepts overlong forms and surrogates, so every byte
    # is checked here and only checked runs are handed to decode().
    n = len(buf)
    out = []
    start = 0  # start of the pending run of valid bytes
    i = 0
    while i < n:
        if buf[i] < 0x80:
            i += 1
            continue
        L = _utf8_char_len(buf, i, n)
        if L > 0:
            i += L
            continue
        if start < i:
            out.append(bytes(buf[start:i]).decode())
        if L == 0:
            if not final:
                return "".join(out), i
            out.append("\ufffd")
            i = n
        else:
            out.append("\ufffd")
            i -= L
        start = i
    if start == 0:
        return bytes(buf).decode(), n
    if start < n:
        out.append(bytes(buf[start:n]).decode())
    return "".join(out), n


class StreamDecoder:
    """Turns ids into text one at a time; holds back an incomplete UTF-8 character."""

    def __init__(self, tok):
        self._tok = tok
        self._pending = b""

    def feed(self, token_id):
        """Text completed by this token ("" if none yet).  Never raises for a valid id."""
        buf = self._pending + self._tok.token_bytes(token_id)
        text, used = _decode_lenient(buf, False)
        self._pending = buf[used:]
        return text

    def flush(self):
        """What is left; an incomplete character becomes U+FFFD.  Resets the decoder."""
        buf = self._pending
        self._pending = b""
        if not buf:
            return ""
        return _decode_lenient(buf, True)[0]


class Tokenizer:
    def __init__(self, tokens, merges, token_types=None):
        # the tables are built by code of its own, which a model's load drops after
        from .tokenizer_tables import build
        build(self, tokens, merges, token_types)

    def __len__(self):
        return self.n_vocab

    def move_tables(self):
        """Copy every table (a slice is a new array of the same type) and let the originals
        go: after a load drops the file's index, the copies take the lowest holes they fit."""
        for name in ("_offsets", "_byte_id", "_literal", "_mtab", "_mleft", "_mright", "_mres"):
            setattr(self, name, getattr(self, name)[:])
        ch = self._chunks
        for i in range(len(ch)):
            ch[i] = ch[i][:]

    # -- encoding ---------------------------------------------------------------------

    def _rank(self, a, b):
        """Rank of merging ids (a, b), or _NONE."""
        mtab = self._mtab
        cap = self._mcap
        slot = (a * 1021 + b) % cap
        while True:
            e = mtab[slot]
            if e == 0:
                return _NONE
            e -= 1
            if self._mleft[e] == a and self._mright[e] == b:
                return e
            slot += 1
            if slot == cap:
                slot = 0

    def _missing_byte(self, b):
        raise NanoLLMError(
            "tokenizer: byte 0x%02x has no token; the vocabulary lacks GPT-2's 256 "
            "single-byte tokens, so this text cannot be encoded" % b)

    def encode(self, text):
        """Token ids of `text` (a str), identical to GPT-2's tokenizer."""
        if not isinstance(text, str):
            raise NanoLLMError("tokenizer: encode() takes a str, not %s" % type(text).__name__)
        try:
            s = text.encode()
        except UnicodeError:
            raise NanoLLMError("tokenizer: the text is not valid Unicode (lone surrogate?)")
        try:
            return self._encode_bytes(s)
        finally:
            _close_runs()  # the character classes' file, if a non-ASCII character opened it

    def _encode_bytes(self, s):
        out = []
        byte_id = self._byte_id
        absent = self._absent
        rank = self._rank
        mres = self._mres
        for start, end in pieces(s):
            if end - start == 1:
                t = byte_id[s[start]]
                if t == absent:
                    self._missing_byte(s[start])
                out.append(t)
                continue
            ids = []
            for k in range(start, end):
                t = byte_id[s[k]]
                if t == absent:
                    self._missing_byte(s[k])
                ids.append(t)
            ranks = [rank(ids[k], ids[k + 1]) for k in range(len(ids) - 1)]
            while ranks:
                r = min(ranks)
                if r == _NONE:
                    break
                k = ranks.index(r)
                new = mres[r]
                ids[k] = new
                del ids[k + 1]
                del ranks[k]
                if k < len(ranks):
                    ranks[k] = rank(new, ids[k + 1])
                if k > 0:
                    ranks[k - 1] = rank(ids[k - 1], new)
            out.extend(ids)
        return out

    # -- decoding ---------------------------------------------------------------------

    def token_bytes(self, token_id):
        """The raw bytes of one token (its literal UTF-8 text for control tokens)."""
        if not 0 <= token_id < self.n_vocab:
            raise NanoLLMError("tokenizer: token id %r is out of range (vocabulary of %d)"
                               % (token_id, self.n_vocab))
        o = self._offsets
        return self._span(o[token_id], o[token_id + 1])

    def _span(self, start, end):
        """Bytes start..end of the token byte store."""
        if start >= end:
            return b""
        shift = self._shift
        c = start >> shift
        if c == (end - 1) >> shift:
            base = c << shift
            return bytes(self._chunks[c][start - base:end - base])
        out = bytearray()
        while start < end:
            c = start >> shift
            base = c << shift
            stop = base + (1 << shift)
            if stop > end:
                stop = end
            out.extend(self._chunks[c][start - base:stop - base])
            start = stop
        return bytes(out)

    def is_literal(self, token_id):
        """True for tokens kept as literal text (control / user-defined tokens)."""
        return bool(self._literal[token_id >> 3] & (1 << (token_id & 7)))

    def decode(self, ids):
        """The text of a sequence of ids; invalid UTF-8 becomes U+FFFD."""
        n = self.n_vocab
        o = self._offsets
        span = self._span
        buf = bytearray()
        for t in ids:
            if not 0 <= t < n:
                raise NanoLLMError("tokenizer: token id %r is out of range (vocabulary of %d)"
                                   % (t, n))
            buf.extend(span(o[t], o[t + 1]))
        return _decode_lenient(buf, True)[0]

    def stream_decoder(self):
        return StreamDecoder(self)
