# The memory formula: how many bytes a model needs on the heap, decided before anything
# big is allocated. The loader and host_tools/plan.py both use this module, so the plan a
# user reads on the host is the check the board makes at load.

from . import arena, gpt2
from .errors import NanoLLMError

try:
    import gc
except ImportError:  # pragma: no cover
    gc = None

# Streaming reads rows through one shared buffer of about this many bytes.
STREAM_BUFFER = 4096
# Heap kept free for the interpreter, the tokenizer's per-call lists and the text produced.
HEADROOM = 8192
# When weights may stream (stream=None), only this fraction of the heap left after the
# fixed buffers is filled with resident weights. Loading needs more than the steady state:
# the tokenizer's temporary tables and a heap fragmented by imports (measured: a load
# whose plan left 8 KB failed on the unix port and on the emulated Cortex-M0 with tens of
# KB free in pieces too small for a KV-cache row block).
RESIDENT_SHARE_NUM = 1
RESIDENT_SHARE_DEN = 2


# Bytes of a measured free piece not given to the run state (on a 32-bit port; twice on a
# 64-bit one): the small objects made between the measure and the block (the arena's
# records, the array's header) may land at its start, and half of it stays free in one
# piece below the block (model.py's filler puts the block at the top of its piece) for what
# a generate() makes: the rest of a packed heap is holes too small for its lists and text
# (measured on the unix port: a load that left 1 KB there failed its first generate).
BLOCK_SLACK = 6144


def block_slack(word=None):
    return BLOCK_SLACK * (word or word_bytes()) // 4

# Room (KB on a 32-bit port, twice on a 64-bit one: object headers scale with the word) a
# load holds at the lowest place it fits while it imports the load-time code (model.py), and
# lets go for the file's index and the tokenizer's tables: they land there, below that code,
# and the code's room joins the piece the run state takes after. Tried in turn; a load that
# runs out of memory starts again with more room, and the last try places nothing.
HOLD_RESERVES_KB = (24, 32, 44)

def largest_block(upto):
    """The largest block (to 256 bytes) the heap can give now, up to `upto` bytes: found by
    asking for blocks (MicroPython has no call that says it); the heap is as it was after."""
    lo, hi = 0, upto + 1
    while hi - lo > 256:
        mid = (lo + hi) // 2
        # collected before each try: the last try's block is garbage, and a collection made
        # by a failing allocation deep in C can find a stale pointer to it and keep it
        if gc is not None:
            gc.collect()
        if _fits(mid):
            lo = mid
        else:
            hi = mid
    if gc is not None:
        gc.collect()
    return lo


def _fits(n):
    try:
        bytearray(n)
        return True
    except MemoryError:
        return False


# Free heap beyond which a load neither holds nor measures pieces of it: this many times
# the file's size, plus 1 MB (the run state of any context is then far from the largest
# piece, and each measurement asks for blocks as large as the heap: slow on a big one)
ROOMY_TIMES = 4


def roomy(path):
    """True when the free heap is so large next to the model file that pieces do not matter."""
    if gc is None or not hasattr(gc, "mem_free"):
        return True
    try:
        import os
        size = os.stat(path)[6]
    except (OSError, TypeError):
        return False
    return gc.mem_free() > ROOMY_TIMES * size + (1 << 20)


def hold_piece(owner, most=None):
    """Hold the largest free piece of the heap (at most `most` bytes of it) as owner._hold;
    returns its size (0 on CPython). A load holds a piece while it imports its load-time code
    (which then lands above it) and while it plans (its garbage then lands elsewhere); it
    lets it go (owner._hold = None) before what is to take the piece is made (model.py).
    The block is made and stored here, never returned: a reference left in the caller's
    frame would keep it alive (MicroPython's collector is conservative)."""
    owner._hold = None
    if gc is None or not hasattr(gc, "mem_free"):
        return 0
    n = largest_block(gc.mem_free())
    if most is not None and n > most:
        n = most
    while n > 1024:
        try:
            gc.collect()
            owner._hold = bytearray(n)
            return n
        except MemoryError:
            # a block the search made may not be collected yet (the collector is
            # conservative: a stale pointer keeps it): ask for a little less
            n = n * 15 // 16
    return 0


def free_bytes():
    """Free heap on MicroPython; None on CPython (no limit to check against)."""
    if gc is not None and hasattr(gc, "mem_free"):
        gc.collect()
        return gc.mem_free()
    return None


def describe_free():
    f = free_bytes()
    return "%d bytes free" % f if f is not None else "free memory unknown"


