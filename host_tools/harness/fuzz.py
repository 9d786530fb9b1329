#!/usr/bin/env python3
"""Fuzz the GGUF model reader: mutate valid model files and load every mutant.

Every mutant must either load (and then one forward step and one greedy pick run) or fail
with nanollm.NanoLLMError and a one-line message: no other exception, no hang, no
allocation larger than the file can justify, no read outside a tensor's declared bytes.

  python host_tools/harness/fuzz.py gguf --cases 100000 --seed 1          # CPython, in-process
  python host_tools/harness/fuzz.py gguf --cases 20000 --micropython      # the unix MicroPython
  python host_tools/harness/fuzz.py atheris --seconds 600                 # coverage-guided (atheris)

The same file runs under MicroPython as the batch runner (`micropython fuzz.py run LIST GOOD`,
lib/ on MICROPYPATH): its top level imports nothing MicroPython lacks, and the host-only parts
import lazily.
"""
import sys

# ---------------------------------------------------------------- runner (both interpreters)

OK = "ok"
ERR = "err"
BAD = "bad"


def _one_line(s):
    return s.replace("\n", "\\n")


def load_and_step(path):
    """Load `path` with the public API, run one forward step and a greedy pick.

    Returns (OK, info) or raises whatever the library raised."""
    import nanollm
    from nanollm.sampling import Sampler
    m = nanollm.load(path)
    logits = m.forward(0, 0)
    if len(logits) != m.n_vocab:
        raise AssertionError("forward gave %d logits for a vocabulary of %d" % (len(logits), m.n_vocab))
    Sampler(m.n_vocab, m.logit_scale, 0, 0, 1.0, 1).sample(logits)
    return "%s %d" % (m.mode, m.n_vocab)


def run_case(path):
    """(status, text) for one file: OK, ERR + message, or BAD + exception type and message."""
    from nanollm import NanoLLMError
    try:
        return OK, load_and_step(path)
    except NanoLLMError as e:
        msg = str(e)
        if not msg or "\n" in msg:
            return BAD, "NanoLLMError with a message that is empty or not one line: %r" % msg
        return ERR, msg
    except Exception as e:  # noqa: BLE001  (the point: report anything else)
        return BAD, "%s: %s" % (type(e).__name__, _one_line(str(e)))


def mp_main(list_path, good_path):
    """MicroPython batch: one mutant path per line; prints START i / RES i status ms text.

    Every 64 cases, and at the end, the good model must still load and run (the module stays
    usable after any error)."""
    import time
    import gc
    with open(list_path) as f:
        paths = [ln.strip() for ln in f if ln.strip()]
    for i, p in enumerate(paths):
        print("START", i)
        t0 = time.ticks_ms()
        st, text = run_case(p)
        print("RES", i, st, time.ticks_diff(time.ticks_ms(), t0), text)
        if i % 64 == 63 or i == len(paths) - 1:
            st, text = run_case(good_path)
            print("GOOD", i, st, text)
            gc.collect()
    print("DONE", len(paths))


# ---------------------------------------------------------------- GGUF layout (host only)

T_STRING = 8
T_ARRAY = 9
_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


class Layout:
    """Where every field of a GGUF file is: enough to aim mutations at them.

    kvs: dicts with start, end, key, vtype_at, value_at, (count_at, etype for arrays),
    strings: offsets of every string length field (keys, values, array items).
    tensors: dicts with start, end, name, ndims_at, dims_at, type_at, offset_at, offset, nbytes.
    """

    def __init__(self, data):
        import struct
        self.data = data
        u32 = lambda o: struct.unpack_from("<I", data, o)[0]  # noqa: E731
        u64 = lambda o: struct.unpack_from("<Q", data, o)[0]  # noqa: E731
        self.n_tensors = u64(8)
        self.n_kv = u64(16)
        self.strings = []
        o = 24
        self.kvs = []
        alignment = 32
        for _ in range(self.n_kv):
            kv = {"start": o}
            self.strings.append(o)
            n = u64(o)
            kv["key"] = data[o + 8:o + 8 + n].decode()
            o += 8 + n
            kv["vtype_at"] = o
            vt = u32(o)
            kv["vtype"] = vt
            o += 4
            kv["value_at"] = o
            if vt == T_STRING:
                self.strings.append(o)
                o += 8 + u64(o)
            elif vt == T_ARRAY:
                et = u32(o)
                kv["etype"] = et
                kv["count_at"] = o + 4
                cnt = u64(o + 4)
                o += 12
                kv["items_at"] = o
                if et == T_STRING:
                    for _ in range(cnt):
                        self.strings.append(o)
                        o += 8 + u64(o)
                else:
                    o += cnt * _SIZES[et]
            else:
                if kv["key"] == "general.alignment":
                    alignment = u32(o)
                o += _SIZES[vt]
            kv["end"] = o
            self.kvs.append(kv)
        self.alignment = alignment
        self.tensors = []
        for _ in range(self.n_tensors):
            t = {"start": o}
            self.strings.append(o)
            n = u64(o)
            t["name"] = data[o + 8:o + 8 + n].decode()
            o += 8 + n
            t["ndims_at"] = o
            nd = u32(o)
            o += 4
            t["dims_at"] = o
            t["dims"] = [u64(o + 8 * i) for i in range(nd)]
            o += 8 * nd
            t["type_at"] = o
            t["type"] = u32(o)
            o += 4
            t["offset_at"] = o
            t["offset"] = u64(o)
            o += 8
            t["end"] = o
            self.tensors.append(t)
        self.index_end = o
        self.data_offset = (o + alignment - 1) // alignment * alignment
        for t in self.tensors:
            block, bsize = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 8: (32, 34)}[t["type"]]
            n_rows = 1
            for d in t["dims"][1:]:
                n_rows *= d
            t["nbytes"] = t["dims"][0] // block * bsize * n_rows
        self.kv_by_key = {kv["key"]: kv for kv in self.kvs}

    def boundaries(self):
        """Every offset where one section, entry or field starts or ends."""
        b = {0, 4, 8, 16, 24, self.index_end, self.data_offset, len(self.data)}
        for kv in self.kvs:
            b.update((kv["start"], kv["start"] + 8, kv["vtype_at"], kv["value_at"], kv["end"]))
            if "count_at" in kv:
                b.update((kv["count_at"], kv["items_at"]))
        for t in self.tensors:
            b.update((t["start"], t["ndims_at"], t["dims_at"], t["type_at"], t["offset_at"], t["end"],
                      self.data_offset + t["offset"], self.data_offset + t["offset"] + t["nbytes"]))
        return sorted(x for x in b if 0 <= x <= len(self.data))

    def rebuild(self, kvs=None, tensors=None, n_kv=None, n_tensors=None):
        """A file with the given kv / tensor-index entries (raw bytes), the data re-aligned."""
        import struct
        d = self.data
        kvs = [d[k["start"]:k["end"]] for k in self.kvs] if kvs is None else kvs
        tensors = [d[t["start"]:t["end"]] for t in self.tensors] if tensors is None else tensors
        head = d[:8] + struct.pack("<QQ", len(tensors) if n_tensors is None else n_tensors,
                                   len(kvs) if n_kv is None else n_kv)
        body = head + b"".join(kvs) + b"".join(tensors)
        a = self.alignment if self.alignment and not self.alignment & (self.alignment - 1) else 32
        pad = (-len(body)) % a
        return body + bytes(pad) + d[self.data_offset:]


