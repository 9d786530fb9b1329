# GPT-2 on a GGUF file: load once, then forward(token, pos) per token with a KV cache.
#
# Two paths share the file handling and the weights:
#   integer path (quantized files: q8_0, q4_0, q4_1): Q16 fixed-point activations, an
#     int8 KV cache, integer layer norm / GELU / softmax. No float is made per token, so
#     nothing is allocated per token (MicroPython floats live on the heap) and a board
#     without an FPU runs at integer speed.
#   float path (f32/f16 files, or mode="float"): the exact reference-grade computation.
# Every buffer is allocated here at load; forward() only writes into them.

import gc

from . import plan
from .errors import NanoLLMError
from .gguf import GGUFFile, StringArray, GGML_F32, GGML_F16, GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, TYPE_NAME
from .kernels import K, backend_name
from .tokenizer import Tokenizer

try:
    from array import array
except ImportError:  # pragma: no cover
    from uarray import array

QUANTIZED = (GGML_Q8_0, GGML_Q4_0, GGML_Q4_1)
Q16 = 65536


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
    exp = (bits >> 23) & 255
    man = bits & 0x7FFFFF
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
    return -v if bits >> 31 else v


class Matrix:
    """A weight matrix (rows = outputs), resident in RAM or streamed row-chunks from the file."""

    def __init__(self, gf, t, resident, stream_buf):
        self.gf = gf
        self.t = t
        self.type = t.type
        self.n_rows = t.n_rows
        self.n_cols = t.row_len
        self.row_bytes = t.row_bytes
        if resident:
            if t.type == GGML_F32:
                self.data = array("f", bytes(4 * t.n_rows * t.row_len))
            else:
                self.data = bytearray(t.nbytes)
            gf.read_rows(t, 0, t.n_rows, self.data)
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
        if self.data is not None and self.type == GGML_F32:
            K.matvec_f32(self.data, self.n_rows, self.n_cols, x, out, 0)
            return
        for r in range(self.n_rows):
            self.row_into_float(r, rowbuf)
            s = 0.0
            for j in range(self.n_cols):
                s += rowbuf[j] * x[j]
            out[r] = s

    def _load_row(self, r):
        """Byte offset of row r in self.data, or read it into the stream buffer (offset 0)."""
        if self.data is not None:
            return r * self.row_bytes
        self.gf.read_rows(self.t, r, 1, self._row)
        return 0

    def row_into_float(self, r, out):
        if self.data is not None and self.type == GGML_F32:
            base = r * self.n_cols
            for j in range(self.n_cols):
                out[j] = self.data[base + j]
            return
        off = self._load_row(r)
        K.dequant_row_f(self.data if self.data is not None else self._buf, self.type, off, self.n_cols, out)

    def row_into_q16(self, r, out):
        off = self._load_row(r)
        K.dequant_row_q(self.data if self.data is not None else self._buf, self.type, off, self.n_cols, out)


