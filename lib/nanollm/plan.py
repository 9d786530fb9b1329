# The memory formula: how many bytes a model needs on the heap, decided before anything
# big is allocated. The loader and host_tools/plan.py both use this module, so the plan a
# user reads on the host is the check the board makes at load.

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
    d, ff, L = shape["n_embd"], shape["n_ff"], shape["n_layer"]
    H, T, V = shape["n_head"], shape["n_ctx"], shape["n_vocab"]
    wide = max(d, ff)
    if integer:
        kv = 2 * L * T * d + 4 * L * T * H  # int8 values + a 2-byte scale per (position, head)
        act = 4 * d + 4 * wide + 4 * 3 * d + 4 * d + 2 * wide + 2 * (d // H) + 4 * T
        return kv, act, 4 * V
    kv = 2 * L * T * d * 4
    act = 4 * (d + wide + 3 * d + d + wide + wide + T)
    return kv, act, 4 * V


def vector_bytes(shape):
    """Norm weights and biases, resident as 4-byte numbers either way."""
    d, ff, L = shape["n_embd"], shape["n_ff"], shape["n_layer"]
    return 4 * (L * (2 * d + 3 * d + d + 2 * d + ff + d) + 2 * d)


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
