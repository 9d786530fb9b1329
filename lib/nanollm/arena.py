# The run state in one piece: every buffer a loaded model writes while it runs (KV cache,
# activations, logits, the sampler's buffers, the stream buffer) and the norm and bias
# vectors it reads, carved out of one array allocated at load, so the memory plan counts
# exactly what is taken, a heap the plan accepts is asked for one block in the piece the
# load kept whole for it (model.py), and dropping the model returns it all at once. Also the
# load's allocation helpers: zeros() and tidy().
#
# The block is an array of the state's main item type ('i' on the integer path, 'f' on the
# float path): views of that type are memoryview slices, whose typecode the C kernels check.
# Byte buffers come from the same block: on MicroPython through uctypes.bytearray_at (a
# memoryview cannot change its item type there), on CPython through memoryview.cast. A
# group of another item type (the int16 matmul input; the sampler's ints on the float path)
# gets one array of its own. A MicroPython without uctypes gives the bytes their own
# bytearray: the same bytes in two blocks.

try:
    from array import array
except ImportError:  # pragma: no cover
    from uarray import array

try:
    import uctypes
except ImportError:
    uctypes = None

try:
    import gc
except ImportError:  # pragma: no cover
    gc = None

ITEM_BYTES = {"b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "f": 4}
_CPYTHON = hasattr(memoryview, "cast")


# Whether tidy() collects: on while a load on a heap where pieces matter reads the file's
# index and builds the tokenizer (model.py), MicroPython only.
_packing = False


def packing(on):
    global _packing
    _packing = bool(on) and gc is not None and hasattr(gc, "mem_free")


def tidy():
    """Collect the garbage now while a load is packing what it keeps: the allocator takes the
    lowest hole that fits, so what is made next reuses the room of the temporaries before it
    and what stays packs at the bottom of the free heap instead of spreading among garbage.
    Costs a collection per call, so it does nothing when the load does not need it."""
    if _packing:
        gc.collect()


def _round4(n):
    return (n + 3) & ~3


# Buffers a caller gets a view of (forward() returns the logits): each is an array of its
# own, so a reference kept to it (even a stale one the collector finds on the stack, which
# MicroPython scans conservatively) holds only that array, never the whole run state.
ALONE = ("logits",)


def layout(buffers):
    """buffers: [(name, typecode, bytes)] -> {typecode of a block: bytes}, the blocks to
    allocate. Each buffer is rounded up to 4 bytes so every view stays aligned."""
    return layout_of(buffers)[0]


def layout_of(buffers):
    """(blocks, into): the blocks' sizes by typecode (an ALONE buffer's as "=" + name), and
    the block each typecode goes into. What Arena works out before it allocates (its
    `planned` argument)."""
    groups = {}
    for name, code, n in buffers:
        if name in ALONE:
            continue
        code = "B" if code == "b" else code
        groups[code] = groups.get(code, 0) + _round4(n)
    host = _host(groups)
    blocks = {}
    into = {}
    for code in groups:
        into[code] = host if code == "B" and host is not None and (_CPYTHON or uctypes is not None) else code
        blocks[into[code]] = blocks.get(into[code], 0) + groups[code]
    for name, _code, n in buffers:
        if name in ALONE:
            blocks["=" + name] = _round4(n)
    return blocks, into


def _host(groups):
    """The item type of the main block: the largest group that is not bytes."""
    best = None
    for code in groups:
        if code != "B" and (best is None or groups[code] > groups[best]):
            best = code
    return best


def block_bytes(buffers):
    """Bytes the blocks take (the arrays' items; object headers are counted by the plan)."""
    total = 0
    for n in layout(buffers).values():
        total += n
    return total


def zeros(code, n):
    """A zeroed array of n bytes (bytearray for "B"). On MicroPython array(code, bytes(n))
    would take 2n at once (the bytes, then their copy): an array built from a range is
    allocated at its final size and filled in place, then cleared. Used for every table a
    load makes, so none needs twice its size free while it is made."""
    if code == "B":
        return bytearray(n)
    if _CPYTHON:
        return array(code, bytes(n))
    a = array(code, range(n // ITEM_BYTES[code]))
    for i in range(len(a)):
        a[i] = 0
    return a


def make_alone(buffers):
    """The arrays of the ALONE buffers, {"=" + name: array} (Arena's `made`): a loader makes
    them before the main block, in the lowest place they fit, so one kept after the model is
    gone does not split the piece that block took."""
    out = {}
    for name, code, n in buffers:
        if name in ALONE:
            out["=" + name] = zeros(code, _round4(n))
    return out


class Arena:
    """The blocks, and a view per buffer by name (arena.views[name]). made: arrays of the
    ALONE buffers already made (make_alone)."""

    def __init__(self, buffers, made=None, planned=None):
        # planned: layout_of(buffers), worked out beforehand so that nothing of this arena is
        # allocated before its big block, which takes the piece held for it while it is whole
        sizes, into = planned or layout_of(buffers)
        big = None
        for key in sizes:
            if key[0] != "=" and (big is None or sizes[key] > sizes[big]):
                big = key
        first = zeros(big, sizes[big]) if big is not None else None
        self.blocks = made if made is not None else {}
        if big is not None:
            self.blocks[big] = first
        if made is None:
            self.blocks.update(make_alone(buffers))
        for key in sizes:
            if key not in self.blocks:
                self.blocks[key] = zeros(key, sizes[key])
        self.views = {}
        offs = {}
        for name, code, n in buffers:
            if name in ALONE:
                self.views[name] = memoryview(self.blocks["=" + name])[:n // ITEM_BYTES[code]]
                continue
            code = "B" if code == "b" else code
            blk = into[code]
            off = offs.get(blk, 0)
            offs[blk] = off + _round4(n)
            if offs[blk] > sizes[blk]:  # pragma: no cover  (a layout bug would corrupt the heap)
                raise ValueError("arena: %s does not fit its block" % name)
            self.views[name] = self._view(blk, code, off, n)

    def _view(self, into, code, off, n):
        blk = self.blocks[into]
        if into == code:
            size = ITEM_BYTES[code]
            return memoryview(blk)[off // size:(off + n) // size]
        # bytes carved from a block of another item type
        if _CPYTHON:
            return memoryview(blk).cast("B")[off:off + n]
        return uctypes.bytearray_at(uctypes.addressof(blk) + off, n)

    def release(self):
        self.views = None
        self.blocks = None
