# GPT-2 on a GGUF file: load once, then forward(token, pos) per token with a KV cache.
#
# Two paths share the file handling and the weights:
#   integer path (quantized files: q8_0, q4_0, q4_1, q4_K): Q16 fixed-point activations, an
#     int8 KV cache, integer layer norm / GELU / softmax. No float is made per token, so
#     nothing is allocated per token (MicroPython floats live on the heap) and a board
#     without an FPU runs at integer speed.
#   float path (f32/f16 files, or mode="float"): the exact reference-grade computation,
#     in forward_float.py (imported by the first float model's load).
# Every buffer is allocated here at load; forward() only writes into them.

import gc

from . import arena, gpt2, plan
from .errors import NanoLLMError
from .kernels import K, backend_name
from .modelfile import GGML_F32

Q16 = 65536

# The modules only a load runs (reading the file's index, building the tokenizer): a load
# imports them, and drops them before it makes the run state unless they were in use before
# (MicroPython only), so their code's room goes to the run state (loader.py).
_LOAD_MODULES = ("loader", "gguf", "tokenizer_tables")


def _modules_in_use():
    import sys
    return [n for n in _LOAD_MODULES if "nanollm." + n in sys.modules]


def _drop_modules(keep):
    """Drop the load-time modules not in `keep`: their code is then garbage. On CPython the
    module objects stay (tests patch them; RAM does not matter there)."""
    import sys
    if sys.implementation.name != "micropython":
        return
    pkg = sys.modules.get("nanollm")
    for name in _LOAD_MODULES:
        if name in keep:
            continue
        sys.modules.pop("nanollm." + name, None)
        try:
            delattr(pkg, name)
        except (AttributeError, KeyError, TypeError):
            pass

# The float path (its forward pass in forward_float.py, its kernels in kernels_float.py),
# imported when the first float model loads: a quantized model never pays for that code.
_F = None


def _float_path():
    global _F
    if _F is None:
        from . import forward_float
        _F = forward_float
    return _F


def _f32_to_fixed(bits, frac):
    """IEEE float32 bits -> round(value * 2**frac) with integers only (same on every port)."""
    return _f32_parts_to_fixed(bits >> 31, (bits >> 23) & 255, bits & 0x7FFFFF, frac)


def _f32_parts_to_fixed(sign, exp, man, frac):
    # The float's fields as small ints: on a 32-bit port, bits >= 2**30 (every negative
    # float) would be a heap-allocated big int.
    if exp == 255:
        raise NanoLLMError("the model holds an inf or NaN weight")
    if exp:
        man |= 0x800000
    else:
        exp = 1
    s = exp - 150 + frac
    if s >= 0:
        v = man << s
    elif s > -40:
        v = (man + (1 << (-s - 1))) >> -s
    else:
        v = 0
    if v >= 1 << 31:
        raise NanoLLMError("a weight of the model (%d) is too large for the integer path; load with mode='float'" % (v >> frac))
    return -v if sign else v