def weight_code(t):
    """Typecode of a resident matrix's data: f32 as floats (the float path reads them so),
    every other type as its bytes."""
    return "f" if getattr(t, "type", None) == 0 else "B"


def state_list(shape, integer, stream_bytes=0, resident=(), vectors_per_token=False):
    """The run state as the arena lays it out: [(name, typecode, bytes)], one per buffer
    (per-layer buffers as name.N), the norm and bias vectors (as "v:" + name, 4-byte numbers
    like the main block's; vectors_per_token: instead the two buffers "vw" and "vb" they are
    converted into when a token uses them), the stream buffer when there is one, then the
    weight matrices kept in RAM (resident: the matrices, as "w:" + name)."""
    out = []
    code = "i" if integer else "f"
    if vectors_per_token:
        for name, items in _vector_buffers(shape):
            out.append((name, "i", 4 * items))
    else:
        for name, dims in gpt2.tensors(shape["n_layer"], shape["n_embd"], shape["n_ff"]):
            if len(dims) == 1:
                out.append(("v:" + name, code, 4 * dims[0]))
    for name, _group, code, items, per_layer in gpt2.state_buffers(shape, integer):
        n = gpt2.ITEM_BYTES[code] * items
        if per_layer:
            for li in range(shape["n_layer"]):
                out.append(("%s.%d" % (name, li), code, n))
        else:
            out.append((name, code, n))
    if stream_bytes:
        out.append(("stream", "B", stream_bytes))
    for t in resident:
        out.append(("w:" + t.name, weight_code(t), t.nbytes))
    return out


def state_bytes(shape, integer):
    """Bytes of run state by group: {"kv", "act", "logits", "sampler"}."""
    out = {"kv": 0, "act": 0, "logits": 0, "sampler": 0}
    for _name, group, code, items, per_layer in gpt2.state_buffers(shape, integer):
        out[group] += gpt2.ITEM_BYTES[code] * items * (shape["n_layer"] if per_layer else 1)
    return out


def _vector_buffers(shape):
    """Where norm and bias vectors read per token go, in Q16: "vw" takes a norm's weight or
    any bias (the longest: 3 x n_embd or n_ff), "vb" a norm's bias (beside its weight)."""
    d = shape["n_embd"]
    return (("vw", max(3 * d, shape["n_ff"])), ("vb", d))


def vector_bytes(shape, per_token=False):
    """Norm weights and biases: resident as 4-byte numbers (either path), or (per_token, the
    integer path) the two buffers they are converted into when a token uses them."""
    total = 0
    if per_token:
        for _name, items in _vector_buffers(shape):
            total += 4 * items
        return total
    for _name, dims in gpt2.tensors(shape["n_layer"], shape["n_embd"], shape["n_ff"]):
        if len(dims) == 1:
            total += 4 * dims[0]
    return total


def word_bytes():
    """The interpreter's word: 4 on a 32-bit port, 8 on a 64-bit one (object headers scale with it)."""
    import sys
    return 4 if sys.maxsize < 1 << 32 else 8


# Everything a loaded model keeps that is not a buffer's own bytes: the tokenizer's tables,
# the tensors' records (where each lies in the file) and the headers of the objects that
# hold the buffers (a Matrix and its views per weight, a view per vector and per run-state
# buffer, the Layer records); the file's index itself is let go at the end of the load
# (loader.py). (fixed, per vocabulary entry or merge, per tensor, per layer), fitted to what
# loads of the default model (40 tensors) and the test fixture (28 tensors), both with 767
# vocabulary entries and merges, kept beside their buffers (tests/mpy/measure_parts.py,
# December 2026): on the unix port (64-bit) 21.9 and 18.1 KB; on the rp2040 stand-in
# (32-bit, .mpy with the native module) 14.9 KB for the default model, the per-tensor share
# scaled from the unix port's. The 32-bit fixed part also holds the cache LittleFS gives the
# open model file: 1 KB on an RP2040, whose port mounts with progsize=256 (the stand-in does
# the same: 15.9 KB measured), 128 bytes with MicroPython's default mount (ESP32).
OBJECTS = {4: (3456, 10, 120, 0), 8: (2400, 9, 315, 0)}


def objects_bytes(shape, word=None):
    a, per_entry, per_tensor, per_layer = OBJECTS[word or word_bytes()]
    v, mg = shape["n_vocab"], shape.get("n_merges", shape["n_vocab"])
    return a + per_entry * (v + mg) + per_tensor * shape.get("n_tensors", 12 * shape["n_layer"] + 4) \
        + per_layer * shape["n_layer"]