# ---------------------------------------------------------------- mutations (host only)

HUGE = (2 ** 64 - 1, 2 ** 63, 2 ** 63 - 1, 2 ** 32, 2 ** 32 - 1, 2 ** 31, 2 ** 40, 10 ** 12)


def _put(b, off, fmt, v):
    import struct
    if 0 <= off and off + struct.calcsize(fmt) <= len(b):
        struct.pack_into(fmt, b, off, v)


def _huge_or_near(rng, size, cur):
    return rng.choice(HUGE + (size, size + 1, size // 2, cur + 1, cur * 2 + 1, cur + 2 ** 32,
                              (cur - 1) % 2 ** 64, 0))


# Each mutator: (rng, layout, bytearray) -> (bytes, description)

def m_bitflip(rng, lay, b):
    n = rng.choice((1, 1, 2, 3, 8))
    hi = lay.data_offset if rng.random() < 0.85 else len(b)
    where = []
    for _ in range(n):
        i = rng.randrange(hi)
        b[i] ^= 1 << rng.randrange(8)
        where.append(i)
    return bytes(b), "bit flip at %s" % where


def m_byteset(rng, lay, b):
    i = rng.randrange(lay.data_offset)
    k = rng.choice((1, 2, 4, 8))
    v = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    for j in range(i, min(i + k, len(b))):
        b[j] = v
    return bytes(b), "%d bytes at %d set to %#x" % (k, i, v)


def m_truncate(rng, lay, b):
    if rng.random() < 0.7:
        cut = rng.choice(lay.boundaries()) + rng.choice((0, 0, -1, 1, -4, 4))
    else:
        cut = rng.randrange(lay.data_offset, len(b))
    cut = max(0, min(cut, len(b) - 1))
    return bytes(b[:cut]), "truncated to %d of %d bytes" % (cut, len(b))


def m_header_count(rng, lay, b):
    off = rng.choice((8, 16))
    cur = lay.n_tensors if off == 8 else lay.n_kv
    v = _huge_or_near(rng, len(b), cur)
    _put(b, off, "<Q", v)
    return bytes(b), "%s = %d" % ("n_tensors" if off == 8 else "n_kv", v)


def m_string_len(rng, lay, b):
    off = rng.choice(lay.strings)
    import struct
    cur = struct.unpack_from("<Q", b, off)[0]
    v = rng.choice((len(b) - off - 8 + 1, len(b), cur + 1, cur - 1 if cur else 1) + HUGE)
    _put(b, off, "<Q", v)
    return bytes(b), "string length at %d = %d" % (off, v)


def m_array_count(rng, lay, b):
    arrs = [kv for kv in lay.kvs if "count_at" in kv]
    kv = rng.choice(arrs)
    import struct
    cur = struct.unpack_from("<Q", b, kv["count_at"])[0]
    v = _huge_or_near(rng, len(b), cur)
    _put(b, kv["count_at"], "<Q", v)
    return bytes(b), "array %s count = %d" % (kv["key"], v)