class Matrix:
    """A weight matrix (rows = outputs), resident in RAM or streamed row-chunks from the file."""

    def __init__(self, gf, t, data, stream_buf, view=None):
        # data: the matrix's place in the run state's arena when it is resident, else None;
        # view: the matrix's bytes where they lie when the file is in memory (ROMFS), no copy
        self.gf = gf
        self.t = t
        self.type = t.type
        self.n_rows = t.n_rows
        self.n_cols = t.row_len
        self.row_bytes = t.row_bytes
        # f32 values in an array('f') of our own (the float path's fast case); a view or a
        # stream holds raw bytes, which the row functions decode
        self.f32 = data is not None and t.type == GGML_F32
        if view is not None:
            self.data = view
            self.chunk_rows = t.n_rows
        elif data is not None:
            self.data = data
            gf.read_rows(t, 0, t.n_rows, data)
            self.chunk_rows = t.n_rows
        else:
            self.data = None
            # rows per chunk that fit the shared stream buffer; views made once, here
            self.chunk_rows = max(1, len(stream_buf) // t.row_bytes)
            self._buf = stream_buf
            mv = memoryview(stream_buf)
            self._full = mv[:self.chunk_rows * t.row_bytes]
            last = t.n_rows % self.chunk_rows
            self._last = mv[:last * t.row_bytes] if last else self._full
            self._row = mv[:t.row_bytes]

    def matvec_int(self, x16, shx, out):
        kern = K.matvec_q[self.type]
        if self.data is not None:
            kern(self.data, self.n_rows, self.n_cols, x16, shx, out, 0)
            return
        r = 0
        n = self.n_rows
        while r < n:
            rows = self.chunk_rows if r + self.chunk_rows <= n else n - r
            self.gf.read_rows(self.t, r, rows, self._full if rows == self.chunk_rows else self._last)
            kern(self._buf, rows, self.n_cols, x16, shx, out, r)
            r += rows

    def load_row(self, r):
        """Byte offset of row r in self.data, or read it into the stream buffer (offset 0)."""
        if self.data is not None:
            return r * self.row_bytes
        self.gf.read_rows(self.t, r, 1, self._row)
        return 0

    def row_into_q16(self, r, out):
        off = self.load_row(r)
        K.dequant_row_q(self.data if self.data is not None else self._buf, self.type, off, self.n_cols, out)


class Layer:
    """One transformer block: its four weight matrices and its norm and bias vectors, named
    after the GGUF tensors (blk.N.<part>.weight / .bias)."""

    def __init__(self, prefix, vec, mat):
        self.attn_norm_w = vec(prefix + "attn_norm.weight")
        self.attn_norm_b = vec(prefix + "attn_norm.bias")
        self.attn_qkv = mat(prefix + "attn_qkv.weight")
        self.attn_qkv_b = vec(prefix + "attn_qkv.bias")
        self.attn_output = mat(prefix + "attn_output.weight")
        self.attn_output_b = vec(prefix + "attn_output.bias")
        self.ffn_norm_w = vec(prefix + "ffn_norm.weight")
        self.ffn_norm_b = vec(prefix + "ffn_norm.bias")
        self.ffn_up = mat(prefix + "ffn_up.weight")
        self.ffn_up_b = vec(prefix + "ffn_up.bias")
        self.ffn_down = mat(prefix + "ffn_down.weight")
        self.ffn_down_b = vec(prefix + "ffn_down.bias")


# Every attribute a load sets: made first (see Model.__init__).
_LOAD_ATTRS = ("gf", "arena", "plan", "path", "mode", "stream", "integer", "ctx", "n_ctx", "n_ctx_train", "n_embd",
               "n_ff", "n_layer", "n_head", "head_dim", "eps", "eps_q32", "c_isq", "n_vocab", "tied", "logit_scale",
               "file_type", "eos_id", "_n_merges", "_n_tensors", "_in_place", "_hold", "_tensors", "tokenizer", "wte",
               "wpe", "head", "layers", "lnf_g", "lnf_b", "_views", "_bufs", "_state_names", "n_past",
               "_vectors_in_file")

class Model:
    # What the last generate() did (generation.py says more): why it stopped ("eos",
    # "max_new_tokens", "context_full", "interrupted"), its text (kept when Ctrl-C
    # interrupts it), its token counts and times in milliseconds.
    stop_reason = None
    last_text = ""
    n_prompt_tokens = 0
    n_new_tokens = 0
    prompt_ms = 0
    gen_ms = 0

    def __init__(self, path, mode=None, ctx=None, stream=None, quiet=False):
        """Open `path` and load it (see nanollm.load). The model owns its file until close().

        ctx None takes the model's context when it fits the free heap, else the largest that
        fits, and says so in one printed line (quiet=True: not even that); self.ctx is the
        context in use."""
        # every attribute a load sets, made now: the instance's table then does not grow (and
        # move) while the file's index is read, where it could split the piece held for the
        # run state
        try:
            for name in _LOAD_ATTRS:
                setattr(self, name, None)
        except MemoryError:
            gc.collect()
            raise NanoLLMError("out of memory before loading %s (%s): free memory first, e.g. load nothing else"
                               % (path, plan.describe_free()))
        if stream not in (None, True, False):
            raise NanoLLMError("stream=%r: use None (automatic), True or False" % (stream,))
        gc.collect()
        self.path = path
        # On a heap where pieces matter, the load places what it makes (see _open_and_load):
        # the room at the bottom of the largest free piece where the file's index and the
        # tokenizer's tables go grows with each try (plan.HOLD_RESERVES_KB); the last try
        # places nothing.
        holds = [None]
        if not plan.roomy(path):
            holds = [kb * 256 * plan.word_bytes() for kb in plan.HOLD_RESERVES_KB] + [0]
        for i, hold in enumerate(holds):
            try:
                self._open_and_load(mode, ctx, stream, quiet, hold)
                return
            except MemoryError:
                if i < len(holds) - 1:
                    self._release()
                    gc.collect()
                    continue
                self._out_of_memory()
            except BaseException:
                self._release()
                raise

    def _open_and_load(self, mode, ctx, stream, quiet, hold):
        """Read the file's index and build the tokenizer, plan, then make the run state in
        one block. `hold` (bytes; None: a heap where pieces do not matter, 0: place nothing)
        places them so that the block can take the room of the load-time code:
          1. `hold` bytes are held at the lowest place they fit while the load-time code
             (loader.py, gguf.py, tokenizer_tables.py) is imported: it lands above them;
          2. they are let go: the file's index and the tokenizer's tables land there (the
             allocator takes the lowest hole that fits; the index reader and the tokenizer
             collect before what they keep, so it packs there rather than above garbage);
          3. the code is dropped: its room and the free heap above it make one piece, which
             is held while the plan is made and let go for the block."""
        self.plan = None
        free = plan.free_bytes()  # what the load may use: the plan counts from here
        mats = self._read_file(mode, ctx, stream, hold)
        self.logit_scale = 1.0 / Q16 if self.integer else 1.0
        if not self.integer:
            _float_path()
        gc.collect()
        block = None
        if hold is not None:
            mats = self._move_down(mats)
            # the piece is held again, whole, while the plan is made (its garbage goes
            # elsewhere), and let go just before the run state takes it
            piece = plan.hold_piece(self)
            block = max(0, piece - plan.block_slack())
        self._fit(self.path, mats, ctx, stream, quiet, free, block)
        self._load(mats, piece if block is not None else None)

    def _move_down(self, mats):
        """Copy what the model keeps of the index and the tokenizer (the tokenizer's tables,
        the tensors' records) and let the originals go. Made while the index and the load-time
        code were live, they sit among the holes that garbage leaves; the copies take the
        lowest holes that fit, so the piece above them, which the run state takes, grows
        (measured on the rp2040 stand-in: by 9 KB). Returns the matrices' new records."""
        self.tokenizer.move_tables()
        ts = {}
        for name in self._tensors:
            ts["%s" % name] = self._tensors[name].copy()
        self._tensors = ts
        mats = [ts[t.name] for t in mats]
        ts = None
        gc.collect()
        return mats

    def _read_file(self, mode, ctx, stream, hold):
        """Steps 1 and 2 of _open_and_load: the file's index read, the tokenizer built, the
        load-time code dropped; returns the weight matrices' records. A function of its own:
        its frame (on the heap) goes when it returns, with the pointers to the index and to
        the load-time modules its stack held, which would keep them (the collector is
        conservative) for as long as the load runs."""
        keep = _modules_in_use()
        placed = hold and not keep
        arena.packing(hold is not None)
        try:
            if placed:
                plan.hold_piece(self, hold)
            from . import loader
            if placed:
                self._hold = None
                gc.collect()
            # while a try with more room remains, running out of memory is a MemoryError
            self.gf = loader.open_index(self.path, bool(hold))
            mats, self._tensors = loader.read(self, self.gf, mode, ctx, stream)
            return mats
        finally:
            arena.packing(False)
            self._hold = None
            _drop_modules(keep)

    def _out_of_memory(self):
        # the plan said it fits but an allocation failed (a figure of the plan short of the
        # truth, or a heap in pieces too small for the small objects): return every byte,
        # then say so with the plan's numbers
        p = self.plan
        self._release()
        gc.collect()
        if p is None:
            raise NanoLLMError("out of memory while loading %s before its memory plan was made (%s); "
                               "free memory first, e.g. load nothing else" % (self.path, plan.describe_free()))
        p = dict(p)
        p["free"] = plan.free_bytes()
        raise NanoLLMError("out of memory while loading: " + plan.refusal(p, self.path, None)
                           + "; free memory first (load the model before other allocations)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _release(self):
        # after a failed load or close(): drop the file and every buffer so the heap is whole
        if self.gf is not None:
            self.gf.close()
            self.gf = None
        # every name here exists (made first in __init__); no self.__dict__, which MicroPython
        # copies on each use, and this runs when memory ran out (nor names + state names:
        # that tuple would be an allocation too)
        for name in ("layers", "wte", "wpe", "head", "tokenizer", "lnf_g", "lnf_b", "_bufs", "_views", "_hold",
                     "_tensors"):
            setattr(self, name, None)
        for name in self._state_names or ():
            setattr(self, name, None)
        if self.arena is not None:
            self.arena.release()
        self.arena = None

    # ------------------------------------------------------------ loading
    def _load(self, mats, piece=None):
        """Make the run state as planned (one block: KV cache, activations, logits, sampler,
        norm vectors or the two buffers they are read into per token, stream buffer, resident
        weights) in the piece held for it, then read the norm vectors (each checked) and the
        resident weights into it and make the matrices."""
        d = self.n_embd
        p = self.plan
        gf = self.gf
        tensors = self._tensors
        per_token = self._vectors_in_file = p["vectors_per_token"]
        lst = plan.state_list(self.shape(), self.integer, p["stream_buffer"], [t for t in mats if t.name in p["resident"]],
                              per_token)
        mats = None
        # worked out while the piece is held, so its objects land outside it: the layout the
        # arena would otherwise work out just before its big block
        planned = arena.layout_of(lst)
        # The block goes at the top of the piece, a filler below it while it is made: what
        # is made after the load (a generate()'s objects, what the interpreter makes the
        # first time) then lands below the block, and what of it outlives the model (a
        # reference left on the stack) does not split the piece a next load needs. The
        # logits array (arena.ALONE: forward() returns it) is made first, in the lowest
        # place it fits: outside the piece, or at its start.
        n = 0
        if piece is not None:
            n = piece - plan.block_slack() // 2
            for key in planned[0]:
                n -= planned[0][key]
        self._hold = None
        gc.collect()
        made = arena.make_alone(lst)
        filler = None
        if n >= 1024:
            try:
                filler = bytearray(n)
            except MemoryError:
                filler = None
        self._alloc_state(lst, made, planned)
        filler = None
        lst = None
        stream_buf = self._views.get("stream")
        # the norm and bias vectors: views of the block, each read through the stream buffer
        # when there is one (a few dozen arrays of their own would split the heap); or, read
        # per token, where each lies (checked now: read and converted once)
        vecs = {}
        raws = {}
        for name, dims in gpt2.tensors(self.n_layer, d, self.n_ff):
            if len(dims) != 1:
                continue
            if not per_token:
                vecs[name] = self._read_vector(name, self._views["v:" + name], stream_buf)
                continue
            out = self._views["vb" if name.endswith("norm.bias") else "vw"]
            self._read_vector(name, out, stream_buf)
            t = tensors[name]
            raw = gf.view(t)  # in place: read where it lies
            off = -1
            if raw is None:  # else read into the stream buffer: one view of it per size
                off = t.offset
                raw = raws.get(t.nbytes)
                if raw is None:
                    raw = raws[t.nbytes] = memoryview(stream_buf)[:t.nbytes]
            vecs[name] = (off, t.type, t.row_len, raw, out)
        raws = None
        gc.collect()
        resident = p["resident"]
        in_place = p["weights_in_place"] > 0

        def mat(name):
            t = tensors[name]
            return Matrix(gf, t, self._views.get("w:" + name) if name in resident else None, stream_buf,
                          gf.view(t) if in_place else None)

        self.wte = mat("token_embd.weight")
        self.wpe = mat("position_embd.weight")
        self.head = self.wte if self.tied else mat("output.weight")
        self.layers = []
        for i in range(self.n_layer):
            self.layers.append(Layer("blk.%d." % i, vecs.pop, mat))
        self.lnf_g = vecs.pop("output_norm.weight")
        self.lnf_b = vecs.pop("output_norm.bias")
        self._tensors = None
        gc.collect()

    def _fit(self, path, mats, ctx, stream, quiet, free, block):
        """Plan the load: at the context asked for, else (ctx None) at the model's context or
        the largest that fits `free` (the heap free when the load began) with the run state
        in one `block` (the largest free piece), said in one line; refuse with the plan's
        numbers when nothing fits."""
        want = self.n_ctx
        while True:
            self.plan = plan.plan_model(self.shape(), mats, self.integer, self.n_ctx, stream=stream, free=free,
                                        block=block, in_place=self._in_place)
            p = self.plan
            if plan.fits(p, free, block):
                break
            fit = plan.largest_ctx(self.shape(), mats, self.integer, free, 0, self.n_ctx, stream, block=block,
                                   in_place=self._in_place)
            if ctx is not None or not fit:
                plan.check_fits(p, path, fit, want, block)
                break  # (only when a test switched the refusal off: the allocation decides)
            self.n_ctx = fit
        if self.n_ctx < want and not quiet:
            print("nanollm: ctx=%d (of the model's %d) fits the %d KB free%s" % (
                self.n_ctx, want, free // 1024,
                "" if block is None or block > free // 2 else ", %d KB in one piece" % (block // 1024)))
        self.ctx = self.n_ctx

    def shape(self):
        """The model's sizes as the memory plan and the board verdict take them (plan.py)."""
        return {"n_vocab": self.n_vocab, "n_embd": self.n_embd, "n_ff": self.n_ff,
                "n_layer": self.n_layer, "n_head": self.n_head, "n_ctx": self.n_ctx,
                "n_merges": self._n_merges, "n_tensors": self._n_tensors}

    def _read_vector(self, name, out, scratch=None):
        """Norm or bias vector `name` into `out` (a view of the run state): floats on the
        float path, Q16 on the integer path; read through `scratch` when it is large enough."""
        t = self._tensors[name]
        buf = self.gf.view(t)  # in place (ROMFS): read where it lies
        if buf is None:
            buf = memoryview(scratch)[:t.nbytes] if scratch is not None and len(scratch) >= t.nbytes else bytearray(t.nbytes)
            self.gf.read_rows(t, 0, 1, buf)
        if not self.integer:
            from .kernels_float import dequant_row_f  # (imported with the float path: _float_path)
            dequant_row_f(buf, t.type, 0, t.row_len, out)
            return out
        try:
            self._fill_q16(t, buf, out)
        except NanoLLMError as e:
            raise NanoLLMError("%s: %s: %s" % (self.gf.path, name, e))
        return out

    def _vec(self, v):
        """A norm or bias vector left in the file, v = (file offset or -1 when it lies in
        memory, type, length, its bytes' buffer, the Q16 buffer): read now and converted into
        its Q16 buffer, which is returned. Allocates nothing."""
        off, wtype, n, raw, out = v
        if off >= 0:
            self.gf.read_at(off, raw)
        K.dequant_row_q(raw, wtype, 0, n, out)
        return out

    def _fill_q16(self, t, buf, out):
        if t.type == GGML_F32:
            # fields straight from the bytes: no tuple or big int per element, so loading
            # leaves no weight-dependent garbage between the tables it keeps (on a 190 KB
            # heap that garbage fragmented it enough to fail the tokenizer's allocations)
            for j in range(t.row_len):
                o = 4 * j
                b3 = buf[o + 3]
                b2 = buf[o + 2]
                out[j] = _f32_parts_to_fixed(b3 >> 7, ((b3 & 0x7F) << 1) | (b2 >> 7),
                                             ((b2 & 0x7F) << 16) | (buf[o + 1] << 8) | buf[o], 16)
        else:  # f16: widen the bits to f32 bits exactly, then convert
            for j in range(t.row_len):
                h = buf[2 * j] | (buf[2 * j + 1] << 8)
                out[j] = _f32_to_fixed(_f16_bits_to_f32_bits(h), 16)

    def _alloc_state(self, lst, made=None, planned=None):
        # every buffer gpt2.state_buffers() names and the stream buffer, carved from one
        # arena (arena.py) laid out as the plan counted it; a list of views for per-layer ones
        self.arena = arena.Arena(lst, made, planned)
        v = self._views = self.arena.views
        self._state_names = ()
        for name, _group, _code, _items, per_layer in gpt2.state_buffers(self.shape(), self.integer):
            self._state_names += (name,)
            if per_layer:
                setattr(self, name, [v["%s.%d" % (name, li)] for li in range(self.n_layer)])
            else:
                setattr(self, name, v[name])
        self._bufs = {}
        for name in ("sp", "stop", "sw", "srng", "sq16"):
            if name in v:
                self._bufs[name] = v[name]
        if self.integer:
            self.eps_q32 = int(self.eps * 4294967296.0 + 0.5)
            self.c_isq = K.isqrt((1 << 30) // self.head_dim)  # 2**15 / sqrt(head_dim)
        self.n_past = 0

    # ------------------------------------------------------------ running
    def reset(self):
        """Forget the context (the KV cache is simply overwritten from position 0)."""
        self.n_past = 0

    def forward(self, token, pos, logits=True):
        """Logits for the next token after `token` at position `pos`: the array is reused.

        logits=False skips the final layer norm and the output matrix and returns None: for
        prompt tokens, whose logits nobody reads (the output matrix is the largest of GPT-2
        117M, a third of a token's work); the KV cache is filled all the same."""
        if self.arena is None:
            raise NanoLLMError("%s: the model is closed; load it again" % self.path)
        if not 0 <= pos < self.n_ctx:
            raise NanoLLMError("position %d is outside the context (0..%d)" % (pos, self.n_ctx - 1))
        if not 0 <= token < self.n_vocab:
            raise NanoLLMError("token id %d is outside the vocabulary (0..%d)" % (token, self.n_vocab - 1))
        try:
            if self.integer:
                self._forward_int(token, pos, logits)
            else:
                _F.forward(self, token, pos, logits)
        except (OverflowError, ZeroDivisionError, ValueError) as e:
            # weights far outside what GPT-2 training gives (corrupt data) overflow the
            # 32-bit integer path, or make inf/NaN on the float path: say so plainly
            raise NanoLLMError("%s: the model's numbers overflow on the %s path (%s): corrupt or out-of-range weights"
                               % (self.path, "integer" if self.integer else "float", type(e).__name__))
        self.n_past = pos + 1
        return self.logits if logits else None

    def _forward_int(self, token, pos, logits):
        # one name per line: a tuple on the right-hand side would be a heap allocation
        d = self.n_embd
        H = self.n_head
        hd = self.head_dim
        x = self.x
        h = self.h
        qkv = self.qkv
        att = self.att
        x16 = self.x16
        # the norm and bias vectors: resident arrays, or (plan: vectors_per_token) read from the
        # file now, by a call that only that case pays for
        vf = self._vectors_in_file
        self.wte.row_into_q16(token, x)
        self.wpe.row_into_q16(pos, h)
        K.add_q(x, h, d)
        for li in range(self.n_layer):
            L = self.layers[li]
            kc = self.kc[li]
            vc = self.vc[li]
            ke = self.ke[li]
            ve = self.ve[li]
            # attention
            K.layernorm_q(x, d, self._vec(L.attn_norm_w) if vf else L.attn_norm_w,
                          self._vec(L.attn_norm_b) if vf else L.attn_norm_b, h, self.eps_q32)
            sh = K.to_x16(h, 0, d, x16)
            L.attn_qkv.matvec_int(x16, sh, qkv)
            K.add_q(qkv, self._vec(L.attn_qkv_b) if vf else L.attn_qkv_b, 3 * d)
            for hh in range(H):
                K.kv_store(qkv, d + hh * hd, hd, kc, pos * d + hh * hd, ke, pos * H + hh)
                K.kv_store(qkv, 2 * d + hh * hd, hd, vc, pos * d + hh * hd, ve, pos * H + hh)
            for hh in range(H):
                K.attend_head(qkv, hh * hd, hd, kc, ke, vc, ve, pos + 1, d, hh * hd, H, hh,
                              self.c_isq, self.scores, self.q16, att)
            sh = K.to_x16(att, 0, d, x16)
            L.attn_output.matvec_int(x16, sh, h)
            K.add_q(h, self._vec(L.attn_output_b) if vf else L.attn_output_b, d)
            K.add_q(x, h, d)
            # MLP
            K.layernorm_q(x, d, self._vec(L.ffn_norm_w) if vf else L.ffn_norm_w,
                          self._vec(L.ffn_norm_b) if vf else L.ffn_norm_b, h, self.eps_q32)
            sh = K.to_x16(h, 0, d, x16)
            L.ffn_up.matvec_int(x16, sh, h)
            K.add_q(h, self._vec(L.ffn_up_b) if vf else L.ffn_up_b, self.n_ff)
            K.gelu_q(h, self.n_ff)
            sh = K.to_x16(h, 0, self.n_ff, x16)
            L.ffn_down.matvec_int(x16, sh, h)
            K.add_q(h, self._vec(L.ffn_down_b) if vf else L.ffn_down_b, d)
            K.add_q(x, h, d)
        if not logits:
            return
        K.layernorm_q(x, d, self._vec(self.lnf_g) if vf else self.lnf_g, self._vec(self.lnf_b) if vf else self.lnf_b, h,
                      self.eps_q32)
        sh = K.to_x16(h, 0, d, x16)
        self.head.matvec_int(x16, sh, self.logits)

    # ------------------------------------------------------------ text
    def tokenize(self, text):
        return self.tokenizer.encode(text)

    def detokenize(self, ids):
        return self.tokenizer.decode(ids)

    def generate(self, prompt, max_new_tokens=64, temperature=0.7, top_k=40, top_p=0.9, seed=None,
                 callback=None):
        from .generation import generate
        try:
            return generate(self, prompt, max_new_tokens, temperature, top_k, top_p, seed, callback)
        except MemoryError:
            # the run state is allocated at load; what a generate() makes (the prompt's tokens,
            # the text) comes out of the plan's headroom, which the caller's objects share
            gc.collect()
            raise NanoLLMError("out of memory while generating (%s; the plan kept %d KB for the prompt and the "
                               "text): shorten the prompt or max_new_tokens, free memory, or load with a smaller "
                               "ctx=" % (plan.describe_free(), plan.HEADROOM // 1024))

    def sampler_bufs(self):
        """The sampler's buffers in the run state (sampling.Sampler's bufs)."""
        if self.arena is None:
            raise NanoLLMError("%s: the model is closed; load it again" % self.path)
        return self._bufs

    def weight_tensors(self):
        """{name: TensorInfo} of the weight matrices: where each lies in the file, its type
        and its rows (the file's index itself is let go at the end of a load)."""
        mats = [self.wte, self.wpe] + ([] if self.tied else [self.head])
        for L in self.layers or ():
            mats += [L.attn_qkv, L.attn_output, L.ffn_up, L.ffn_down]
        return {m.t.name: m.t for m in mats if m is not None}

    def close(self):
        """Close the file and free the run state (the model cannot run after this)."""
        self._release()

    def info(self):
        return {"path": self.path, "mode": self.mode, "backend": backend_name(), "n_vocab": self.n_vocab,
                "n_embd": self.n_embd, "n_layer": self.n_layer, "n_head": self.n_head, "n_ff": self.n_ff,
                "n_ctx": self.n_ctx, "plan": self.plan}


def _f16_bits_to_f32_bits(h):
    sign = (h & 0x8000) << 16
    e = (h >> 10) & 31
    m = h & 1023
    if e == 0:
        if m == 0:
            return sign
        e = 1
        while not m & 1024:  # normalise a subnormal
            m <<= 1
            e -= 1
        m &= 1023
    elif e == 31:
        return sign | 0x7F800000 | (m << 13)
    return sign | ((e + 112) << 23) | (m << 13)