def plan_model(shape, matrices, integer, ctx, stream=None, free=None, word=None, block=None, in_place=False):
    """Decide which weight matrices are resident and what the peak heap is.

    stream: None = keep weights in RAM while they fit `free`, True = stream every
    matrix from the file, False = keep all in RAM. block: the largest free piece of the
    heap when known (the run state and the resident weights are one block): with stream
    None, weights stay resident only while that block fits it.
    in_place: the file's bytes are in memory (ROMFS): with stream=None every matrix is
    used where it is, taking no heap.

    The norm weights and biases stay in RAM (in Q16 on the integer path) while that fits.
    When the weights are streamed or in place and it does not, the integer path leaves them
    in the file too and converts each one when a token uses it (vectors_per_token), into two
    buffers: 14 KB less for the default model, about 0.5 M instructions more per token on
    the emulated Cortex-M0 (make mcu-bench).
    """
    p = _plan_model(shape, matrices, integer, stream, free, word, block, in_place, VECTORS_IN_FILE is True)
    if VECTORS_IN_FILE is None and integer and (p["weights_streamed"] or p["weights_in_place"]) \
            and not fits(p, free, block):
        p = _plan_model(shape, matrices, integer, stream, free, word, block, in_place, True)
    return p


# Whether the integer path leaves the norm weights and biases in the file when the weights
# are streamed or in place: None (the default) when they do not fit in RAM, True always
# (tests and benchmarks compare the two), False never.
VECTORS_IN_FILE = None


def fits(p, free, block=None):
    """Whether plan p fits `free` bytes (None: unknown, taken as fitting) with its run state
    in one piece of at most `block` bytes (None: pieces do not matter)."""
    return free is None or p["peak"] + HEADROOM <= free and (block is None or p["state_block"] <= block)


def _plan_model(shape, matrices, integer, stream, free, word, block, in_place, vectors_in_file):
    sb = state_bytes(shape, integer)
    kv, act, logits, samp = sb["kv"], sb["act"], sb["logits"], sb["sampler"]
    objs = objects_bytes(shape, word)
    uniq = {}
    for t in matrices:
        uniq[t.name] = t
    mats = sorted(uniq.values(), key=lambda t: t.nbytes)
    total_w = 0
    for t in mats:
        total_w += t.nbytes
    resident = []
    res_bytes = 0
    in_place = in_place and stream is None
    base = kv + act + logits + samp + objs
    all_in_ram = not in_place and (stream is False or stream is None and block is None
                                   and (free is None or base + vector_bytes(shape) + total_w + HEADROOM <= free))
    per_token = vectors_in_file and integer and not all_in_ram
    vectors = vector_bytes(shape, per_token)
    fixed = base + vectors
    if in_place:
        pass  # every matrix is read where it lies in the file's memory
    elif all_in_ram:
        resident = [t.name for t in mats]
        res_bytes = total_w
    elif stream is None:
        budget = (free - fixed - HEADROOM - STREAM_BUFFER) * RESIDENT_SHARE_NUM // RESIDENT_SHARE_DEN
        if block is not None:
            budget = min(budget, block - max(arena.layout(state_list(shape, integer, STREAM_BUFFER, (),
                                                                     per_token)).values()))
        for t in mats:
            if res_bytes + t.nbytes <= budget:
                resident.append(t.name)
                res_bytes += t.nbytes
    streamed = [] if in_place else [t for t in mats if t.name not in resident]
    buf = 0
    if streamed or per_token and not in_place:
        # rows and (read per token) vectors go through it: a vector is at most 4 bytes a number
        buf = max([STREAM_BUFFER] + [t.row_bytes for t in streamed]
                  + ([4 * n for _name, n in _vector_buffers(shape)] if per_token else []))
    peak = fixed + res_bytes + buf
    blocks = arena.layout(state_list(shape, integer, buf, [t for t in mats if t.name in resident], per_token))
    placed = total_w if in_place else 0
    return {
        "placement": _placement(placed, res_bytes, total_w - res_bytes - placed), "weights_in_place": placed,
        "state_block": max(blocks.values()),
        "kv_cache": kv, "activations": act, "logits": logits, "sampler": samp,
        "vectors": vectors, "vectors_per_token": per_token, "objects": objs,
        "weights_resident": res_bytes,
        "weights_streamed": total_w - res_bytes - placed, "stream_buffer": buf, "peak": peak,
        "free": free, "resident": resident,
    }


