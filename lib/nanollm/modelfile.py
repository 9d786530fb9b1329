# What a loaded model keeps of its GGUF file: the open file, where each tensor lies in it and
# how its rows are laid out, and reading them. The index reader (gguf.py) builds on this;
# the loader drops gguf.py after a load (model.py), so a running model pins only this code.

from .errors import NanoLLMError

# ggml tensor types we run, with (block size in elements, bytes per block).
GGML_F32 = 0
GGML_F16 = 1
GGML_Q4_0 = 2
GGML_Q4_1 = 3
GGML_Q8_0 = 8
GGML_Q4_K = 12
TYPE_LAYOUT = {
    GGML_F32: (1, 4),
    GGML_F16: (1, 2),
    GGML_Q4_0: (32, 18),
    GGML_Q4_1: (32, 20),
    GGML_Q8_0: (32, 34),
    GGML_Q4_K: (256, 144),  # super-blocks of 256 (ggml's QK_K)
}
TYPE_NAME = {GGML_F32: "f32", GGML_F16: "f16", GGML_Q4_0: "q4_0", GGML_Q4_1: "q4_1", GGML_Q8_0: "q8_0",
             GGML_Q4_K: "q4_K"}


class TensorInfo:
    """Where one tensor lives in the file and how its rows are laid out.

    shape is ggml order (ne0 first): ne0 is the row length, rows = product of the rest.
    """

    def __init__(self, name, shape, ggml_type, offset):
        self.name = name
        self.shape = shape
        self.type = ggml_type
        self.offset = offset  # absolute file offset, filled in after the index is read
        block, bsize = TYPE_LAYOUT[ggml_type]
        self.row_len = shape[0]
        n_rows = 1
        for d in shape[1:]:
            n_rows *= d
        self.n_rows = n_rows
        self.row_bytes = (shape[0] // block) * bsize
        self.nbytes = self.row_bytes * n_rows

    def copy(self):
        """The same record in new objects (its name too): model.py's _move_down."""
        return TensorInfo("%s" % self.name, tuple(self.shape), self.type, self.offset)

    @property
    def type_name(self):
        return TYPE_NAME[self.type]

    def __repr__(self):
        return "<tensor %s %s %s>" % (self.name, self.shape, self.type_name)


def _file_memory(f):
    """The file's bytes where they are, when its filesystem keeps files in memory (ROMFS in
    memory-mapped flash: a VfsRom file has the buffer protocol), else None (LittleFS, FAT,
    CPython: tensors are then read with readinto)."""
    try:
        return memoryview(f)
    except (TypeError, ValueError, OSError, AttributeError):
        return None


def os_reason(e):
    # the same words on every port (MicroPython's str(OSError) is terser than CPython's)
    code = e.args[0] if e.args else None
    return {2: "no such file", 5: "input/output error", 13: "permission denied",
            21: "it is a folder"}.get(code, "OSError %s" % code)


class ModelFile:
    """An open model file: .path, .size, .mem (its bytes in place, or None); tensors' rows
    read into buffers the caller owns."""

    def __init__(self, path, gf=None):
        # gf: a GGUFFile whose index is no longer needed: its open file is taken over
        self._f = None
        self.mem = None
        if gf is not None:
            self._f, gf._f = gf._f, None
            self.mem, gf.mem = gf.mem, None
            self.path = gf.path
            self.size = gf.size
            return
        if hasattr(path, "__fspath__"):  # a pathlib.Path on CPython
            path = path.__fspath__()
        if not isinstance(path, str):
            # open() takes an int as a file descriptor: never read some other open file
            raise NanoLLMError("the model path must be a file name (a string), not %s %r"
                               % (type(path).__name__, path))
        self.path = path
        try:
            import os
            st = os.stat(path)
            if st[0] & 0o170000 == 0o040000:
                # MicroPython's open() succeeds on a folder and fails only at the first read
                raise OSError(21)
            self.size = st[6]
            self._f = open(path, "rb")
            self.mem = _file_memory(self._f)
        except OSError as e:
            raise NanoLLMError("cannot open model file %s: %s" % (path, os_reason(e)))

    def close(self):
        if self._f is not None:
            self.mem = None
            self._f.close()
            self._f = None

    def view(self, t):
        """Tensor t's bytes in place (a memoryview, no copy), or None when the file is not in memory."""
        if self.mem is None:
            return None
        return self.mem[t.offset:t.offset + t.nbytes]

    def read_at(self, offset, buf):
        """Fill buf from the file's byte `offset` (a vector read per token: allocates nothing)."""
        f = self._f
        f.seek(offset)
        if f.readinto(buf) != len(buf):
            raise NanoLLMError("%s: could not read %d bytes at offset %d" % (self.path, len(buf), offset))

    def read_rows(self, t, row, n_rows, buf):
        """Read n_rows rows of tensor t starting at `row` into buf (a bytearray/memoryview)."""
        n = n_rows * t.row_bytes
        f = self._f
        f.seek(t.offset + row * t.row_bytes)
        got = f.readinto(buf)
        if got != n:
            raise NanoLLMError("%s: could not read tensor %r (got %s of %d bytes)" % (self.path, t.name, got, n))