def m_value_type(rng, lay, b):
    kv = rng.choice(lay.kvs)
    if "etype" in kv and rng.random() < 0.4:
        v = rng.choice(tuple(range(14)) + (2 ** 32 - 1,))
        _put(b, kv["value_at"], "<I", v)
        return bytes(b), "array %s element type = %d" % (kv["key"], v)
    v = rng.choice(tuple(range(14)) + (13, 100, 2 ** 32 - 1))
    _put(b, kv["vtype_at"], "<I", v)
    return bytes(b), "metadata %s value type = %d" % (kv["key"], v)


def m_meta_value(rng, lay, b):
    """A numeric metadata value changed: shapes then contradict the metadata."""
    nums = [kv for kv in lay.kvs if kv["vtype"] in _SIZES]
    kv = rng.choice(nums)
    size = _SIZES[kv["vtype"]]
    fmt = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}[size]
    import struct
    cur = struct.unpack_from(fmt, b, kv["value_at"])[0]
    if kv["vtype"] == 6:  # float32: special values
        fmt = "<f"
        v = rng.choice((float("nan"), float("inf"), -1.0, 0.0, 1e30, 1e-45, 2.0))
    else:
        v = rng.choice((0, 1, cur + 1, max(cur - 1, 0), cur * 2, 2 ** (8 * size) - 1, 2 ** (8 * size - 1)))
    _put(b, kv["value_at"], fmt, v)
    return bytes(b), "metadata %s = %r" % (kv["key"], v)


def m_dims(rng, lay, b):
    t = rng.choice(lay.tensors)
    if rng.random() < 0.25:
        v = rng.choice((0, 3, 5, 2 ** 32 - 1, len(t["dims"]) + 1, len(t["dims"]) - 1))
        _put(b, t["ndims_at"], "<I", v)
        return bytes(b), "tensor %s n_dims = %d" % (t["name"], v)
    i = rng.randrange(len(t["dims"]))
    cur = t["dims"][i]
    v = rng.choice((0, 1, cur + 1, cur - 1, cur * 2, cur + 32, cur // 2) + HUGE)
    _put(b, t["dims_at"] + 8 * i, "<Q", v)
    if len(t["dims"]) == 2 and rng.random() < 0.2:  # swapped dims
        _put(b, t["dims_at"], "<Q", t["dims"][1])
        _put(b, t["dims_at"] + 8, "<Q", t["dims"][0])
        return bytes(b), "tensor %s dims swapped" % t["name"]
    return bytes(b), "tensor %s dim %d = %d" % (t["name"], i, v)


def m_tensor_type(rng, lay, b):
    t = rng.choice(lay.tensors)
    v = rng.choice((0, 1, 2, 3, 6, 7, 8, 9, 12, 14, 30, 39, 2 ** 32 - 1))
    _put(b, t["type_at"], "<I", v)
    return bytes(b), "tensor %s type = %d" % (t["name"], v)


def m_tensor_offset(rng, lay, b):
    t = rng.choice(lay.tensors)
    cur = t["offset"]
    v = rng.choice((cur + 1, cur + lay.alignment, cur - lay.alignment, len(b), len(b) - lay.data_offset,
                    (cur - lay.alignment) % 2 ** 64, 2 ** 64 - lay.alignment, 2 ** 63, 0,
                    rng.choice(lay.tensors)["offset"]))
    _put(b, t["offset_at"], "<Q", v % 2 ** 64)
    return bytes(b), "tensor %s offset = %d" % (t["name"], v % 2 ** 64)


def m_alignment(rng, lay, b):
    kv = lay.kv_by_key.get("general.alignment")
    if kv is None:
        return m_tensor_offset(rng, lay, b)
    v = rng.choice((0, 1, 3, 7, 16, 24, 64, 4096, 2 ** 31, 2 ** 32 - 1))
    _put(b, kv["value_at"], "<I", v)
    return bytes(b), "general.alignment = %d" % v


def m_duplicate(rng, lay, b):
    d = lay.data
    kvs = [d[k["start"]:k["end"]] for k in lay.kvs]
    ts = [d[t["start"]:t["end"]] for t in lay.tensors]
    if rng.random() < 0.5:
        i = rng.randrange(len(kvs))
        kvs.insert(rng.randrange(len(kvs) + 1), kvs[i])
        return lay.rebuild(kvs=kvs), "metadata %s twice" % lay.kvs[i]["key"]
    i = rng.randrange(len(ts))
    ts.insert(rng.randrange(len(ts) + 1), ts[i])
    return lay.rebuild(tensors=ts), "tensor %s twice" % lay.tensors[i]["name"]


def m_missing(rng, lay, b):
    d = lay.data
    kvs = [d[k["start"]:k["end"]] for k in lay.kvs]
    ts = [d[t["start"]:t["end"]] for t in lay.tensors]
    if rng.random() < 0.5:
        i = rng.randrange(len(kvs))
        del kvs[i]
        return lay.rebuild(kvs=kvs), "metadata %s missing" % lay.kvs[i]["key"]
    i = rng.randrange(len(ts))
    del ts[i]
    return lay.rebuild(tensors=ts), "tensor %s missing" % lay.tensors[i]["name"]


def m_splice(rng, lay, b):
    i = rng.randrange(lay.index_end)
    if rng.random() < 0.5:
        n = rng.randrange(1, 64)
        return bytes(b[:i]) + bytes(b[i + n:]), "%d bytes deleted at %d" % (n, i)
    junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 32)))
    return bytes(b[:i]) + junk + bytes(b[i:]), "%d random bytes inserted at %d" % (len(junk), i)