class Model:
    def __init__(self, path, mode=None, ctx=None, stream=None):
        gc.collect()
        try:
            gf = GGUFFile(path)
        except MemoryError:
            gc.collect()
            raise NanoLLMError("out of memory while reading the index of %s (%s); free memory first, "
                               "e.g. load nothing else" % (path, plan.describe_free()))
        self.gf = gf
        self.path = path
        try:
            self._load(gf, mode, ctx, stream)
        except MemoryError:
            gf.close()
            p = getattr(self, "plan", None)
            self._release()
            gc.collect()
            need = ("it needs about %d bytes" % (p["peak"] + plan.HEADROOM)) if p else "before its memory plan was made"
            raise NanoLLMError("out of memory while loading %s: %s, %s; try a smaller ctx=, stream=True "
                               "or a q4_0 model" % (path, need, plan.describe_free()))
        except Exception:
            gf.close()
            self._release()
            raise

    def _release(self):
        # after a failed load: drop what was allocated so the heap is whole again
        for name in ("layers", "kc", "vc", "ke", "ve", "wte", "wpe", "head", "tokenizer", "logits",
                     "x", "h", "qkv", "att", "x16", "q16", "scores", "tmp", "rowbuf", "lnf_g", "lnf_b"):
            if hasattr(self, name):
                setattr(self, name, None)

    # ------------------------------------------------------------ loading
    def _load(self, gf, mode, ctx, stream):
        if stream not in (None, True, False):
            raise NanoLLMError("stream=%r: use None (automatic), True or False" % (stream,))
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
        if not isinstance(self.n_ctx, int) or not 1 <= self.n_ctx <= self.n_ctx_train:
            raise NanoLLMError("ctx=%r: must be between 1 and the model's context length %d" % (ctx, self.n_ctx_train))

        tensors = gf.tensors
        emb = self._tensor("token_embd.weight", (d, None))
        self.n_vocab = emb.shape[1]
        self._tensor("position_embd.weight", (d, self.n_ctx_train))
        names = []
        for i in range(self.n_layer):
            p = "blk.%d." % i
            self._tensor(p + "attn_norm.weight", (d,))
            self._tensor(p + "attn_norm.bias", (d,))
            self._tensor(p + "attn_qkv.weight", (d, 3 * d))
            self._tensor(p + "attn_qkv.bias", (3 * d,))
            self._tensor(p + "attn_output.weight", (d, d))
            self._tensor(p + "attn_output.bias", (d,))
            self._tensor(p + "ffn_norm.weight", (d,))
            self._tensor(p + "ffn_norm.bias", (d,))
            self._tensor(p + "ffn_up.weight", (d, self.n_ff))
            self._tensor(p + "ffn_up.bias", (self.n_ff,))
            self._tensor(p + "ffn_down.weight", (self.n_ff, d))
            self._tensor(p + "ffn_down.bias", (d,))
            names += [p + "attn_qkv.weight", p + "attn_output.weight", p + "ffn_up.weight", p + "ffn_down.weight"]
        self._tensor("output_norm.weight", (d,))
        self._tensor("output_norm.bias", (d,))
        head = "output.weight" if "output.weight" in tensors else "token_embd.weight"
        if head == "output.weight":
            self._tensor(head, (d, self.n_vocab))
        matrix_names = ["token_embd.weight", "position_embd.weight"] + names
        if head == "output.weight":
            matrix_names.append(head)
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
            raise NanoLLMError("%s: the integer path needs every matrix quantized (q8_0, q4_0, q4_1); %s is %s"
                               % (gf.path, bad[0], TYPE_NAME[tensors[bad[0]].type]))
        self.mode = mode
        self.integer = mode == "int"
        self.logit_scale = 1.0 / Q16 if self.integer else 1.0
        self.file_type = gf.kv.get("general.file_type")

        # Memory: decide what is resident, check it fits before allocating anything big.
        self.plan = plan.plan_model(self._shape(), [tensors[n] for n in matrix_names], self.integer,
                                    self.n_ctx, stream=stream, free=plan.free_bytes())
        plan.check_fits(self.plan, gf.path)

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

        # Allocation order: the big fixed blocks first (stream buffer, KV cache and activations),
        # then weights, then the tokenizer's many small tables, so small blocks do not split
        # the heap before the big ones are placed.
        stream_buf = bytearray(self.plan["stream_buffer"]) if self.plan["stream_buffer"] else None
        self._alloc_state()
        resident = self.plan["resident"]

        def mat(name):
            return Matrix(gf, tensors[name], name in resident, stream_buf)

        self.wte = mat("token_embd.weight")
        self.wpe = mat("position_embd.weight")
        self.head = self.wte if head == "token_embd.weight" else mat(head)
        vec = self._vec_q16 if self.integer else self._vec_f
        self.layers = []
        for i in range(self.n_layer):
            p = "blk.%d." % i
            self.layers.append((
                vec(p + "attn_norm.weight"), vec(p + "attn_norm.bias"),
                mat(p + "attn_qkv.weight"), vec(p + "attn_qkv.bias"),
                mat(p + "attn_output.weight"), vec(p + "attn_output.bias"),
                vec(p + "ffn_norm.weight"), vec(p + "ffn_norm.bias"),
                mat(p + "ffn_up.weight"), vec(p + "ffn_up.bias"),
                mat(p + "ffn_down.weight"), vec(p + "ffn_down.bias"),
            ))
            gc.collect()
        self.lnf_g = vec("output_norm.weight")
        self.lnf_b = vec("output_norm.bias")
        gc.collect()
        self.tokenizer = Tokenizer(toks, merges, tt)
        gc.collect()

    def _shape(self):
        merges = self.gf.kv.get("tokenizer.ggml.merges")
        return {"n_vocab": self.n_vocab, "n_embd": self.n_embd, "n_ff": self.n_ff,
                "n_layer": self.n_layer, "n_head": self.n_head, "n_ctx": self.n_ctx,
                "n_merges": len(merges) if merges is not None else 0, "n_tensors": len(self.gf.tensors)}

    def _tensor(self, name, shape):
        t = self.gf.tensors.get(name)
        if t is None:
            raise NanoLLMError("%s: tensor %s is missing: not a complete GPT-2 GGUF file" % (self.gf.path, name))
        if len(t.shape) != len(shape) or any(w is not None and w != s for s, w in zip(t.shape, shape)):
            raise NanoLLMError("%s: tensor %s has shape %s; the metadata implies %s"
                               % (self.gf.path, name, list(t.shape), [s if s is not None else "n_vocab" for s in shape]))
        return t

    def _raw_vector(self, name):
        t = self.gf.tensors[name]
        buf = bytearray(t.nbytes)
        self.gf.read_rows(t, 0, 1, buf)
        return t, buf

    def _vec_f(self, name):
        t, buf = self._raw_vector(name)
        out = array("f", bytes(4 * t.row_len))
        K.dequant_row_f(buf, t.type, 0, t.row_len, out)
        return out

    def _vec_q16(self, name):
        t, buf = self._raw_vector(name)
        out = array("i", bytes(4 * t.row_len))
        try:
            self._fill_q16(t, buf, out)
        except NanoLLMError as e:
            raise NanoLLMError("%s: %s: %s" % (self.gf.path, name, e))
        return out

    def _fill_q16(self, t, buf, out):
        import struct
        if t.type == GGML_F32:
            for j in range(t.row_len):
                out[j] = _f32_to_fixed(struct.unpack_from("<I", buf, 4 * j)[0], 16)
        else:  # f16: widen the bits to f32 bits exactly, then convert
            for j in range(t.row_len):
                h = buf[2 * j] | (buf[2 * j + 1] << 8)
                out[j] = _f32_to_fixed(_f16_bits_to_f32_bits(h), 16)

    def _alloc_state(self):
        d, ff, L, T = self.n_embd, self.n_ff, self.n_layer, self.n_ctx
        if self.integer:
            self.x = array("i", bytes(4 * d))  # residual stream, Q16
            self.h = array("i", bytes(4 * max(d, ff)))  # norm output / ffn hidden, Q16
            self.qkv = array("i", bytes(4 * 3 * d))
            self.att = array("i", bytes(4 * d))
            self.x16 = array("h", bytes(2 * max(d, ff)))
            self.q16 = array("h", bytes(2 * self.head_dim))
            self.scores = array("i", bytes(4 * T))
            self.logits = array("i", bytes(4 * self.n_vocab))
            self.kc = [bytearray(T * d) for _ in range(L)]
            self.vc = [bytearray(T * d) for _ in range(L)]
            self.ke = [bytearray(2 * T * self.n_head) for _ in range(L)]  # scales
            self.ve = [bytearray(2 * T * self.n_head) for _ in range(L)]
            self.eps_q32 = int(self.eps * 4294967296.0 + 0.5)
            self.c_isq = K.isqrt((1 << 30) // self.head_dim)  # 2**15 / sqrt(head_dim)
        else:
            self.x = array("f", bytes(4 * d))
            self.h = array("f", bytes(4 * max(d, ff)))
            self.qkv = array("f", bytes(4 * 3 * d))
            self.att = array("f", bytes(4 * d))
            self.tmp = array("f", bytes(4 * max(d, ff)))
            self.rowbuf = array("f", bytes(4 * max(d, ff)))
            self.scores = array("f", bytes(4 * T))
            self.logits = array("f", bytes(4 * self.n_vocab))
            self.kc = [array("f", bytes(4 * T * d)) for _ in range(L)]
            self.vc = [array("f", bytes(4 * T * d)) for _ in range(L)]
        self.n_past = 0

    # ------------------------------------------------------------ running
    def reset(self):
        """Forget the context (the KV cache is simply overwritten from position 0)."""
        self.n_past = 0

    def forward(self, token, pos):
        """Logits for the next token after `token` at position `pos`: the array is reused."""
        if not 0 <= pos < self.n_ctx:
            raise NanoLLMError("position %d is outside the context (0..%d)" % (pos, self.n_ctx - 1))
        if not 0 <= token < self.n_vocab:
            raise NanoLLMError("token id %d is outside the vocabulary (0..%d)" % (token, self.n_vocab - 1))
        try:
            if self.integer:
                self._forward_int(token, pos)
            else:
                self._forward_float(token, pos)
        except (OverflowError, ZeroDivisionError, ValueError) as e:
            # weights far outside what GPT-2 training gives (corrupt data) overflow the
            # 32-bit integer path, or make inf/NaN on the float path: say so plainly
            raise NanoLLMError("%s: the model's numbers overflow on the %s path (%s): corrupt or out-of-range weights"
                               % (self.path, "integer" if self.integer else "float", type(e).__name__))
        self.n_past = pos + 1
        return self.logits

    def _forward_int(self, token, pos):
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
            ln1g, ln1b, wqkv, bqkv, wo, bo, ln2g, ln2b, wup, bup, wdown, bdown = self.layers[li]
            kc = self.kc[li]
            vc = self.vc[li]
            ke = self.ke[li]
            ve = self.ve[li]
            # attention
            K.layernorm_q(x, d, ln1g, ln1b, h, self.eps_q32)
            sh = K.to_x16(h, 0, d, x16)
            wqkv.matvec_int(x16, sh, qkv)
            K.add_q(qkv, bqkv, 3 * d)
            for hh in range(H):
                K.kv_store(qkv, d + hh * hd, hd, kc, pos * d + hh * hd, ke, pos * H + hh)
                K.kv_store(qkv, 2 * d + hh * hd, hd, vc, pos * d + hh * hd, ve, pos * H + hh)
            for hh in range(H):
                K.attend_head(qkv, hh * hd, hd, kc, ke, vc, ve, pos + 1, d, hh * hd, H, hh,
                              self.c_isq, self.scores, self.q16, att)
            sh = K.to_x16(att, 0, d, x16)
            wo.matvec_int(x16, sh, h)
            K.add_q(h, bo, d)
            K.add_q(x, h, d)
            # MLP
            K.layernorm_q(x, d, ln2g, ln2b, h, self.eps_q32)
            sh = K.to_x16(h, 0, d, x16)
            wup.matvec_int(x16, sh, h)
            K.add_q(h, bup, self.n_ff)
            K.gelu_q(h, self.n_ff)
            sh = K.to_x16(h, 0, self.n_ff, x16)
            wdown.matvec_int(x16, sh, h)
            K.add_q(h, bdown, d)
            K.add_q(x, h, d)
        K.layernorm_q(x, d, self.lnf_g, self.lnf_b, h, self.eps_q32)
        sh = K.to_x16(h, 0, d, x16)
        self.head.matvec_int(x16, sh, self.logits)

    def _forward_float(self, token, pos):
        import math
        d, H, hd, ff = self.n_embd, self.n_head, self.head_dim, self.n_ff
        x, h, qkv, att, tmp, rowbuf = self.x, self.h, self.qkv, self.att, self.tmp, self.rowbuf
        self.wte.row_into_float(token, x)
        self.wpe.row_into_float(pos, tmp)
        for i in range(d):
            x[i] += tmp[i]
        scale = 1.0 / math.sqrt(hd)
        scores = self.scores
        for li in range(self.n_layer):
            ln1g, ln1b, wqkv, bqkv, wo, bo, ln2g, ln2b, wup, bup, wdown, bdown = self.layers[li]
            kc, vc = self.kc[li], self.vc[li]
            _layernorm_f(x, d, ln1g, ln1b, h, self.eps)
            wqkv.matvec_float(h, qkv, rowbuf)
            for i in range(3 * d):
                qkv[i] += bqkv[i]
            base = pos * d
            for i in range(d):
                kc[base + i] = qkv[d + i]
                vc[base + i] = qkv[2 * d + i]
            for hh in range(H):
                ho = hh * hd
                m = -1e30
                for t in range(pos + 1):
                    s = 0.0
                    ko = t * d + ho
                    for j in range(hd):
                        s += qkv[ho + j] * kc[ko + j]
                    s *= scale
                    scores[t] = s
                    if s > m:
                        m = s
                tot = 0.0
                for t in range(pos + 1):
                    e = math.exp(scores[t] - m)
                    scores[t] = e
                    tot += e
                for j in range(hd):
                    att[ho + j] = 0.0
                for t in range(pos + 1):
                    w = scores[t] / tot
                    vo = t * d + ho
                    for j in range(hd):
                        att[ho + j] += w * vc[vo + j]
            wo.matvec_float(att, tmp, rowbuf)
            for i in range(d):
                x[i] += tmp[i] + bo[i]
            _layernorm_f(x, d, ln2g, ln2b, h, self.eps)
            wup.matvec_float(h, tmp, rowbuf)
            c = math.sqrt(2.0 / math.pi)
            for i in range(ff):
                v = tmp[i] + bup[i]
                tmp[i] = 0.5 * v * (1.0 + math.tanh(c * (v + 0.044715 * v * v * v)))
            wdown.matvec_float(tmp, h, rowbuf)
            for i in range(d):
                x[i] += h[i] + bdown[i]
        _layernorm_f(x, d, self.lnf_g, self.lnf_b, h, self.eps)
        self.head.matvec_float(h, self.logits, rowbuf)

    # ------------------------------------------------------------ text
    def tokenize(self, text):
        return self.tokenizer.encode(text)

    def detokenize(self, ids):
        return self.tokenizer.decode(ids)

    def generate(self, prompt, max_new_tokens=64, temperature=0.8, top_k=40, top_p=0.95, seed=None,
                 callback=None):
        from .generate import generate
        return generate(self, prompt, max_new_tokens, temperature, top_k, top_p, seed, callback)

    def close(self):
        self.gf.close()

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


def _layernorm_f(x, n, g, b, out, eps):
    import math
    mean = 0.0
    for i in range(n):
        mean += x[i]
    mean /= n
    var = 0.0
    for i in range(n):
        t = x[i] - mean
        var += t * t
    inv = 1.0 / math.sqrt(var / n + eps)
    for i in range(n):
        out[i] = (x[i] - mean) * inv * g[i] + b[i]