def _placement(in_place, in_ram, streamed):
    """Where the weights are, in words: "in place", "in RAM", "streamed" or "in RAM and streamed"."""
    if in_place:
        return "in place"
    if in_ram and streamed:
        return "in RAM and streamed"
    return "streamed" if streamed else "in RAM"


def check_fits(p, path, fit_ctx=None, ctx=None, block=None):
    """Refuse a plan that does not fit the free heap, with its numbers: what it needs, what
    is free, and the largest context that fits (fit_ctx, 0 for none) when the caller knows it."""
    free = p["free"]
    if free is None:
        return
    need = p["peak"] + HEADROOM
    if need > free or block is not None and p["state_block"] > block:
        raise NanoLLMError(refusal(p, path, fit_ctx, ctx, block))


def refusal(p, path, fit_ctx=None, ctx=None, block=None):
    """The out-of-memory message, from the plan: needs N KB, N KB free, what fits instead.
    block: the largest free piece of the heap, when that is what is short."""
    need = p["peak"] + HEADROOM
    short = ""
    if block is not None and p["state_block"] > block:
        short = ", its run state in one piece of %d KB but the largest free piece is %d KB" % (
            _kb(p["state_block"]), block // 1024)
    msg = "%s does not fit: needs %d KB%s, %d KB free (KV cache %d KB, activations and logits %d KB, " \
          "sampler %d KB, tokenizer, index and objects %d KB, norms and biases %d KB, weights in RAM %d KB, headroom %d KB)" % (
              path, _kb(need), short, p["free"] // 1024, _kb(p["kv_cache"]), _kb(p["activations"] + p["logits"]),
              _kb(p["sampler"]), _kb(p["objects"]), _kb(p["vectors"]), _kb(p["weights_resident"]),
              HEADROOM // 1024)
    if fit_ctx:
        msg += "; ctx=%d fits" % fit_ctx
        if ctx and fit_ctx < ctx:
            msg += " (of %d)" % ctx
    elif fit_ctx == 0:
        msg += "; no context fits: free memory (load nothing else) or use a smaller model"
    if p["weights_resident"] and not p["weights_streamed"]:
        msg += "; stream=True keeps the weights in flash"
    return msg


# ------------------------------------------------------------------ a board's verdict
# A board profile (boards/*.json) gives the free heap after boot; the runtime's code takes
# `code` bytes of it at import, and nanollm.load() then sees the rest. host_tools/plan.py
# and the browser playground both judge a model with these functions and plan_board.py's.

def evaluate(shape, matrices, integer, free_heap, code, ctx=None, stream=None, file_bytes=None, fs_bytes=None,
             word=None, block=None, in_place=False):
    """Does the model fit a board? A dict with the plan, the total, the spare heap bytes,
    "heap_fits" (the heap holds it), "file_fits" (the board's filesystem holds the file) and
    "fits" (both)."""
    shape = dict(shape)
    if ctx:
        shape["n_ctx"] = ctx
    p = plan_model(shape, matrices, integer, shape["n_ctx"], stream=stream, free=free_heap - code, word=word,
                   block=block, in_place=in_place)
    need = p["peak"] + HEADROOM
    total = code + need
    # block: the largest free piece of the heap, when known: the run state is one block
    heap_fits = total <= free_heap and (block is None or p["state_block"] <= block)
    file_fits = fs_bytes is None or file_bytes is None or file_bytes <= fs_bytes
    return {"plan": p, "ctx": shape["n_ctx"], "free": free_heap, "code": code, "need": need, "total": total, "block": block,
            "spare": free_heap - total, "heap_fits": heap_fits, "file_fits": file_fits,
            "fits": heap_fits and file_fits, "file_bytes": file_bytes, "fs_bytes": fs_bytes}


# The smallest context a load picks by itself: the prompt's first token and one generated
# (at 1 every prompt fills the context and nothing can be generated)
MIN_CTX = 2


def largest_ctx(shape, matrices, integer, free_heap, code, upto, stream=None, word=None, block=None, in_place=False):
    """The largest context <= upto that fits (0 when none of at least MIN_CTX does)."""
    lo, hi = 0, upto
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if evaluate(shape, matrices, integer, free_heap, code, mid, stream, word=word, block=block,
                    in_place=in_place)["heap_fits"]:
            lo = mid
        else:
            hi = mid - 1
    return lo if lo >= MIN_CTX else 0


def _kb(n):
    return (n + 1023) // 1024