MUTATORS = [
    (m_bitflip, 20), (m_byteset, 6), (m_truncate, 12), (m_header_count, 4), (m_string_len, 10),
    (m_array_count, 5), (m_value_type, 8), (m_meta_value, 8), (m_dims, 8), (m_tensor_type, 4),
    (m_tensor_offset, 6), (m_alignment, 3), (m_duplicate, 4), (m_missing, 4), (m_splice, 4),
]


def mutate(rng, lay):
    """One mutant of the file behind `lay`: (bytes, description). Sometimes two mutations."""
    total = sum(w for _, w in MUTATORS)
    steps = 2 if rng.random() < 0.15 else 1
    data = lay.data
    descr = []
    for s in range(steps):
        x = rng.randrange(total)
        for fn, w in MUTATORS:
            if x < w:
                break
            x -= w
        try:
            cur = lay if s == 0 else Layout(data)
            new, d = fn(rng, cur, bytearray(data))
        except Exception:  # the first mutation broke the layout the second aims with: a plain bit flip
            new = bytearray(data)
            i = rng.randrange(len(new)) if new else 0
            if new:
                new[i] ^= 1 << rng.randrange(8)
            new, d = bytes(new), "bit flip at %d" % i
        data = new
        descr.append(d)
    return data, "; ".join(descr)


# ---------------------------------------------------------------- named cases (host only)

def _gstr(b):
    import struct
    return struct.pack("<Q", len(b)) + b


def kv_entry(key, vtype, payload):
    """Raw bytes of one metadata entry: key string, value type, payload."""
    import struct
    return _gstr(key.encode()) + struct.pack("<I", vtype) + payload


def _replace_kv(lay, key, entry):
    d = lay.data
    kvs = [entry if k["key"] == key else d[k["start"]:k["end"]] for k in lay.kvs]
    if entry is None:
        kvs = [d[k["start"]:k["end"]] for k in lay.kvs if k["key"] != key]
    return lay.rebuild(kvs=kvs)


def _patch(lay, off, fmt, v):
    b = bytearray(lay.data)
    _put(b, off, fmt, v)
    return bytes(b)


def _tensor(lay, name):
    return [t for t in lay.tensors if t["name"] == name][0]


def _first_vector(lay):
    return [t for t in lay.tensors if len(t["dims"]) == 1][0]


def _nan_in(lay, name):
    t = _tensor(lay, name)
    return _patch(lay, lay.data_offset + t["offset"], "<I", 0x7FC00000)


