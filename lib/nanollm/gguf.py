# A streaming GGUF reader for MicroPython and CPython.
#
# GGUF (the file format of ggml and llama.cpp) is: a header, key/value metadata, a tensor
# index, then the tensor data, aligned. We parse the header and the index with small
# buffered reads and keep only offsets: big metadata arrays (the vocabulary, the merges)
# stay in the file and are read on demand, and tensor bytes are read with readinto() into
# buffers the caller owns. So a model larger than RAM can be opened.
#
# Every size and count is checked against the file's length before anything is allocated
# from it: a forged count must not make us ask for gigabytes.

import struct

from .arena import tidy, zeros
from .errors import NanoLLMError
from .modelfile import (GGML_F16, GGML_F32, GGML_Q4_0, GGML_Q4_1, GGML_Q4_K, GGML_Q8_0,  # noqa: F401
                        TYPE_LAYOUT, TYPE_NAME, ModelFile, TensorInfo, os_reason)

GGUF_MAGIC = b"GGUF"

# Metadata value types.
T_UINT8 = 0
T_INT8 = 1
T_UINT16 = 2
T_INT16 = 3
T_UINT32 = 4
T_INT32 = 5
T_FLOAT32 = 6
T_BOOL = 7
T_STRING = 8
T_ARRAY = 9
T_UINT64 = 10
T_INT64 = 11
T_FLOAT64 = 12

# struct format and size of each fixed-size metadata type
_SCALAR = {
    T_UINT8: ("<B", 1), T_INT8: ("<b", 1), T_UINT16: ("<H", 2), T_INT16: ("<h", 2),
    T_UINT32: ("<I", 4), T_INT32: ("<i", 4), T_FLOAT32: ("<f", 4), T_BOOL: ("<B", 1),
    T_UINT64: ("<Q", 8), T_INT64: ("<q", 8), T_FLOAT64: ("<d", 8),
}
# array typecodes for numeric metadata arrays kept in RAM
_ARRAY_CODE = {T_UINT8: "B", T_INT8: "b", T_UINT16: "H", T_INT16: "h", T_UINT32: "I",
               T_INT32: "i", T_FLOAT32: "f", T_BOOL: "B"}

# Other ggml types we recognise by name only, to say what the file holds.
_OTHER_TYPES = {6: "q5_0", 7: "q5_1", 9: "q8_1", 10: "q2_K", 11: "q3_K",
                13: "q5_K", 14: "q6_K", 15: "q8_k", 16: "iq2_xxs", 24: "i8", 26: "i32",
                28: "f64", 30: "bf16"}
# those host_tools/quantize.py reads (dequantizes) and re-stores as a type nanollm runs
_CONVERTIBLE = (6, 7, 10, 11, 13, 14)

MAX_DIMS = 4


def _retyped_name(path, tname):
    """model-Q4_K_M.gguf -> model-Q4_K_M-q4_K.gguf: where quantize.py could write the file."""
    stem = path[:-5] if path.endswith(".gguf") else path
    return "%s-%s.gguf" % (stem, tname)
_CHUNK = 512


class _Reader:
    """Buffered little-endian reader over a binary file, bounded by the file's length."""

    def __init__(self, f, size, path):
        self.f = f
        self.size = size
        self.path = path
        self.buf = bytearray(_CHUNK)
        self.mv = memoryview(self.buf)
        self.start = 0  # file offset of buf[0]
        self.n = 0  # valid bytes in buf
        self.pos = 0  # read position within buf

    def tell(self):
        return self.start + self.pos

    def _fail_eof(self, need):
        raise NanoLLMError("%s: file ends early (truncated?): needed %d more bytes at offset %d of %d"
                           % (self.path, need, self.tell(), self.size))

    def _fill(self, need):
        # Make at least `need` bytes available at self.pos (need <= _CHUNK).
        if self.tell() + need > self.size:
            self._fail_eof(need)
        rest = self.n - self.pos
        if rest:
            self.buf[0:rest] = self.buf[self.pos:self.n]
        self.start += self.pos
        self.pos = 0
        self.n = rest
        self.f.seek(self.start + rest)
        while self.n < need:
            got = self.f.readinto(self.mv[self.n:])
            if not got:
                self._fail_eof(need - self.n)
            self.n += got

    def unpack(self, fmt, size):
        if self.n - self.pos < size:
            self._fill(size)
        v = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += size
        return v

    def u32(self):
        return self.unpack("<I", 4)

    def u64(self):
        return self.unpack("<Q", 8)

    def skip(self, n):
        if self.tell() + n > self.size:
            self._fail_eof(n)
        if self.pos + n <= self.n:
            self.pos += n
        else:
            self.start = self.tell() + n
            self.pos = 0
            self.n = 0

    def seek(self, off):
        self.start = off
        self.pos = 0
        self.n = 0

    def string_len(self):
        n = self.u64()
        if self.tell() + n > self.size:
            raise NanoLLMError("%s: a string of %d bytes at offset %d runs past the end of the file (%d bytes)"
                               % (self.path, n, self.tell(), self.size))
        return n

    def raw(self, n):
        # n bytes as a new bytes object (n is bounded by the file size already).
        if n <= _CHUNK:
            if self.n - self.pos < n:
                self._fill(n)
            b = bytes(self.mv[self.pos:self.pos + n])
            self.pos += n
            return b
        out = bytearray(n)
        self.read_into(out, n)
        return bytes(out)

    def read_into(self, buf, n):
        # n bytes into buf (an array of that many bytes), straight from the file
        off = self.tell()
        self.f.seek(off)
        if self.f.readinto(buf) != n:
            self._fail_eof(n)
        self.seek(off + n)

    def string(self):
        return self.raw(self.string_len())


