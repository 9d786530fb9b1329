# GPT-2 on a GGUF file: load once, then forward(token, pos) per token with a KV cache.
#
# Two paths share the file handling and the weights:
#   integer path (quantized files: q8_0, q4_0, q4_1, q4_K): Q16 fixed-point activations, an
#     int8 KV cache, integer layer norm / GELU / softmax. No float is made per token, so
#     nothing is allocated per token (MicroPython floats live on the heap) and a board
#     without an FPU runs at integer speed.
#   float path (f32/f16 files, or mode="float"): the exact reference-grade computation.
# Every buffer is allocated here at load; forward() only writes into them.

import gc
import math

from . import arena, gpt2, plan
from .errors import NanoLLMError
from .gguf import GGUFFile, StringArray, GGML_F32, GGML_F16, GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q4_K, TYPE_NAME
from .kernels import K, backend_name
from .tokenizer import Tokenizer

try:
    from array import array
except ImportError:  # pragma: no cover
    from uarray import array

QUANTIZED = (GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q4_K)
Q16 = 65536

# The float path's kernels (kernels_float.py), imported when the first float model loads:
# a quantized model never pays for that code.
_F = None


def _float_kernels():
    global _F
    if _F is None:
        from . import kernels_float
        _F = kernels_float
    return _F