# (what is wrong, how to make it from a valid file's Layout, the message expected (regex)).
# Run on the micro q8_0 model; tests/test_fuzz_gguf.py checks each on both interpreters and
# host_tools/gen/gen_error_table.py lists them in docs/errors.md.
NAMED = [
    ("not a GGUF file (other magic)", lambda L: b"PK\x03\x04" + L.data[4:], r"not a GGUF model file \(starts with"),
    ("file shorter than a header", lambda L: L.data[:20], r"not a GGUF model file \(only 20 bytes\)"),
    ("unsupported GGUF version", lambda L: _patch(L, 4, "<I", 9), r"GGUF version 9 is not supported"),
    ("huge metadata count", lambda L: _patch(L, 16, "<Q", 2 ** 64 - 1), r"header claims .* more than a \d+-byte file can hold"),
    ("huge tensor count", lambda L: _patch(L, 8, "<Q", 2 ** 62), r"header claims .* more than a \d+-byte file can hold"),
    ("truncated in the metadata", lambda L: L.data[:L.kvs[3]["value_at"] + 2], r"runs past the end of the file|file ends early|truncated or corrupt"),
    ("truncated in the tensor index", lambda L: L.data[:L.tensors[2]["dims_at"] + 3], r"file ends early|runs past the end|truncated or corrupt"),
    ("truncated in the tensor data", lambda L: L.data[:len(L.data) - 100], r"runs past the end of the file .*: the file is truncated"),
    ("key length past the end of the file", lambda L: _patch(L, L.kvs[1]["start"], "<Q", len(L.data)), r"a string of \d+ bytes at offset \d+ runs past the end"),
    ("string value length past the end", lambda L: _patch(L, L.kv_by_key["general.name"]["value_at"], "<Q", 2 ** 63),
     r"a string of \d+ bytes .* runs past the end"),
    ("huge string-array count", lambda L: _patch(L, L.kv_by_key["tokenizer.ggml.tokens"]["count_at"], "<Q", 2 ** 40),
     r"claims \d+ strings, more than the file can hold"),
    ("huge number-array count", lambda L: _patch(L, L.kv_by_key["tokenizer.ggml.token_type"]["count_at"], "<Q", 2 ** 40),
     r"claims \d+ values, more than the file can hold"),
    ("token length past the end", lambda L: _patch(L, L.kv_by_key["tokenizer.ggml.tokens"]["items_at"], "<Q", 2 ** 64 - 1),
     r"a string of \d+ bytes .* runs past the end"),
    ("unknown metadata value type", lambda L: _patch(L, L.kv_by_key["gpt2.block_count"]["vtype_at"], "<I", 13),
     r"metadata 'gpt2.block_count' has unknown value type 13"),
    ("array of arrays", lambda L: _patch(L, L.kv_by_key["tokenizer.ggml.token_type"]["value_at"], "<I", 9),
     r"is an array of unsupported type 9"),
    ("key not UTF-8", lambda L: _patch(L, L.kvs[0]["start"] + 8, "<B", 0xFF), r"a metadata string is not valid UTF-8"),
    ("metadata key twice", lambda L: L.rebuild(kvs=[L.data[k["start"]:k["end"]] for k in L.kvs] + [L.data[L.kvs[1]["start"]:L.kvs[1]["end"]]]),
     r"metadata key '.*' appears twice"),
    ("tensor listed twice", lambda L: L.rebuild(tensors=[L.data[t["start"]:t["end"]] for t in L.tensors] + [L.data[L.tensors[0]["start"]:L.tensors[0]["end"]]]),
     r"tensor 'token_embd.weight' appears twice"),
    ("required metadata missing", lambda L: _replace_kv(L, "gpt2.block_count", None), r"metadata gpt2.block_count is missing"),
    ("vocabulary missing", lambda L: _replace_kv(L, "tokenizer.ggml.tokens", None), r"tokenizer metadata tokenizer.ggml.tokens is missing"),
    ("metadata of the wrong type", lambda L: _replace_kv(L, "gpt2.block_count", kv_entry("gpt2.block_count", 8, _gstr(b"two"))),
     r"metadata gpt2.block_count has the wrong type"),
    ("vocabulary of the wrong type", lambda L: _replace_kv(L, "tokenizer.ggml.tokens", kv_entry("tokenizer.ggml.tokens", 4, b"\x05\0\0\0")),
     r"tokenizer.ggml.tokens must be an array of strings"),
    ("not a GPT-2 model", lambda L: _replace_kv(L, "general.architecture", kv_entry("general.architecture", 8, _gstr(b"llama"))),
     r"architecture is 'llama'; nanollm runs GPT-2"),
    ("end-of-text id outside the vocabulary", lambda L: _replace_kv(L, "tokenizer.ggml.eos_token_id", kv_entry("tokenizer.ggml.eos_token_id", 4, b"\xff\xff\0\0")),
     r"eos_token_id 65535 is not a token id"),
    ("alignment not a power of two", lambda L: _patch(L, L.kv_by_key["general.alignment"]["value_at"], "<I", 24),
     r"general.alignment 24 is not a power of two"),
    ("tensor data misaligned", lambda L: _patch(L, L.tensors[1]["offset_at"], "<Q", L.tensors[1]["offset"] + 1),
     r"data offset \d+ is not aligned to 32"),
    ("tensor offset past the end", lambda L: _patch(L, L.tensors[1]["offset_at"], "<Q", 2 ** 64 - 32),
     r"runs past the end of the file"),
    ("too many dimensions", lambda L: _patch(L, L.tensors[0]["ndims_at"], "<I", 5), r"has 5 dimensions \(1 to 4 allowed\)"),
    ("zero dimension", lambda L: _patch(L, L.tensors[0]["dims_at"] + 8, "<Q", 0), r"has an impossible dimension 0"),
    ("huge dimension", lambda L: _patch(L, L.tensors[0]["dims_at"] + 8, "<Q", 2 ** 63), r"has an impossible dimension"),
    ("tensor larger than the file", lambda L: _patch(L, L.tensors[0]["dims_at"] + 8, "<Q", len(L.data)), r"needs \d+ bytes, more than the whole file"),
    ("row not a multiple of the block", lambda L: _patch(L, L.tensors[0]["dims_at"], "<Q", 48), r"row length 48 is not a multiple of the q8_0 block size 32"),
    ("unsupported tensor type (q5_0)", lambda L: _patch(L, L.tensors[0]["type_at"], "<I", 6), r"has ggml type q5_0, which nanollm does not run"),
    ("unknown tensor type id", lambda L: _patch(L, L.tensors[0]["type_at"], "<I", 99), r"has ggml type type id 99"),
    ("shape contradicts the metadata", lambda L: _patch(L, L.kv_by_key["gpt2.feed_forward_length"]["value_at"], "<I", 96),
     r"tensor blk.0.ffn_up.weight has shape \[32, 64\]; the metadata implies \[32, 96\]"),
    ("width not divisible by heads", lambda L: _patch(L, L.kv_by_key["gpt2.attention.head_count"]["value_at"], "<I", 3),
     r"embedding length 32 is not divisible by 3 heads"),
    ("implausible sizes", lambda L: _patch(L, L.kv_by_key["gpt2.block_count"]["value_at"], "<I", 100000), r"implausible model sizes"),
    ("layer-norm epsilon NaN", lambda L: _patch(L, L.kv_by_key["gpt2.attention.layer_norm_epsilon"]["value_at"], "<f", float("nan")),
     r"layer_norm_epsilon nan is not between 0 and 1"),
    ("required tensor missing", lambda L: L.rebuild(tensors=[L.data[t["start"]:t["end"]] for t in L.tensors if t["name"] != "blk.0.ffn_up.weight"]),
     r"tensor blk.0.ffn_up.weight is missing"),
    ("quantized norm vector", lambda L: _patch(L, _first_vector(L)["type_at"], "<I", 8), r"norms and biases must be f32 or f16"),
    ("NaN weight (integer path)", lambda L: _nan_in(L, "blk.0.attn_norm.bias"), r"inf or NaN weight"),
]


