# The memory formula: how many bytes a model needs on the heap, decided before anything
# big is allocated. The loader and host_tools/plan.py both use this module, so the plan a
# user reads on the host is the check the board makes at load.

from . import gpt2
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


def free_bytes():
    """Free heap on MicroPython; None on CPython (no limit to check against)."""
    if gc is not None and hasattr(gc, "mem_free"):
        gc.collect()
        return gc.mem_free()
    return None


def describe_free():
    f = free_bytes()
    return "%d bytes free" % f if f is not None else "free memory unknown"


def state_bytes(shape, integer):
    """Bytes of run state (KV cache, activations, logits) for a model shape."""
    kv = act = logits = 0
    for _name, group, code, items, per_layer in gpt2.state_buffers(shape, integer):
        n = gpt2.ITEM_BYTES[code] * items * (shape["n_layer"] if per_layer else 1)
        if group == "kv":
            kv += n
        elif group == "act":
            act += n
        else:
            logits += n
    return kv, act, logits


def vector_bytes(shape):
    """Norm weights and biases, resident as 4-byte numbers either way."""
    total = 0
    for _name, dims in gpt2.tensors(shape["n_layer"], shape["n_embd"], shape["n_ff"]):
        if len(dims) == 1:
            total += 4 * dims[0]
    return total


def tokenizer_bytes(shape):
    # measured on the unix port: ~10.6 bytes per token and 9 per merge in the tokenizer's
    # array tables, plus the file index: a 4-byte offset per vocabulary string and merge,
    # and a few hundred bytes per tensor entry and Python object of the model
    v, mg = shape["n_vocab"], shape.get("n_merges", shape["n_vocab"])
    return 11 * v + 9 * mg + 1024 + 4 * (v + mg) + 200 * shape.get("n_tensors", 16 * shape["n_layer"]) + 2048


def plan_model(shape, matrices, integer, ctx, stream=None, free=None):
    """Decide which weight matrices are resident and what the peak heap is.

    stream: None = keep weights in RAM while they fit `free`, True = stream every
    matrix from the file, False = keep all in RAM.
    """
    kv, act, logits = state_bytes(shape, integer)
    fixed = kv + act + logits + vector_bytes(shape) + tokenizer_bytes(shape)
    uniq = {}
    for t in matrices:
        uniq[t.name] = t
    mats = sorted(uniq.values(), key=lambda t: t.nbytes)
    total_w = 0
    for t in mats:
        total_w += t.nbytes
    resident = []
    res_bytes = 0
    if stream is False or (stream is None and (free is None or fixed + total_w + HEADROOM <= free)):
        resident = [t.name for t in mats]
        res_bytes = total_w
    elif stream is None:
        budget = (free - fixed - HEADROOM - STREAM_BUFFER) * RESIDENT_SHARE_NUM // RESIDENT_SHARE_DEN
        for t in mats:
            if res_bytes + t.nbytes <= budget:
                resident.append(t.name)
                res_bytes += t.nbytes
    streamed = [t for t in mats if t.name not in resident]
    buf = 0
    if streamed:
        buf = max(STREAM_BUFFER, max(t.row_bytes for t in streamed))
    peak = fixed + res_bytes + buf
    return {
        "kv_cache": kv, "activations": act, "logits": logits, "vectors": vector_bytes(shape),
        "tokenizer": tokenizer_bytes(shape), "weights_resident": res_bytes,
        "weights_streamed": total_w - res_bytes, "stream_buffer": buf, "peak": peak,
        "free": free, "resident": resident,
    }


def check_fits(p, path):
    free = p["free"]
    if free is None:
        return
    need = p["peak"] + HEADROOM
    if need > free:
        raise NanoLLMError(
            "%s does not fit: it needs %d bytes (KV cache %d, activations %d, logits %d, weights in RAM %d) "
            "but %d bytes are free; try a smaller ctx=, stream=True, or a q4_0 model"
            % (path, need, p["kv_cache"], p["activations"], p["logits"], p["weights_resident"], free))


# ------------------------------------------------------------------ a board's verdict
# A board profile (boards/*.json) gives the free heap after boot; the runtime's code takes
# `code` bytes of it at import, and nanollm.load() then sees the rest. host_tools/plan.py
# and the browser playground both judge a model with these functions.

def evaluate(shape, matrices, integer, free_heap, code, ctx=None, stream=None, file_bytes=None, fs_bytes=None):
    """Does the model fit a board? A dict with the plan, the total, the spare heap bytes,
    "heap_fits" (the heap holds it), "file_fits" (the board's filesystem holds the file) and
    "fits" (both)."""
    shape = dict(shape)
    if ctx:
        shape["n_ctx"] = ctx
    p = plan_model(shape, matrices, integer, shape["n_ctx"], stream=stream, free=free_heap - code)
    need = p["peak"] + HEADROOM
    total = code + need
    heap_fits = total <= free_heap
    file_fits = fs_bytes is None or file_bytes is None or file_bytes <= fs_bytes
    return {"plan": p, "ctx": shape["n_ctx"], "free": free_heap, "code": code, "need": need, "total": total,
            "spare": free_heap - total, "heap_fits": heap_fits, "file_fits": file_fits,
            "fits": heap_fits and file_fits, "file_bytes": file_bytes, "fs_bytes": fs_bytes}


def largest_ctx(shape, matrices, integer, free_heap, code, upto, stream=None):
    """The largest context <= upto that fits (0 when none does)."""
    lo, hi = 0, upto
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if evaluate(shape, matrices, integer, free_heap, code, mid, stream)["heap_fits"]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _kb(n):
    return (n + 1023) // 1024


def verdict(ev, suggestions=()):
    """One line: "fits, N KB to spare", "does not fit by N KB; try ..." (the heap), or "does
    not fit: the file ... is larger than the board's filesystem" (the flash)."""
    too_big = None
    if not ev["file_fits"]:
        too_big = "the file (%d KB) is larger than the board's %d KB filesystem" % (_kb(ev["file_bytes"]),
                                                                                  _kb(ev["fs_bytes"]))
    if ev["heap_fits"]:
        heap = "fits, %d KB to spare" % (ev["spare"] // 1024)
        if ev["plan"]["weights_streamed"]:
            heap += " (streaming %d KB of weights from flash)" % _kb(ev["plan"]["weights_streamed"])
        if too_big:
            # the first words are the answer: it cannot run, however well the heap would do
            return "does not fit: %s (the heap would have %d KB to spare)" % (too_big, ev["spare"] // 1024)
        if ev["spare"] < ev["need"] - HEADROOM:
            # measured: loads needed up to twice the planned model peak free (fragmentation)
            heap += "; tight: loading needed up to 2x the model's planned %d KB free on the unix port " \
                    "and the emulated M0" % _kb(ev["need"])
        return heap
    v = "does not fit by %d KB" % _kb(-ev["spare"])
    if suggestions:
        v += "; try " + " or ".join(suggestions)
    else:
        v += "; nothing smaller fits: the tokenizer, logits and code alone exceed the heap"
    if too_big:
        v += "; and %s" % too_big
    return v
