# Building a tokenizer's tables from the vocabulary and the merge rules (tokenizer.py's
# Tokenizer does the encoding and decoding with them). Load-time code only: a model's load
# drops this module once its tokenizer is built (model.py), so its code does not stay in RAM
# beside the run state.
from array import array

from .arena import ITEM_BYTES, tidy, zeros
from .errors import NanoLLMError

# GPT-2's byte-to-unicode map: bytes 33..126, 161..172 and 174..255 stand for themselves;
# the other 68 bytes (0..32, 127..160, 173), in order, become U+0100..U+0143.
_SHIFTED = bytes(list(range(0, 33)) + list(range(127, 161)) + [173])

# While a load packs what it keeps (arena.tidy), a collection every 64 entries and before
# each chunk of the byte store and the tables' attributes, which stay.

# Hash of raw bytes (the built-in hash of bytes on MicroPython keeps only 8-16 bits).
# Kept below 2**30 so it stays a small int on 32-bit boards.
_HMUL = 131
_HMASK = 0x3FFFFF


def _raw_token(t):
    """(raw bytes, hash) of a token in GPT-2's byte-to-unicode form; (None, 0) if the
    token has a character outside that alphabet."""
    out = bytearray(len(t))
    n = len(t)
    i = 0
    k = 0
    h = 0
    shifted = _SHIFTED
    while i < n:
        b = t[i]
        if b < 0x80:
            if b < 33 or b > 126:
                return None, 0
            i += 1
        elif b == 0xC2 or b == 0xC3:
            if i + 1 >= n:
                return None, 0
            b = ((b & 0x1F) << 6) | (t[i + 1] & 0x3F)
            if b < 161 or b == 173:
                return None, 0
            i += 2
        elif b == 0xC4 or b == 0xC5:
            if i + 1 >= n:
                return None, 0
            b = (((b & 0x1F) << 6) | (t[i + 1] & 0x3F)) - 256
            if b >= len(shifted):
                return None, 0
            b = shifted[b]
            i += 2
        else:
            return None, 0
        out[k] = b
        k += 1
        h = (h * _HMUL + b) & _HMASK
    if k < n:
        out = out[:k]
    return out, h


def _hash_bytes(data, h=0):
    for b in data:
        h = (h * _HMUL + b) & _HMASK
    return h


def _zeros(typecode, n):
    return zeros(typecode, n * ITEM_BYTES[typecode])