# ---------------------------------------------------------------- base models (host only)

def make_micro_model(out_dir, fixtures_dir, outtypes=("f32", "q8_0", "q4_0", "f16")):
    """Small GPT-2 GGUF files (n_embd 32, 1 layer, ctx 8) with the gpt2_tiny vocabulary and
    seeded random weights, written by our converter's writer: fast enough to load thousands
    of times. Returns {outtype: path}."""
    import os
    import numpy as np
    from nanollm_host import gguf_model as gm
    hp, _, vocab, _ = gm.read_hf_dir(os.path.join(fixtures_dir, "gpt2_tiny"))
    hp.n_embd, hp.n_head, hp.n_layer, hp.n_ff, hp.n_ctx = 32, 2, 1, 64, 8
    hp.name = "fuzz-micro"
    rng = np.random.default_rng(7)
    tensors = {}
    for name, shape in gm.expected_shapes(hp).items():
        if name.endswith("norm.weight"):
            tensors[name] = (1 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        else:
            tensors[name] = (0.2 * rng.standard_normal(shape)).astype(np.float32)
    out = {}
    for t in outtypes:
        p = os.path.join(out_dir, "micro_%s.gguf" % t)
        gm.write_gguf(p, hp, tensors, vocab, t)
        out[t] = p
    return out


def make_base_models(out_dir, fixtures_dir, fixture_types=(("gpt2_tiny", "q4_0"), ("gpt2_odd", "q8_0"),
                                                            ("gpt2_untied", "f16"))):
    """[(name, path)] of valid GGUF files: the micro models and converted test fixtures."""
    import os
    from nanollm_host.gguf_model import convert_checkpoint
    micro = make_micro_model(out_dir, fixtures_dir)
    # the first is the good model the harnesses reload after errors: the quickest one
    bases = [("micro_" + t, micro[t]) for t in ("q8_0", "q4_0", "f32", "f16")]
    for fx, t in fixture_types:
        p = os.path.join(out_dir, "%s_%s.gguf" % (fx, t))
        convert_checkpoint(os.path.join(fixtures_dir, fx), p, t)
        bases.append(("%s_%s" % (fx, t), p))
    return bases


def generate_cases(bases, n, seed, fixture_share=0.1):
    """Yield (index, base name, description, bytes) for n mutants, deterministic in seed."""
    import random
    rng = random.Random(seed)
    lays = [(name, Layout(open(p, "rb").read())) for name, p in bases]
    micro = [x for x in lays if x[0].startswith("micro")]
    other = [x for x in lays if not x[0].startswith("micro")] or micro
    for i in range(n):
        name, lay = rng.choice(other if rng.random() < fixture_share else micro)
        data, d = mutate(rng, lay)
        yield i, name, d, data


# ---------------------------------------------------------------- CPython harness

class Guard:
    """Checks around nanollm while cases run on CPython: a CPU-time limit per case (SIGPROF);
    memory: the address space capped at +512 MB for every case (a forged size that asks
    for more fails with MemoryError, which nanollm reports as "out of memory", counted as a
    failure) and, every `trace_every`-th case, the peak allocation traced (tracemalloc is
    slow) and held to alloc_factor * file size + slack; tensor reads inside the tensor's
    declared bytes; gc.collect made a no-op for speed (CPython's collector walks the whole
    test process's heap; MicroPython runs check memory with a small heap instead)."""

    def __init__(self, time_limit=10.0, alloc_factor=8, alloc_slack=4 << 20, trace_every=8,
                 as_margin=512 << 20):
        self.time_limit = time_limit
        self.alloc_factor = alloc_factor
        self.alloc_slack = alloc_slack
        self.trace_every = trace_every
        self.as_margin = as_margin
        self.read_violations = []
        self.n = 0
        self.traced = 0

    def __enter__(self):
        import gc
        import signal
        from nanollm import gguf
        self._gc_collect = gc.collect
        gc.collect = lambda *a: 0
        self._read_rows = gguf.GGUFFile.read_rows
        guard = self

        def read_rows(gf, t, row, n_rows, buf):
            start = t.offset + row * t.row_bytes
            nb = memoryview(buf).nbytes
            end = start + nb
            if not (gf.data_offset <= t.offset <= start and end <= t.offset + t.nbytes <= gf.size
                    and nb == n_rows * t.row_bytes and 0 <= row and row + n_rows <= t.n_rows):
                guard.read_violations.append("%s rows %d+%d (%d bytes at %d; tensor %d bytes at %d; file %d)"
                                             % (t.name, row, n_rows, nb, start, t.nbytes, t.offset, gf.size))
            return guard._read_rows(gf, t, row, n_rows, buf)

        gguf.GGUFFile.read_rows = read_rows

        def on_alarm(signum, frame):
            raise TimeoutError("case took longer than %g s of CPU time" % self.time_limit)

        self._old_alarm = signal.signal(signal.SIGPROF, on_alarm)
        self._old_as = None
        try:
            import resource
            vm = 0
            with open("/proc/self/statm") as f:
                vm = int(f.read().split()[0]) * resource.getpagesize()
            self._old_as = resource.getrlimit(resource.RLIMIT_AS)
            resource.setrlimit(resource.RLIMIT_AS, (vm + self.as_margin, self._old_as[1]))
        except (ImportError, OSError, ValueError):
            self._old_as = None
        return self

    def __exit__(self, *exc):
        import gc
        import signal
        from nanollm import gguf
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, self._old_alarm)
        if self._old_as is not None:
            import resource
            resource.setrlimit(resource.RLIMIT_AS, self._old_as)
        gguf.GGUFFile.read_rows = self._read_rows
        gc.collect = self._gc_collect
        return False

    def run(self, path, size):
        """run_case() under the checks: (status, text, seconds, peak bytes or None)."""
        import signal
        import time
        import tracemalloc
        trace = self.trace_every and self.n % self.trace_every == 0
        self.n += 1
        if trace:
            tracemalloc.start()
            self.traced += 1
        t0 = time.process_time()
        signal.setitimer(signal.ITIMER_PROF, self.time_limit)
        try:
            st, text = run_case(path)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            dt = time.process_time() - t0
            peak = None
            if trace:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        if st == BAD and text.startswith("TimeoutError"):
            text = "HANG: " + text
        if st == ERR and "out of memory" in text:
            st, text = BAD, "asked for more than %d MB: %s" % (self.as_margin >> 20, text)
        limit = self.alloc_factor * size + self.alloc_slack
        if peak is not None and peak > limit:
            st, text = BAD, "allocated %d bytes at peak for a %d-byte file (limit %d); %s" % (peak, size, limit, text)
        if self.read_violations:
            st, text = BAD, "read outside a tensor: %s" % self.read_violations[0]
            self.read_violations = []
        return st, text, dt, peak