class StringArray:
    """A GGUF array of strings left in the file: len(), [i] and iteration give UTF-8 bytes.

    Keeps one 32-bit offset per string (4 bytes each); [i] reads from the file.
    """

    def __init__(self, gf, offsets):
        self._gf = gf
        self._offsets = offsets

    def __len__(self):
        return len(self._offsets)

    def __getitem__(self, i):
        if i < 0:
            i += len(self._offsets)
        r = self._gf._reader
        r.seek(self._offsets[i])
        return r.string()

    def __iter__(self):
        # One sequential pass: strings are contiguous, so read them in order.
        r = self._gf._reader
        if not len(self._offsets):
            return
        r.seek(self._offsets[0])
        for _ in range(len(self._offsets)):
            yield r.string()


class GGUFFile(ModelFile):
    """An open GGUF file: .version, .kv (metadata), .tensors (name -> TensorInfo)."""

    def __init__(self, path):
        ModelFile.__init__(self, path)
        try:
            self._reader = _Reader(self._f, self.size, self.path)
            self._parse()
        except NanoLLMError:
            self.close()
            raise
        except MemoryError:
            self.close()
            from .plan import describe_free
            raise NanoLLMError("%s: out of memory while reading the file's index (%d-byte file, %s)"
                               % (path, self.size, describe_free()))
        except (ValueError, OverflowError, UnicodeError, KeyError) as e:
            self.close()
            raise NanoLLMError("%s: not a readable GGUF model file (%s: %s)" % (path, type(e).__name__, e))
        except OSError as e:  # a read that fails (a device error, a file gone)
            self.close()
            raise NanoLLMError("cannot read model file %s: %s" % (path, os_reason(e)))

    def _parse(self):
        r = self._reader
        path = self.path
        if self.size < 24:
            raise NanoLLMError("%s: not a GGUF model file (only %d bytes)" % (path, self.size))
        magic = r.raw(4)
        if magic != GGUF_MAGIC:
            raise NanoLLMError("%s: not a GGUF model file (starts with %r, expected b'GGUF')" % (path, magic))
        self.version = r.u32()
        if self.version not in (2, 3):
            raise NanoLLMError("%s: GGUF version %d is not supported (versions 2 and 3 are)" % (path, self.version))
        n_tensors = r.u64()
        n_kv = r.u64()
        # Each key/value takes at least 8+1+4+1 bytes, each tensor entry at least 8+1+4+8+4+8.
        if n_kv * 14 > self.size or n_tensors * 33 > self.size:
            raise NanoLLMError("%s: header claims %d metadata entries and %d tensors, more than a %d-byte file can hold (truncated or corrupt)"
                               % (path, n_kv, n_tensors, self.size))
        self.kv = {}
        for _ in range(n_kv):
            key = self._str(r.string())
            if key in self.kv:
                raise NanoLLMError("%s: metadata key %r appears twice" % (path, key))
            vtype = r.u32()
            self.kv[key] = self._value(vtype, key)
            tidy()  # after each entry that stays (arena.tidy)
        self.alignment = self.kv.get("general.alignment", 32)
        if not isinstance(self.alignment, int) or self.alignment < 1 or self.alignment & (self.alignment - 1):
            raise NanoLLMError("%s: general.alignment %r is not a power of two" % (path, self.alignment))
        self.tensors = {}
        order = []
        for _ in range(n_tensors):
            name = self._str(r.string())
            n_dims = r.u32()
            if not 1 <= n_dims <= MAX_DIMS:
                raise NanoLLMError("%s: tensor %r has %d dimensions (1 to %d allowed)" % (path, name, n_dims, MAX_DIMS))
            shape = tuple(r.u64() for _ in range(n_dims))
            ttype = r.u32()
            rel = r.u64()
            if ttype not in TYPE_LAYOUT:
                tn = _OTHER_TYPES.get(ttype, "type id %d" % ttype)
                what = ("%s: tensor %r has ggml type %s, which nanollm does not run (f32, f16, q8_0, q4_0, q4_1, q4_K "
                        "are supported)" % (path, name, tn))
                if ttype in _CONVERTIBLE:  # the host tools read these
                    raise NanoLLMError("%s; re-store it on a computer with: python host_tools/quantize.py %s %s q4_K"
                                       % (what, path, _retyped_name(path, "q4_K")))
                raise NanoLLMError(what)
            count = 1
            for d in shape:
                if d < 1 or d > self.size * 2:
                    raise NanoLLMError("%s: tensor %r has an impossible dimension %d" % (path, name, d))
                count *= d
            block = TYPE_LAYOUT[ttype][0]
            if shape[0] % block:
                raise NanoLLMError("%s: tensor %r: row length %d is not a multiple of the %s block size %d"
                                   % (path, name, shape[0], TYPE_NAME[ttype], block))
            if name in self.tensors:
                raise NanoLLMError("%s: tensor %r appears twice" % (path, name))
            t = TensorInfo(name, shape, ttype, rel)
            if t.nbytes > self.size:
                raise NanoLLMError("%s: tensor %r needs %d bytes, more than the whole file (%d bytes): truncated or corrupt"
                                   % (path, name, t.nbytes, self.size))
            self.tensors[name] = t
            order.append(t)
            tidy()  # after each entry that stays (arena.tidy)
        a = self.alignment
        self.data_offset = (r.tell() + a - 1) // a * a
        for t in order:
            if t.offset % a:
                raise NanoLLMError("%s: tensor %r data offset %d is not aligned to %d" % (path, t.name, t.offset, a))
            t.offset += self.data_offset
            if t.offset + t.nbytes > self.size:
                raise NanoLLMError("%s: tensor %r data (%d bytes at offset %d) runs past the end of the file (%d bytes): the file is truncated"
                                   % (path, t.name, t.nbytes, t.offset, self.size))

    def _str(self, b):
        try:
            return b.decode()
        except UnicodeError:
            raise NanoLLMError("%s: a metadata string is not valid UTF-8" % self.path)

    def _value(self, vtype, key):
        r = self._reader
        if vtype in _SCALAR:
            fmt, size = _SCALAR[vtype]
            v = r.unpack(fmt, size)
            return bool(v) if vtype == T_BOOL else v
        if vtype == T_STRING:
            return self._str(r.string())
        if vtype == T_ARRAY:
            etype = r.u32()
            count = r.u64()
            if etype == T_STRING:
                if count * 8 > self.size - r.tell():
                    raise NanoLLMError("%s: metadata %r claims %d strings, more than the file can hold (truncated or corrupt)" % (self.path, key, count))
                offsets = zeros("I", 4 * count)
                for i in range(count):
                    offsets[i] = r.tell()
                    r.skip(r.string_len())
                return StringArray(self, offsets)
            if etype in _ARRAY_CODE:
                size = _SCALAR[etype][1]
                if count * size > self.size - r.tell():
                    raise NanoLLMError("%s: metadata %r claims %d values, more than the file can hold (truncated or corrupt)" % (self.path, key, count))
                a = zeros(_ARRAY_CODE[etype], count * size)
                r.read_into(a, count * size)
                return a
            if etype in _SCALAR:  # 64-bit numbers: rare in metadata, keep as a list
                fmt, size = _SCALAR[etype]
                if count * size > self.size - r.tell():
                    raise NanoLLMError("%s: metadata %r claims %d values, more than the file can hold (truncated or corrupt)" % (self.path, key, count))
                return [r.unpack(fmt, size) for _ in range(count)]
            raise NanoLLMError("%s: metadata %r is an array of unsupported type %d" % (self.path, key, etype))
        raise NanoLLMError("%s: metadata %r has unknown value type %d" % (self.path, key, vtype))
