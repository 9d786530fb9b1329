# GPT-2 as nanollm runs it, stated once: the tensors of its GGUF file (llama.cpp's names)
# and the buffers of its run state. The loader and the allocator (model.py), the memory
# plan (plan.py), the host tools (the GGUF writer, the planner) and the playground read
# these lists, so a change here reaches all of them.

# The parts of one block, in file order. Each has a .weight and a .bias.
BLOCK_PARTS = ("attn_norm", "attn_qkv", "attn_output", "ffn_norm", "ffn_up", "ffn_down")
# The parts whose weight is a matrix (quantized in a q8_0/q4 file, streamable).
BLOCK_MATRICES = ("attn_qkv", "attn_output", "ffn_up", "ffn_down")


def _part_shape(part, d, ff):
    """(row length, rows) of a block part's weight, ggml order (ne0 first)."""
    if part == "attn_qkv":
        return (d, 3 * d)
    if part == "ffn_up":
        return (d, ff)
    if part == "ffn_down":
        return (ff, d)
    if part == "attn_output":
        return (d, d)
    return (d,)  # the norms: one vector


def tensors(n_layer, d, ff, n_vocab=None, n_ctx=None, tied=True):
    """[(name, ggml shape)] of every tensor, in the order we write them.

    ggml order is ne0 first: a matrix (row length, rows), a vector (length,). n_vocab or
    n_ctx None leaves that dimension open (the loader learns it from the file).
    """
    out = [("token_embd.weight", (d, n_vocab)), ("position_embd.weight", (d, n_ctx))]
    for i in range(n_layer):
        p = "blk.%d." % i
        for part in BLOCK_PARTS:
            w = _part_shape(part, d, ff)
            out.append((p + part + ".weight", w))
            out.append((p + part + ".bias", (w[-1],)))
    out.append(("output_norm.weight", (d,)))
    out.append(("output_norm.bias", (d,)))
    if not tied:
        out.append(("output.weight", (d, n_vocab)))
    return out


def matrix_names(n_layer, tied=True):
    """The weight matrices: embeddings, the four per block, the head when untied."""
    out = ["token_embd.weight", "position_embd.weight"]
    for i in range(n_layer):
        for part in BLOCK_MATRICES:
            out.append("blk.%d.%s.weight" % (i, part))
    if not tied:
        out.append("output.weight")
    return out


# Bytes per item of the array typecodes the run state uses.
ITEM_BYTES = {"b": 1, "B": 1, "h": 2, "i": 4, "f": 4}


def state_buffers(shape, integer):
    """The run state allocated at load: [(name, group, typecode, items, per_layer)].

    group is "kv" (the cache), "act" (activations and scratch), "logits" or "sampler" (the
    sampler's weights, its top-k list and the candidates' logits, as long as the vocabulary
    since top_k may be, its generator's state; on the float path the logits in Q16 too). per_layer: one buffer per
    layer (a list of n_layer), else one. shape: n_embd, n_ff, n_layer, n_head, n_ctx, n_vocab.
    """
    d, ff = shape["n_embd"], shape["n_ff"]
    H, T, V = shape["n_head"], shape["n_ctx"], shape["n_vocab"]
    wide = max(d, ff)
    if integer:
        return (
            ("x", "act", "i", d, False),  # the residual stream, Q16
            ("h", "act", "i", wide, False),  # norm output / FFN hidden, Q16
            ("qkv", "act", "i", 3 * d, False),
            ("att", "act", "i", d, False),
            ("x16", "act", "h", wide, False),  # matmul input, int16 + shift
            ("q16", "act", "h", d // H, False),  # one head's query
            ("scores", "act", "i", T, False),
            ("logits", "logits", "i", V, False),
            ("kc", "kv", "B", T * d, True),  # int8 keys
            ("vc", "kv", "B", T * d, True),  # int8 values
            ("ke", "kv", "B", 2 * T * H, True),  # their scales, 2 bytes per (position, head)
            ("ve", "kv", "B", 2 * T * H, True),
        ) + sampler_buffers(V, False)
    return (
        ("x", "act", "f", d, False),
        ("h", "act", "f", wide, False),
        ("qkv", "act", "f", 3 * d, False),
        ("att", "act", "f", d, False),
        ("tmp", "act", "f", wide, False),
        ("rowbuf", "act", "f", wide, False),  # one dequantized weight row
        ("scores", "act", "f", T, False),
        ("logits", "logits", "f", V, False),
        ("kc", "kv", "f", T * d, True),
        ("vc", "kv", "f", T * d, True),
    ) + sampler_buffers(V, True)


# The sampler's generator keeps this many 30-bit numbers (sampling.Random).
RNG_WORDS = 55


def sampler_buffers(V, float_logits):
    out = (("sp", "sampler", "i", V, False), ("stop", "sampler", "i", V, False), ("sw", "sampler", "i", V, False),
           ("srng", "sampler", "i", RNG_WORDS, False))
    if float_logits:
        out += (("sq16", "sampler", "i", V, False),)
    return out