def fuzz_cpython(bases, n, seed, workdir, log=None):
    """Run n mutants in this process. Returns a summary dict with counts and failures."""
    import os
    import nanollm
    scratch = os.path.join(workdir, "case.gguf")
    summary = {"cases": 0, OK: 0, ERR: 0, BAD: 0, "failures": [], "max_seconds": 0.0, "max_peak": 0,
               "messages": {}}
    with Guard() as g:
        for i, name, descr, data in generate_cases(bases, n, seed):
            with open(scratch, "wb") as f:
                f.write(data)
            st, text, dt, peak = g.run(scratch, len(data))
            summary["cases"] += 1
            summary[st] += 1
            summary["max_seconds"] = max(summary["max_seconds"], dt)
            if peak is not None:
                summary["max_peak"] = max(summary["max_peak"], peak)
            if st == ERR:
                key = _message_kind(text)
                summary["messages"][key] = summary["messages"].get(key, 0) + 1
            if st == BAD:
                summary["failures"].append("case %d (%s: %s): %s" % (i, name, descr, text))
                if log:
                    log(summary["failures"][-1])
                # the module must be usable after anything: check right away
        good = bases[0][1]
        st, text = run_case(good)
        if st != OK:
            summary["failures"].append("after the run the good model does not load: %s" % text)
        nanollm._default = None
        summary["traced"] = g.traced
    return summary


def _message_kind(msg):
    """A message with its numbers, names and paths removed: for counting kinds of errors."""
    import re
    msg = msg.split(": ", 1)[1] if msg.startswith(("/", ".")) or ".gguf" in msg.split(":")[0] else msg
    msg = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", msg)
    msg = re.sub(r"\b\d+\b", "N", msg)
    return msg[:100]


# ---------------------------------------------------------------- MicroPython harness

def fuzz_micropython(bases, n, seed, workdir, micropython, lib_dir, heapsize="2M", batch=500,
                     timeout_per_case=10.0, log=None):
    """Run n mutants under the unix MicroPython, `batch` per process. Each process gets a
    small heap: a forged count that asks for more memory than the file justifies shows up
    as an out-of-memory message, which counts as a failure."""
    import os
    import subprocess
    summary = {"cases": 0, OK: 0, ERR: 0, BAD: 0, "failures": [], "max_seconds": 0.0, "messages": {}}
    me = os.path.abspath(__file__)
    good = bases[0][1]
    pending = []

    def flush():
        if not pending:
            return
        lst = os.path.join(workdir, "cases.txt")
        with open(lst, "w") as f:
            f.write("\n".join(p for _, _, _, p in pending) + "\n")
        # this file is the runner (see the end of it); lib_dir on MICROPYPATH for `import nanollm`
        cmd = [micropython, "-X", "heapsize=%s" % heapsize, me, "run", lst, good]
        env = dict(os.environ, MICROPYPATH=os.pathsep.join([lib_dir, ".frozen"]))
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_per_case * len(pending) + 30,
                               env=env)
            out, err, rc = r.stdout, r.stderr, r.returncode
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            err, rc = "timeout", None
        seen = set()
        last_start = None
        for ln in out.splitlines():
            parts = ln.split(" ", 4)
            if parts[0] == "START":
                last_start = int(parts[1])
            elif parts[0] == "RES":
                k = int(parts[1])
                seen.add(k)
                st, ms = parts[2], int(parts[3])
                text = parts[4] if len(parts) > 4 else ""
                if st == ERR and ("out of memory" in text or "MemoryError" in text):
                    st, text = BAD, "out of memory on a %s heap: %s" % (heapsize, text)
                if ms > timeout_per_case * 1000:
                    st, text = BAD, "took %d ms: %s" % (ms, text)
                summary["cases"] += 1
                summary[st] += 1
                summary["max_seconds"] = max(summary["max_seconds"], ms / 1000.0)
                if st == ERR:
                    key = _message_kind(text)
                    summary["messages"][key] = summary["messages"].get(key, 0) + 1
                if st == BAD:
                    i, name, descr, _ = pending[k]
                    summary["failures"].append("micropython case %d (%s: %s): %s" % (i, name, descr, text))
            elif parts[0] == "GOOD" and parts[2] != OK:
                summary["failures"].append("micropython: good model fails after case %s: %s" % (parts[1], ln))
        if rc != 0 or len(seen) != len(pending):
            where = pending[last_start] if last_start is not None and last_start not in seen else None
            summary["failures"].append("micropython process ended (%s) at %s: %s"
                                       % ("exit %s" % rc, "case %d (%s: %s)" % where[:3] if where else "?",
                                          err.strip().splitlines()[-1:] if err.strip() else ""))
        if log:
            log("micropython batch: %d cases, %d failures so far" % (len(pending), len(summary["failures"])))
        for _, _, _, p in pending:
            os.remove(p)
        pending.clear()

    for i, name, descr, data in generate_cases(bases, n, seed):
        p = os.path.join(workdir, "m%06d.gguf" % i)
        with open(p, "wb") as f:
            f.write(data)
        pending.append((i, name, descr, p))
        if len(pending) >= batch:
            flush()
    flush()
    return summary