def build(tok, tokens, merges, token_types=None):
    """Fill Tokenizer `tok`'s tables (see Tokenizer.__init__)."""
    n = len(tokens)
    m = len(merges)
    if n == 0:
        raise NanoLLMError("tokenizer: the vocabulary is empty")
    tok.n_vocab = n
    tok.n_merges = m
    idt = "H" if n < 0xFFFF else "I"
    absent = 0xFFFF if idt == "H" else 0xFFFFFFFF
    tok._absent = absent

    # All fixed-size tables first, largest first: each is made from a zeroed bytes
    # object that is freed at once, and the hole it leaves fits the next, smaller
    # table.  htab is a temporary open-addressing table raw bytes -> id + 1
    # (0 = empty) that resolves the merges' strings to ids; freed at the end.
    hcap = (n * 2 + n // 2) | 1
    htab = _zeros(idt, hcap)
    # offsets: 'H' while the byte store stays under 64 KB (widened if it does not)
    wide = n > 8192
    offsets = _zeros("I" if wide else "H", n + 1)
    rt = "H" if m < 0xFFFF else "I"
    mcap = (m + m // 2) | 1
    if mcap < 3:
        mcap = 3
    mtab = _zeros(rt, mcap)
    mleft = _zeros(idt, m)
    mright = _zeros(idt, m)
    mres = _zeros(idt, m)
    byte_id = _zeros(idt, 256)
    for b in range(256):
        byte_id[b] = absent
    literal = bytearray((n + 7) >> 3)  # bit set: token is kept as literal text
    # the byte store: chunks of 1-4 KB, small ones for small vocabularies
    shift = 10 if n <= 1024 else (11 if n <= 4096 else 12)
    tok._shift = shift
    chunk = 1 << shift

    # Pass 1 over the tokens: raw bytes into fixed-size chunks (no large block to
    # grow or find on a fragmented heap), offsets, byte -> id, the temporary table.
    cur = bytearray(chunk)  # the chunk being filled, always chunks[-1]
    chunks = [cur]
    tok._chunks = chunks
    p = 0  # fill of cur
    types = iter(token_types) if token_types is not None else None
    pos = 0
    tid = 0
    for t in tokens:
        if isinstance(t, str):
            t = t.encode()
        if tid >= n:
            raise NanoLLMError("tokenizer: the token list is longer than its length")
        ttype = 1
        if types is not None:
            try:
                ttype = next(types)
            except StopIteration:
                types = None
        raw = None
        if ttype != 3 and ttype != 4:
            raw, h = _raw_token(t)
        L = 0
        if raw is None:
            raw = bytes(t)
            literal[tid >> 3] |= 1 << (tid & 7)
            L = len(raw)
        else:
            L = len(raw)
            if L == 1 and byte_id[raw[0]] == absent:
                byte_id[raw[0]] = tid
            # insert unless an earlier token has the same bytes
            slot = h % hcap
            while True:
                e = htab[slot]
                if e == 0:
                    htab[slot] = tid + 1
                    break
                e -= 1
                o = offsets[e]
                if offsets[e + 1] - o == L and tok._span(o, o + L) == raw:
                    break
                slot += 1
                if slot == hcap:
                    slot = 0
        if p + L <= chunk:
            cur[p:p + L] = raw
            p += L
        else:
            k = 0
            while k < L:
                c = chunk - p
                if c > L - k:
                    c = L - k
                cur[p:p + c] = raw[k:k + c]
                p += c
                k += c
                if p == chunk:
                    cur = bytearray(chunk)
                    chunks.append(cur)
                    p = 0
        if p == chunk:
            tidy()
            cur = bytearray(chunk)
            chunks.append(cur)
            p = 0
        pos += L
        tid += 1
        if not tid & 63:
            tidy()  # the garbage of 64 entries at most between collections
        if pos > 0xFFFF and not wide:
            offsets = array("I", offsets)
            wide = True
        offsets[tid] = pos
    if tid != n:
        raise NanoLLMError("tokenizer: got %d tokens, expected %d" % (tid, n))
    if p:
        tidy()
        chunks[-1] = cur[:p]  # the last chunk shrunk to its fill
    else:
        chunks.pop()
    del cur
    tok._offsets = offsets
    tok._byte_id = byte_id
    tok._literal = literal
    span = tok._span

    def lookup(raw, h):
        L = len(raw)
        slot = h % hcap
        while True:
            e = htab[slot]
            if e == 0:
                return -1
            e -= 1
            o = offsets[e]
            if offsets[e + 1] - o == L and span(o, o + L) == raw:
                return e
            slot += 1
            if slot == hcap:
                slot = 0

    # Pass 2 over the merges: ids of left, right and result, and the pair table
    # (left, right) -> rank + 1.
    rank = 0
    for line in merges:
        if rank >= m:
            raise NanoLLMError("tokenizer: the merge list is longer than its length")
        if isinstance(line, str):
            line = line.encode()
        sp = line.find(b" ")
        a = b = r = -1
        if sp > 0:
            la, ha = _raw_token(line[:sp])
            lb, hb = _raw_token(line[sp + 1:])
            if la is not None and lb is not None:
                a = lookup(la, ha)
                b = lookup(lb, hb)
                if a >= 0 and b >= 0:
                    r = lookup(la + lb, _hash_bytes(lb, ha))
        if r >= 0:
            mleft[rank] = a
            mright[rank] = b
            mres[rank] = r
            slot = (a * 1021 + b) % mcap
            while True:
                e = mtab[slot]
                if e == 0:
                    mtab[slot] = rank + 1
                    break
                e -= 1
                if mleft[e] == a and mright[e] == b:
                    break  # duplicate rule: the earlier rank wins
                slot += 1
                if slot == mcap:
                    slot = 0
        rank += 1
        if not rank & 63:
            tidy()  # the garbage of 64 entries at most between collections
    if rank != m:
        raise NanoLLMError("tokenizer: got %d merges, expected %d" % (rank, m))
    tidy()  # the tokenizer's attribute table may grow now: below the merges' garbage
    tok._mleft = mleft
    tok._mright = mright
    tok._mres = mres
    tok._mtab = mtab
    tok._mcap = mcap
    del htab