def _meta(gf, key, kind=int):
    try:
        v = gf.kv[key]
    except KeyError:
        raise NanoLLMError("%s: metadata %s is missing: not a complete GPT-2 GGUF file" % (gf.path, key))
    if kind is int and not isinstance(v, int) or kind is float and not isinstance(v, (int, float)):
        raise NanoLLMError("%s: metadata %s has the wrong type (%r)" % (gf.path, key, v))
    return v


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

    def matvec_float(self, x, out, rowbuf):
        F = _F
        if self.f32:
            F.matvec_f32(self.data, self.n_rows, self.n_cols, x, out, 0)
            return
        for r in range(self.n_rows):
            self.row_into_float(r, rowbuf)
            out[r] = F.dot_f(rowbuf, x, self.n_cols)

    def _load_row(self, r):
        """Byte offset of row r in self.data, or read it into the stream buffer (offset 0)."""
        if self.data is not None:
            return r * self.row_bytes
        self.gf.read_rows(self.t, r, 1, self._row)
        return 0

    def row_into_float(self, r, out):
        if self.f32:
            base = r * self.n_cols
            for j in range(self.n_cols):
                out[j] = self.data[base + j]
            return
        off = self._load_row(r)
        _F.dequant_row_f(self.data if self.data is not None else self._buf, self.type, off, self.n_cols, out)

    def row_into_q16(self, r, out):
        off = self._load_row(r)
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
               "file_type", "eos_id", "_n_merges", "_n_tensors", "_in_place", "_hold", "tokenizer", "wte",
               "wpe", "head", "layers", "lnf_g", "lnf_b", "_views", "_bufs", "_state_names", "n_past")

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
        for name in _LOAD_ATTRS:
            setattr(self, name, None)
        if stream not in (None, True, False):
            raise NanoLLMError("stream=%r: use None (automatic), True or False" % (stream,))
        gc.collect()
        self.path = path
        # On a heap where pieces matter, most of the largest free piece is held while the
        # file's index and the tokenizer's tables are made, so they land elsewhere, and the
        # run state (one block) takes the piece after (see _open_and_load); the room left
        # outside it grows with each try (plan.HOLD_RESERVES_KB).
        holds = [None]
        if not plan.roomy(path):
            # sizes from the heap as the load found it: an attempt that fails may leave
            # something new just past the piece it held, which shortens that piece
            free = plan.free_bytes()
            largest = plan.largest_block(free)
            holds = [plan.hold_bytes(free, largest, kb) for kb in plan.HOLD_RESERVES_KB] + [0]
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

    def _open(self):
        try:
            self.gf = GGUFFile(self.path)
        except NanoLLMError as e:
            # the index reader says "out of memory" itself; while a piece is held, try again
            if self._hold is not None and "out of memory" in str(e):
                raise MemoryError
            raise
        return self.gf

    def _open_and_load(self, mode, ctx, stream, quiet, hold):
        """Read the file's index and build the tokenizer while `hold` bytes of the largest
        free piece are held (None: a heap where pieces do not matter), plan, then make the
        run state in that piece."""
        self.plan = None
        free = plan.free_bytes()  # what the load may use: the plan counts from here
        if hold:
            plan.hold_piece(self, hold)
        gf = self._open()
        mats = self._read_index(gf, mode, ctx, stream)
        self.tokenizer = Tokenizer(gf.kv["tokenizer.ggml.tokens"], gf.kv["tokenizer.ggml.merges"],
                                   gf.kv.get("tokenizer.ggml.token_type"))
        # the tokenizer has what it needs of these: their tables of string offsets go
        for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type"):
            if key in gf.kv:
                del gf.kv[key]
        block = None
        if hold is not None:
            self._hold = None
            gc.collect()
            # the piece is held again, whole, while the plan is made (its garbage goes
            # elsewhere), and let go just before the run state takes it
            piece = plan.hold_piece(self)
            block = max(0, piece - plan.block_slack())
        self._fit(self.path, mats, ctx, stream, quiet, free, block)
        self._load(mats, piece if block is not None else None)

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
        names = ("layers", "wte", "wpe", "head", "tokenizer", "lnf_g", "lnf_b", "arena", "_bufs", "_views", "_hold")
        for name in names + (self.__dict__.get("_state_names") or ()):
            if name in self.__dict__:
                setattr(self, name, None)
        if self.arena is not None:
            self.arena.release()
        self.arena = None

    # ------------------------------------------------------------ loading
    def _read_index(self, gf, mode, ctx, stream):
        """Check the file's index and take the model's sizes from it; returns what the plan needs of
        each weight matrix."""
        arch = gf.kv.get("general.architecture")
        if arch != "gpt2":
            raise NanoLLMError("%s: architecture is %r; nanollm runs GPT-2 models ('gpt2')" % (gf.path, arch))
        self.n_ctx_train = _meta(gf, "gpt2.context_length")
        self.n_embd = d = _meta(gf, "gpt2.embedding_length")
        self.n_ff = _meta(gf, "gpt2.feed_forward_length")
        self.n_layer = _meta(gf, "gpt2.block_count")
        self.n_head = _meta(gf, "gpt2.attention.head_count")
        self.eps = _meta(gf, "gpt2.attention.layer_norm_epsilon", float)
        if not 0 < self.eps < 1:  # also false for NaN
            raise NanoLLMError("%s: layer_norm_epsilon %r is not between 0 and 1" % (gf.path, self.eps))
        if self.n_head < 1 or d % self.n_head:
            raise NanoLLMError("%s: embedding length %d is not divisible by %d heads" % (gf.path, d, self.n_head))
        if not (0 < self.n_layer <= 256 and 0 < d <= 16384 and 0 < self.n_ff <= 65536 and 0 < self.n_ctx_train <= 1 << 20):
            raise NanoLLMError("%s: implausible model sizes (layers %d, width %d, ffn %d, context %d)"
                               % (gf.path, self.n_layer, d, self.n_ff, self.n_ctx_train))
        self.head_dim = d // self.n_head
        self.n_ctx = self.n_ctx_train if ctx is None else ctx
        if not isinstance(self.n_ctx, int) or isinstance(self.n_ctx, bool) or not 1 <= self.n_ctx <= self.n_ctx_train:
            raise NanoLLMError("ctx=%r: must be between 1 and the model's context length %d" % (ctx, self.n_ctx_train))

        tensors = gf.tensors
        self.n_vocab = self._tensor("token_embd.weight", (d, None)).shape[1]
        self.tied = "output.weight" not in tensors
        for name, dims in gpt2.tensors(self.n_layer, d, self.n_ff, self.n_vocab, self.n_ctx_train, self.tied):
            self._tensor(name, dims)
        matrix_names = gpt2.matrix_names(self.n_layer, self.tied)
        for n in tensors:  # norms and biases are read as f32/f16 vectors
            if len(tensors[n].shape) == 1 and tensors[n].type not in (GGML_F32, GGML_F16):
                raise NanoLLMError("%s: %s is %s; norms and biases must be f32 or f16"
                                   % (gf.path, n, TYPE_NAME[tensors[n].type]))

        quantized = all(tensors[n].type in QUANTIZED for n in matrix_names)
        if mode is None:
            mode = "int" if quantized else "float"
        if mode not in ("int", "float"):
            raise NanoLLMError("mode=%r: use 'int' or 'float'" % mode)
        if mode == "int" and not quantized:
            bad = [n for n in matrix_names if tensors[n].type not in QUANTIZED]
            raise NanoLLMError("%s: the integer path needs every matrix quantized (q8_0, q4_0, q4_1, q4_K); %s is %s"
                               % (gf.path, bad[0], TYPE_NAME[tensors[bad[0]].type]))
        self.mode = mode
        self.stream = stream
        self.integer = mode == "int"
        self.logit_scale = 1.0 / Q16 if self.integer else 1.0
        self.file_type = gf.kv.get("general.file_type")

        tt = gf.kv.get("tokenizer.ggml.token_type")
        for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges"):
            if key not in gf.kv:
                raise NanoLLMError("%s: tokenizer metadata %s is missing" % (gf.path, key))
        toks = gf.kv["tokenizer.ggml.tokens"]
        merges = gf.kv["tokenizer.ggml.merges"]
        # the reader gives string arrays as StringArray, number arrays as array('...')
        for key, v, want in (("tokens", toks, StringArray), ("merges", merges, StringArray),
                             ("token_type", tt, array)):
            if v is not None and not isinstance(v, want):
                raise NanoLLMError("%s: tokenizer.ggml.%s must be an array of %s"
                                   % (gf.path, key, "strings" if want is StringArray else "integers"))
        if len(toks) != self.n_vocab:
            raise NanoLLMError("%s: the vocabulary has %d tokens but token_embd has %d rows"
                               % (gf.path, len(toks), self.n_vocab))
        self.eos_id = gf.kv.get("tokenizer.ggml.eos_token_id")
        if self.eos_id is not None and not (isinstance(self.eos_id, int) and 0 <= self.eos_id < self.n_vocab):
            raise NanoLLMError("%s: tokenizer.ggml.eos_token_id %r is not a token id (vocabulary of %d)"
                               % (gf.path, self.eos_id, self.n_vocab))
        gc.collect()

        if not self.integer:
            _float_kernels()
        self.shape()  # its counts are kept while the tokenizer's metadata is let go
        self._in_place = gf.mem is not None
        return [tensors[n] for n in matrix_names]

    def _load(self, mats, piece=None):
        """Make the run state as planned (one block: KV cache, activations, logits, sampler,
        norm vectors, stream buffer, resident weights) in the piece held for it, then read the
        norm vectors and the resident weights into it and make the matrices."""
        d = self.n_embd
        p = self.plan
        gf = self.gf
        tensors = gf.tensors
        lst = plan.state_list(self.shape(), self.integer, p["stream_buffer"], [t for t in mats if t.name in p["resident"]])
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
        # the norm and bias vectors are views of the block, each read through the stream
        # buffer when there is one (a few dozen arrays of their own would split the heap)
        vecs = {}
        for name, dims in gpt2.tensors(self.n_layer, d, self.n_ff):
            if len(dims) == 1:
                vecs[name] = self._read_vector(name, self._views["v:" + name], stream_buf)
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
            if free is None or p["peak"] + plan.HEADROOM <= free and (block is None or p["state_block"] <= block):
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
        if self.gf is not None and "tokenizer.ggml.merges" in self.gf.kv:  # kept for after the load
            self._n_merges = len(self.gf.kv["tokenizer.ggml.merges"])
            self._n_tensors = len(self.gf.tensors)
        return {"n_vocab": self.n_vocab, "n_embd": self.n_embd, "n_ff": self.n_ff,
                "n_layer": self.n_layer, "n_head": self.n_head, "n_ctx": self.n_ctx,
                "n_merges": self._n_merges, "n_tensors": self._n_tensors}

    def _tensor(self, name, shape):
        t = self.gf.tensors.get(name)
        if t is None:
            raise NanoLLMError("%s: tensor %s is missing: not a complete GPT-2 GGUF file" % (self.gf.path, name))
        if len(t.shape) != len(shape) or any(w is not None and w != s for s, w in zip(t.shape, shape)):
            raise NanoLLMError("%s: tensor %s has shape %s; the metadata implies %s"
                               % (self.gf.path, name, list(t.shape), [s if s is not None else "n_vocab" for s in shape]))
        return t

    def _read_vector(self, name, out, scratch=None):
        """Norm or bias vector `name` into `out` (a view of the run state): floats on the
        float path, Q16 on the integer path; read through `scratch` when it is large enough."""
        t = self.gf.tensors[name]
        buf = self.gf.view(t)  # in place (ROMFS): read where it lies
        if buf is None:
            buf = memoryview(scratch)[:t.nbytes] if scratch is not None and len(scratch) >= t.nbytes else bytearray(t.nbytes)
            self.gf.read_rows(t, 0, 1, buf)
        if not self.integer:
            _F.dequant_row_f(buf, t.type, 0, t.row_len, out)
            return out
        try:
            self._fill_q16(t, buf, out)
        except NanoLLMError as e:
            raise NanoLLMError("%s: %s: %s" % (self.gf.path, name, e))
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
                self._forward_float(token, pos, logits)
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
            K.layernorm_q(x, d, L.attn_norm_w, L.attn_norm_b, h, self.eps_q32)
            sh = K.to_x16(h, 0, d, x16)
            L.attn_qkv.matvec_int(x16, sh, qkv)
            K.add_q(qkv, L.attn_qkv_b, 3 * d)
            for hh in range(H):
                K.kv_store(qkv, d + hh * hd, hd, kc, pos * d + hh * hd, ke, pos * H + hh)
                K.kv_store(qkv, 2 * d + hh * hd, hd, vc, pos * d + hh * hd, ve, pos * H + hh)
            for hh in range(H):
                K.attend_head(qkv, hh * hd, hd, kc, ke, vc, ve, pos + 1, d, hh * hd, H, hh,
                              self.c_isq, self.scores, self.q16, att)
            sh = K.to_x16(att, 0, d, x16)
            L.attn_output.matvec_int(x16, sh, h)
            K.add_q(h, L.attn_output_b, d)
            K.add_q(x, h, d)
            # MLP
            K.layernorm_q(x, d, L.ffn_norm_w, L.ffn_norm_b, h, self.eps_q32)
            sh = K.to_x16(h, 0, d, x16)
            L.ffn_up.matvec_int(x16, sh, h)
            K.add_q(h, L.ffn_up_b, self.n_ff)
            K.gelu_q(h, self.n_ff)
            sh = K.to_x16(h, 0, self.n_ff, x16)
            L.ffn_down.matvec_int(x16, sh, h)
            K.add_q(h, L.ffn_down_b, d)
            K.add_q(x, h, d)
        if not logits:
            return
        K.layernorm_q(x, d, self.lnf_g, self.lnf_b, h, self.eps_q32)
        sh = K.to_x16(h, 0, d, x16)
        self.head.matvec_int(x16, sh, self.logits)

    def _forward_float(self, token, pos, logits):
        # the same steps as _forward_int, on floats, with the float kernels
        F = _F
        d = self.n_embd
        H = self.n_head
        hd = self.head_dim
        x = self.x
        h = self.h
        qkv = self.qkv
        att = self.att
        tmp = self.tmp
        rowbuf = self.rowbuf
        self.wte.row_into_float(token, x)
        self.wpe.row_into_float(pos, tmp)
        F.add_f(x, tmp, d)
        scale = 1.0 / math.sqrt(hd)
        for li in range(self.n_layer):
            L = self.layers[li]
            kc = self.kc[li]
            vc = self.vc[li]
            # attention
            F.layernorm_f(x, d, L.attn_norm_w, L.attn_norm_b, h, self.eps)
            L.attn_qkv.matvec_float(h, qkv, rowbuf)
            F.add_f(qkv, L.attn_qkv_b, 3 * d)
            F.kv_store_f(qkv, d, d, kc, pos * d)
            F.kv_store_f(qkv, 2 * d, d, vc, pos * d)
            for hh in range(H):
                F.attend_head_f(qkv, hh * hd, hd, kc, vc, pos + 1, d, hh * hd, scale, self.scores, att)
            L.attn_output.matvec_float(att, tmp, rowbuf)
            F.residual_add_f(x, tmp, L.attn_output_b, d)
            # MLP
            F.layernorm_f(x, d, L.ffn_norm_w, L.ffn_norm_b, h, self.eps)
            L.ffn_up.matvec_float(h, tmp, rowbuf)
            F.gelu_f(tmp, L.ffn_up_b, self.n_ff)
            L.ffn_down.matvec_float(tmp, h, rowbuf)
            F.residual_add_f(x, h, L.ffn_down_b, d)
        if not logits:
            return
        F.layernorm_f(x, d, self.lnf_g, self.lnf_b, h, self.eps)
        self.head.matvec_float(h, self.logits, rowbuf)

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