# ---------------------------------------------------------------- atheris (make fuzz)

def fuzz_atheris(bases, seconds, workdir):
    """Coverage-guided fuzzing of the reader with atheris, seeded with the valid files."""
    import gc
    import os
    import atheris
    # before anything imports nanollm: coverage needs it. Not the tokenizer: atheris 2.3's
    # bytecode rewriting breaks its closures on CPython 3.11 ('cell' object is not subscriptable)
    with atheris.instrument_imports(include=["nanollm"], exclude=["nanollm.tokenizer"]):
        import nanollm  # noqa: F401
    from nanollm import NanoLLMError
    gc.collect = lambda *a: 0  # this process only: CPython's collector is the slowest part of a load
    bases = [(n, p) for n, p in bases if n.startswith("micro")]
    scratch = os.path.join(workdir, "atheris.gguf")
    corpus = os.path.join(workdir, "corpus")
    os.makedirs(corpus, exist_ok=True)
    for name, p in bases:
        with open(p, "rb") as f, open(os.path.join(corpus, name), "wb") as g:
            g.write(f.read())

    def one(data):
        with open(scratch, "wb") as f:
            f.write(data)
        try:
            load_and_step(scratch)
        except NanoLLMError as e:
            if not str(e) or "\n" in str(e):
                raise AssertionError("bad message %r" % str(e))

    from nanollm_host.paths import CACHE
    keep = os.path.join(CACHE, "fuzz")
    os.makedirs(keep, exist_ok=True)  # crashing inputs are kept here, not in the current folder
    atheris.Setup([sys.argv[0], corpus, "-artifact_prefix=" + keep + os.sep, "-max_total_time=%d" % seconds, "-rss_limit_mb=2048",
                   "-timeout=20", "-max_len=100000"], one)
    atheris.Fuzz()


def host_main(argv=None):
    import argparse
    import json
    import os
    import tempfile
    import time
    from nanollm_host import tools
    from nanollm_host.paths import FIXTURES, LIB
    ap = argparse.ArgumentParser(prog="fuzz.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("target", choices=("gguf", "atheris"))
    ap.add_argument("--cases", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--micropython", action="store_true", help="run the cases under the unix MicroPython")
    ap.add_argument("--seconds", type=int, default=300, help="atheris: how long")
    ap.add_argument("--heapsize", default="2M")
    ap.add_argument("--show", type=int, nargs="*", help="load these case numbers with a traceback")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nanollm-fuzz-") as wd:
        bases = make_base_models(wd, FIXTURES)
        if a.show:
            import traceback
            for i, name, descr, data in generate_cases(bases, max(a.show) + 1, a.seed):
                if i in a.show:
                    p = os.path.join(wd, "show.gguf")
                    with open(p, "wb") as f:
                        f.write(data)
                    print("case %d (%s: %s)" % (i, name, descr))
                    try:
                        print(load_and_step(p))
                    except Exception:
                        traceback.print_exc(limit=-4)
            return 0
        t0 = time.time()
        if a.target == "atheris":
            fuzz_atheris(bases, a.seconds, wd)
            return 0
        if a.micropython:
            s = fuzz_micropython(bases, a.cases, a.seed, wd, tools.micropython(), LIB,
                                 heapsize=a.heapsize, log=print)
        else:
            s = fuzz_cpython(bases, a.cases, a.seed, wd, log=print)
    s["seconds"] = round(time.time() - t0, 1)
    kinds = s.pop("messages")
    print(json.dumps({k: v for k, v in s.items() if k != "failures"}, indent=1))
    print("%d kinds of error message; most common:" % len(kinds))
    for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])[:25]:
        print("  %6d  %s" % (v, k))
    for f in s["failures"][:50]:
        print("FAIL", f)
    return 1 if s["failures"] else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "run":  # MicroPython batch runner
        mp_main(sys.argv[2], sys.argv[3])
    else:
        sys.exit(host_main())
