"""Length-prefixed item files for the tokenizer tests; runs under CPython and MicroPython.

Format: u32 count, then per item u32 length + the item's bytes (all little-endian).
The CPython side writes the vocab, merges and test cases this way; the MicroPython side
streams them with LPFile, which behaves like the model loader's token sequence
(len, iteration, slow random access that is counted).
"""
import struct


def write_items(path, items):
    with open(path, "wb") as f:
        f.write(struct.pack("<I", len(items)))
        for it in items:
            f.write(struct.pack("<I", len(it)))
            f.write(it)


class LPFile:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.count = struct.unpack("<I", f.read(4))[0]
        self.random_reads = 0
        self.passes = 0

    def __len__(self):
        return self.count

    def __iter__(self):
        self.passes += 1
        f = open(self.path, "rb")
        try:
            f.read(4)
            for _ in range(self.count):
                n = struct.unpack("<I", f.read(4))[0]
                yield f.read(n)
        finally:
            f.close()

    def __getitem__(self, i):
        self.random_reads += 1
        if not 0 <= i < self.count:
            raise IndexError(i)
        k = 0
        for it in self:
            if k == i:
                return it
            k += 1


def pack_ids(ids):
    return struct.pack("<%dI" % len(ids), *ids)


def unpack_ids(data):
    return list(struct.unpack("<%dI" % (len(data) // 4), data))


def check_cases(tok, cases_path):
    """Encode/decode every case of a cases file (text, expected ids pairs).

    Returns (number of cases, list of failure descriptions)."""
    fails = []
    n = 0
    it = iter(LPFile(cases_path))
    for text_b in it:
        want = unpack_ids(next(it))
        text = text_b.decode()
        got = tok.encode(text)
        if got != want:
            fails.append("encode #%d %r: got %r want %r" % (n, text, got, want))
        else:
            back = tok.decode(got)
            if back != text:
                fails.append("decode #%d %r: got %r" % (n, text, back))
        n += 1
    return n, fails
