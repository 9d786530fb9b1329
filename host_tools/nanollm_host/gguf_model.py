"""Shared host-side model I/O: Hugging Face GPT-2 folders in, GGUF (llama.cpp gpt2 layout) out,
and any of our GGUF files back in as float32 numpy.

Tensor layout (llama.cpp's gpt2 conventions): every matrix is stored rows = output features,
each row contiguous over the input features, i.e. numpy shape (out, in) and GGUF
ne = [in, out]. HF GPT-2 keeps its projections as Conv1D weights of shape (in, out), so those
are transposed on the way in; the embeddings (n_vocab, n_embd) / (n_ctx, n_embd) are kept.

    token_embd.weight, position_embd.weight
    blk.N.attn_norm.{weight,bias}     blk.N.attn_qkv.{weight,bias}     (3*n_embd, n_embd)
    blk.N.attn_output.{weight,bias}   blk.N.ffn_norm.{weight,bias}
    blk.N.ffn_up.{weight,bias}        (n_ff, n_embd)
    blk.N.ffn_down.{weight,bias}      (n_embd, n_ff)
    output_norm.{weight,bias}
    output.weight                     only when the head is not tied to token_embd

Quantization follows llama.cpp: only 2-D tensors are quantized (the embeddings included);
1-D norms and biases stay f32, and a matrix whose rows are not a multiple of the block size
(32) stays f32 -- such fallbacks are reported by write_gguf.

Every failure a user can cause raises ToolError with a one-line message; tools wrap their
main() in run_tool() so that the message, not a traceback, is what the user sees.
"""
import contextlib
import json
import os
import re
import struct
import sys
import tempfile
from dataclasses import dataclass, field

import numpy as np

from nanollm import gpt2
from nanollm_host import quants

ARCH = "gpt2"
DEFAULT_ALIGNMENT = 32

# outtype name -> ggml file type (general.file_type)
# (q4_K is llama.cpp's MOSTLY_Q4_K_S = 14; 12 there is MOSTLY_Q3_K_M, though q4_K's tensor type is 12)
FILE_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q4_K": 14}
FILE_TYPE_NAMES = {v: k for k, v in FILE_TYPES.items()}
OUTTYPES = ("f32", "f16", "q8_0", "q4_0", "q4_1", "q4_K")
QUANTIZED = ("q8_0", "q4_0", "q4_1", "q4_K")
# what a q4_K matrix whose rows are not whole super-blocks of 256 is stored as by default
DEFAULT_FALLBACK = "q8_0"

# GELU variants that all are the tanh approximation our runtime and reference implement
TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")

TOKEN_NORMAL = 1
TOKEN_CONTROL = 3
TOKEN_USER_DEFINED = 4


class ToolError(Exception):
    """A problem with the user's input or environment; the message is shown as is."""


# --------------------------------------------------------------------------- containers

@dataclass
class HParams:
    n_vocab: int
    n_ctx: int
    n_embd: int
    n_ff: int
    n_layer: int
    n_head: int
    eps: float = 1e-5
    tied: bool = True
    bos_token_id: object = None
    eos_token_id: object = None
    name: str = "gpt2"

    @property
    def head_dim(self):
        return self.n_embd // self.n_head


@dataclass
class Vocab:
    tokens: list           # strings in id order (GPT-2 byte-to-unicode form)
    token_types: list      # 1 normal, 3 control, 4 user defined (padding)
    merges: list           # "a b" strings in rank order

    @property
    def special_ids(self):
        return [i for i, t in enumerate(self.token_types) if t == TOKEN_CONTROL]


@dataclass
class GGUFModel:
    path: str
    hparams: HParams
    tensors: dict          # name -> float32 numpy, (out, in) for matrices
    types: dict            # name -> "f32" | "f16" | "q8_0" | "q4_0" | "q4_1"
    nbytes: dict           # name -> bytes the tensor takes in the file
    vocab: Vocab
    alignment: int = DEFAULT_ALIGNMENT
    file_type: object = None
    metadata: dict = field(default_factory=dict)

    @property
    def is_quantized(self):
        return any(t in QUANTIZED for t in self.types.values())

    @property
    def main_type(self):
        """The outtype name the file was written as (from general.file_type, else guessed)."""
        if self.file_type in FILE_TYPE_NAMES:
            return FILE_TYPE_NAMES[self.file_type]
        mats = [t for n, t in self.types.items() if self.tensors[n].ndim == 2 and t != "f32"]
        return mats[0] if mats else "f32"


def tensor_names(n_layer, tied):
    """The tensors of a GPT-2 GGUF in the order we write them (lib/nanollm/gpt2.py)."""
    return [name for name, _ in gpt2.tensors(n_layer, 1, 1, tied=tied)]


def expected_shapes(hp):
    """name -> numpy shape (out, in) for every tensor of a model with these hparams."""
    return {name: tuple(reversed(dims)) for name, dims in
            gpt2.tensors(hp.n_layer, hp.n_embd, hp.n_ff, hp.n_vocab, hp.n_ctx, tied=hp.tied)}


# --------------------------------------------------------------------------- tool plumbing

def run_tool(main, argv=None, prog=None):
    """Run main(argv); turn ToolError / Ctrl-C into one line on stderr and an exit status."""
    prog = prog or os.path.basename(sys.argv[0])
    try:
        return main(argv)
    except ToolError as e:
        print("%s: error: %s" % (prog, e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("%s: interrupted (no output written)" % prog, file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tool ... | head`: the reader went away
        from nanollm_host.cli import silence_stdout
        silence_stdout()
        return 1


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path in path's folder; it becomes `path` only if the block succeeds."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ToolError("output folder %s does not exist" % os.path.dirname(path))
    if os.path.isdir(path):
        raise ToolError("output %s is a folder, expected a file name" % path)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    except OSError as e:
        raise ToolError("cannot write %s: %s" % (path, e.strerror or e))
    os.close(fd)
    # mkstemp makes the file 0600; give the output the permissions open() would have
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        try:
            yield tmp
            os.replace(tmp, path)
        except OSError as e:  # a full disk, a quota, a read-only folder: one line, not a traceback
            why = e.strerror or str(e)
            if e.errno is None:  # numpy's tofile() says only "N requested and M written"
                with contextlib.suppress(OSError):
                    st = os.statvfs(folder)
                    if st.f_bavail * st.f_frsize < 1 << 20:
                        why = "No space left on device (%s)" % why
            raise ToolError("cannot write %s: %s" % (path, why))
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def parse_outtype(text):
    """'q8_0' / 'Q8_0' / '7' -> 'q8_0'; 'q4_k' / 'Q4_K' / '14' -> 'q4_K'."""
    t = str(text).strip().lower()
    if t.isdigit() and int(t) in FILE_TYPE_NAMES:
        return FILE_TYPE_NAMES[int(t)]
    if t == "12":
        raise ToolError("12 is ggml's tensor type id of q4_K, but as a file type it is llama.cpp's Q3_K_M: "
                        "write q4_K (or its file type 14, Q4_K_S)")
    for name in FILE_TYPES:
        if t == name.lower():
            return name
    raise ToolError("unknown type %r: use one of %s, or the ggml file type numbers %s"
                    % (text, " ".join(OUTTYPES),
                       " ".join("%d=%s" % (v, k) for k, v in sorted(FILE_TYPES.items(), key=lambda kv: kv[1]))))


def format_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


# --------------------------------------------------------------------------- safetensors

_ST_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "BF16": "bf16"}


def read_safetensors(path):
    """name -> float32 numpy array. Parses the file format directly so that truncation,
    bad headers and bf16 data give clear messages."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ToolError("%s is truncated (%d bytes): not a safetensors file" % (path, size))
            (hlen,) = struct.unpack("<Q", head)
            if hlen > size - 8 or hlen > 100 * 1024 * 1024:
                raise ToolError("%s is truncated or not a safetensors file (header of %d bytes in a %d-byte file)"
                                % (path, hlen, size))
            try:
                header = json.loads(f.read(hlen).decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise ToolError("%s: the safetensors header is not valid JSON" % path)
    except OSError as e:
        raise ToolError("cannot read %s: %s" % (path, e.strerror or e))
    if not isinstance(header, dict):
        raise ToolError("%s: the safetensors header is not a JSON object" % path)
    base = 8 + hlen
    out = {}
    raw = np.memmap(path, dtype=np.uint8, mode="r") if size > base else np.zeros(0, np.uint8)
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], [int(s) for s in info["shape"]], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ToolError("%s: bad safetensors entry for %s" % (path, name))
        if dtype not in _ST_DTYPES:
            raise ToolError("%s: tensor %s has dtype %s; only F32, F16, BF16 and F64 are supported"
                            % (path, name, dtype))
        if base + end > size:
            raise ToolError("%s is truncated: tensor %s ends at byte %d of a %d-byte file"
                            % (path, name, base + end, size))
        count = int(np.prod(shape)) if shape else 1
        item = 2 if dtype in ("F16", "BF16") else (8 if dtype == "F64" else 4)
        if end - begin != count * item:
            raise ToolError("%s: tensor %s has %d bytes for shape %s" % (path, name, end - begin, shape))
        buf = raw[base + begin: base + end]
        if dtype == "BF16":
            arr = (buf.view("<u2").astype(np.uint32) << np.uint32(16)).view(np.float32)
        else:
            arr = buf.view(_ST_DTYPES[dtype]).astype(np.float32)
        out[name] = np.array(arr.reshape(shape), dtype=np.float32)
    return out


# --------------------------------------------------------------------------- HF folder

def _load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise ToolError("cannot read %s: %s" % (path, e.strerror or e))
    except ValueError as e:
        raise ToolError("%s is not valid JSON (%s)" % (path, e))


def _hf_hparams(config, folder):
    mt = config.get("model_type")
    if mt != "gpt2":
        raise ToolError("%s: model_type is %r; only GPT-2 checkpoints (model_type 'gpt2') are supported"
                        % (os.path.join(folder, "config.json"), mt))

    def need(key):
        v = config.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ToolError("config.json: %s must be a positive integer, got %r" % (key, v))
        return v

    n_embd, n_head = need("n_embd"), need("n_head")
    if n_embd % n_head:
        raise ToolError("config.json: n_embd %d is not a multiple of n_head %d" % (n_embd, n_head))
    n_inner = config.get("n_inner")
    n_ff = 4 * n_embd if n_inner is None else n_inner
    if not isinstance(n_ff, int) or n_ff <= 0:
        raise ToolError("config.json: n_inner must be null or a positive integer, got %r" % (n_inner,))
    act = config.get("activation_function", "gelu_new")
    if act not in TANH_GELUS:
        raise ToolError("config.json: activation_function %r is not supported (nanollm implements the "
                        "tanh GELU: %s)" % (act, ", ".join(TANH_GELUS)))
    if config.get("scale_attn_by_inverse_layer_idx") or config.get("scale_attn_weights", True) is False:
        raise ToolError("config.json: non-standard attention scaling (scale_attn_by_inverse_layer_idx / "
                        "scale_attn_weights) is not supported")
    if config.get("add_cross_attention"):
        raise ToolError("config.json: cross-attention GPT-2 models are not supported")
    eps = config.get("layer_norm_epsilon", 1e-5)
    name = os.path.basename(os.path.normpath(folder)) or "gpt2"
    return HParams(n_vocab=need("vocab_size"), n_ctx=need("n_positions"), n_embd=n_embd, n_ff=n_ff,
                   n_layer=need("n_layer"), n_head=n_head, eps=float(eps),
                   tied=bool(config.get("tie_word_embeddings", True)),
                   bos_token_id=config.get("bos_token_id"), eos_token_id=config.get("eos_token_id"),
                   name=name)


def _hf_weights(folder):
    single = os.path.join(folder, "model.safetensors")
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(single):
        return read_safetensors(single)
    if os.path.exists(index):
        wmap = _load_json(index).get("weight_map") or {}
        out = {}
        for shard in sorted(set(wmap.values())):
            p = os.path.join(folder, shard)
            if not os.path.exists(p):
                raise ToolError("%s lists %s, which is missing" % (index, shard))
            out.update(read_safetensors(p))
        return out
    if os.path.exists(os.path.join(folder, "pytorch_model.bin")):
        raise ToolError("%s has only pytorch_model.bin; save the model with safe_serialization=True "
                        "(model.safetensors) first" % folder)
    raise ToolError("%s: model.safetensors is missing" % folder)


def _hf_tensors(weights, hp):
    """HF GPT-2 state dict -> our names, (out, in) float32."""
    w = {}
    for k, v in weights.items():
        k2 = k[len("transformer."):] if k.startswith("transformer.") else k
        if re.fullmatch(r"h\.\d+\.attn\.(masked_)?bias", k2):
            continue  # causal-mask buffers in old checkpoints, not weights
        w[k2] = v

    def take(key, shape, transpose=False):
        if key not in w:
            raise ToolError("model.safetensors: tensor %s is missing" % key)
        a = w.pop(key)
        want = tuple(reversed(shape)) if transpose else tuple(shape)
        if a.shape != want:
            raise ToolError("model.safetensors: %s has shape %s, config.json implies %s"
                            % (key, tuple(a.shape), want))
        return np.ascontiguousarray(a.T if transpose else a, dtype=np.float32)

    e, f = hp.n_embd, hp.n_ff
    t = {"token_embd.weight": take("wte.weight", (hp.n_vocab, e)),
         "position_embd.weight": take("wpe.weight", (hp.n_ctx, e))}
    for i in range(hp.n_layer):
        h, b = "h.%d." % i, "blk.%d." % i
        t[b + "attn_norm.weight"] = take(h + "ln_1.weight", (e,))
        t[b + "attn_norm.bias"] = take(h + "ln_1.bias", (e,))
        t[b + "attn_qkv.weight"] = take(h + "attn.c_attn.weight", (3 * e, e), transpose=True)
        t[b + "attn_qkv.bias"] = take(h + "attn.c_attn.bias", (3 * e,))
        t[b + "attn_output.weight"] = take(h + "attn.c_proj.weight", (e, e), transpose=True)
        t[b + "attn_output.bias"] = take(h + "attn.c_proj.bias", (e,))
        t[b + "ffn_norm.weight"] = take(h + "ln_2.weight", (e,))
        t[b + "ffn_norm.bias"] = take(h + "ln_2.bias", (e,))
        t[b + "ffn_up.weight"] = take(h + "mlp.c_fc.weight", (f, e), transpose=True)
        t[b + "ffn_up.bias"] = take(h + "mlp.c_fc.bias", (f,))
        t[b + "ffn_down.weight"] = take(h + "mlp.c_proj.weight", (e, f), transpose=True)
        t[b + "ffn_down.bias"] = take(h + "mlp.c_proj.bias", (e,))
    t["output_norm.weight"] = take("ln_f.weight", (e,))
    t["output_norm.bias"] = take("ln_f.bias", (e,))
    head = w.pop("lm_head.weight", None)
    if not hp.tied:
        if head is None:
            raise ToolError("config.json says tie_word_embeddings false, but model.safetensors has no "
                            "lm_head.weight")
        if head.shape != (hp.n_vocab, e):
            raise ToolError("model.safetensors: lm_head.weight has shape %s, expected %s"
                            % (tuple(head.shape), (hp.n_vocab, e)))
        t["output.weight"] = np.ascontiguousarray(head, dtype=np.float32)
    if w:
        extra = sorted(w)
        raise ToolError("model.safetensors has tensors a GPT-2 LM does not: %s%s"
                        % (", ".join(extra[:4]), " ..." if len(extra) > 4 else ""))
    return t


def _hf_vocab(folder, hp, warnings):
    vpath, mpath = os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt")
    tj = os.path.join(folder, "tokenizer.json")
    if os.path.exists(vpath) and os.path.exists(mpath):
        vocab = _load_json(vpath)
        try:
            with open(mpath, encoding="utf-8") as f:
                lines = f.read().split("\n")
        except (OSError, UnicodeDecodeError) as e:
            raise ToolError("cannot read %s: %s" % (mpath, e))
        merges = [ln.rstrip("\r") for ln in lines if ln.strip() and not ln.startswith("#version")]
    elif os.path.exists(tj):
        model = _load_json(tj).get("model") or {}
        if model.get("type") != "BPE":
            raise ToolError("%s: tokenizer model is %r, expected BPE" % (tj, model.get("type")))
        vocab = model.get("vocab") or {}
        merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    else:
        missing = [os.path.basename(p) for p in (vpath, mpath) if not os.path.exists(p)]
        raise ToolError("%s: %s missing (need vocab.json and merges.txt, or tokenizer.json)"
                        % (folder, " and ".join(missing) + (" is" if len(missing) == 1 else " are")))
    if not isinstance(vocab, dict) or not vocab:
        raise ToolError("vocab.json must be a non-empty JSON object of token -> id")

    specials = set()
    added = os.path.join(folder, "added_tokens.json")
    if os.path.exists(added):
        for tok, i in _load_json(added).items():
            vocab.setdefault(tok, i)
            specials.add(tok)
    tcfg = os.path.join(folder, "tokenizer_config.json")
    if os.path.exists(tcfg):
        for i, info in (_load_json(tcfg).get("added_tokens_decoder") or {}).items():
            if isinstance(info, dict) and info.get("special") and "content" in info:
                vocab.setdefault(info["content"], int(i))
                specials.add(info["content"])
    if os.path.exists(tj):
        for info in _load_json(tj).get("added_tokens") or []:
            if info.get("special"):
                vocab.setdefault(info["content"], info["id"])
                specials.add(info["content"])

    by_id = {}
    for tok, i in vocab.items():
        if not isinstance(i, int) or i < 0:
            raise ToolError("vocab.json: token %r has id %r" % (tok, i))
        if i in by_id:
            raise ToolError("vocab.json: id %d is used by %r and %r" % (i, by_id[i], tok))
        by_id[i] = tok
    n = max(by_id) + 1
    if n > hp.n_vocab:
        raise ToolError("the tokenizer has ids up to %d but config.json vocab_size is %d" % (n - 1, hp.n_vocab))
    tokens, types = [], []
    for i in range(hp.n_vocab):
        tok = by_id.get(i)
        if tok is None:
            tokens.append("[PAD%d]" % i)
            types.append(TOKEN_USER_DEFINED)
            continue
        tokens.append(tok)
        special = tok in specials or re.fullmatch(r"<\|[^|]*\|>", tok) is not None
        special = special or i in (hp.bos_token_id, hp.eos_token_id)
        types.append(TOKEN_CONTROL if special else TOKEN_NORMAL)
    pads = types.count(TOKEN_USER_DEFINED)
    if pads:
        warnings.append("tokenizer has %d tokens for vocab_size %d: padded with [PADn] tokens"
                        % (len(by_id), hp.n_vocab))
    for key in ("bos_token_id", "eos_token_id"):
        v = getattr(hp, key)
        if v is not None and not (isinstance(v, int) and 0 <= v < hp.n_vocab):
            warnings.append("config.json %s %r is outside the vocabulary: left out" % (key, v))
            setattr(hp, key, None)
        if getattr(hp, key) is None and "<|endoftext|>" in vocab:
            setattr(hp, key, vocab["<|endoftext|>"])
    return Vocab(tokens=tokens, token_types=types, merges=merges)


def read_hf_dir(folder):
    """Read a Hugging Face GPT-2 folder. Returns (HParams, tensors, Vocab, warnings)."""
    if not os.path.isdir(folder):
        raise ToolError("%s is not a folder (expected a Hugging Face GPT-2 checkpoint folder)" % folder)
    cfg_path = os.path.join(folder, "config.json")
    if not os.path.exists(cfg_path):
        raise ToolError("%s: config.json is missing" % folder)
    config = _load_json(cfg_path)
    if not isinstance(config, dict):
        raise ToolError("%s is not a JSON object" % cfg_path)
    hp = _hf_hparams(config, folder)
    warnings = []
    vocab = _hf_vocab(folder, hp, warnings)
    tensors = _hf_tensors(_hf_weights(folder), hp)
    return hp, tensors, vocab, warnings


# --------------------------------------------------------------------------- GGUF writing

def choose_type(name, arr, outtype, fallback=DEFAULT_FALLBACK):
    """Storage type for one tensor under `outtype`, and a reason when it falls back:
    q4_K rows that are not whole super-blocks go to `fallback` (as llama.cpp does, to
    a type of its own choosing), rows that are not whole blocks of 32 stay f32."""
    if outtype == "f32" or arr.ndim != 2:
        return "f32", None
    if outtype == "q4_K" and not quants.can_quantize(arr.shape[1], outtype):
        why = "row length %d is not a multiple of %d" % (arr.shape[1], quants.block_size(outtype))
        qtype, note = choose_type(name, arr, fallback)
        return qtype, why + ("; " + note if note else "")
    if outtype in QUANTIZED and not quants.can_quantize(arr.shape[1], outtype):
        return "f32", "row length %d is not a multiple of %d" % (arr.shape[1], quants.QK)
    return outtype, None


def encode_tensor(arr, qtype):
    """float32 (out, in) -> (data for GGUFWriter.add_tensor, raw_dtype or None)."""
    from gguf import GGMLQuantizationType

    if qtype == "f32":
        return np.ascontiguousarray(arr, dtype=np.float32), None
    if qtype == "f16":
        return quants.quantize(arr, "f16"), None
    raw = quants.quantize(arr, qtype)
    return raw, GGMLQuantizationType[qtype.upper()]


def write_gguf(path, hp, tensors, vocab, outtype="f32", alignment=DEFAULT_ALIGNMENT, source_types=None,
               fallback=DEFAULT_FALLBACK, stored=None):
    """Write a GGUF v3 file atomically. Returns a list of rows
    {name, shape, type_in, type, nbytes, nbytes_in, note} describing every tensor."""
    import gguf

    outtype = parse_outtype(outtype)
    shapes = expected_shapes(hp)
    names = tensor_names(hp.n_layer, hp.tied)
    missing = [n for n in names if n not in tensors]
    if missing:
        raise ToolError("cannot write %s: tensor %s is missing" % (path, missing[0]))
    for n in names:
        if tuple(tensors[n].shape) != shapes[n]:
            raise ToolError("cannot write %s: %s has shape %s, expected %s"
                            % (path, n, tuple(tensors[n].shape), shapes[n]))
    if len(vocab.tokens) != hp.n_vocab:
        raise ToolError("cannot write %s: %d tokens for n_vocab %d" % (path, len(vocab.tokens), hp.n_vocab))
    if alignment <= 0 or alignment & (alignment - 1):
        raise ToolError("alignment %d is not a power of two" % alignment)

    w = gguf.GGUFWriter(None, ARCH)
    w.add_name(hp.name or "gpt2")
    w.add_file_type(FILE_TYPES[outtype])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_custom_alignment(alignment)
    w.add_context_length(hp.n_ctx)
    w.add_embedding_length(hp.n_embd)
    w.add_feed_forward_length(hp.n_ff)
    w.add_block_count(hp.n_layer)
    w.add_head_count(hp.n_head)
    w.add_layer_norm_eps(float(hp.eps))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(list(vocab.tokens))
    w.add_token_types([int(t) for t in vocab.token_types])
    if vocab.merges:
        w.add_token_merges(list(vocab.merges))
    if hp.bos_token_id is not None:
        w.add_bos_token_id(int(hp.bos_token_id))
    if hp.eos_token_id is not None:
        w.add_eos_token_id(int(hp.eos_token_id))

    rows = []
    for n in names:
        arr = tensors[n]
        qtype, note = choose_type(n, arr, outtype, fallback)
        kept = stored is not None and n in stored and stored[n][0] == qtype and qtype in QUANTIZED
        if kept:  # already stored as qtype: its blocks are copied, not rounded a second time
            from gguf import GGMLQuantizationType
            data = np.ascontiguousarray(stored[n][1], dtype=np.uint8).reshape(arr.shape[0], -1)
            raw_dtype = GGMLQuantizationType[qtype.upper()]
        else:
            data, raw_dtype = encode_tensor(arr, qtype)
        w.add_tensor(n, data, raw_dtype=raw_dtype)
        rows.append({"name": n, "shape": tuple(arr.shape), "type": qtype, "nbytes": int(data.nbytes),
                     "type_in": (source_types or {}).get(n, "f32"), "kept": kept,
                     "nbytes_in": int(arr.size * 4), "note": note})

    with atomic_output(path) as tmp:
        try:
            w.write_header_to_file(path=tmp)
            w.write_kv_data_to_file()
            w.write_tensors_to_file()
        finally:
            w.close()
    return rows


# --------------------------------------------------------------------------- GGUF reading

_GGML_NAMES = {0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 8: "q8_0", 12: "q4_K"}
_GGML_NAMES.update({v: k for k, v in quants.READ_ONLY.items()})  # read by dequantizing


def _field(reader, key, required=True):
    f = reader.fields.get(key)
    if f is None:
        if required:
            raise ToolError("%s is missing" % key)
        return None
    return f.contents()


def load_gguf(path, dequantize=True):
    """Load one of our GPT-2 GGUF files: hparams, tokenizer and float32 (out, in) tensors."""
    from gguf import GGUFReader

    if not os.path.exists(path):
        raise ToolError("%s: no such file" % path)
    if os.path.isdir(path):
        raise ToolError("%s is a folder, expected a .gguf file" % path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise ToolError("%s is not a GGUF file (it starts with %r, not b'GGUF')" % (path, magic))
    try:
        reader = GGUFReader(path)
    except (ValueError, IndexError, KeyError, OverflowError, TypeError, MemoryError, struct.error) as e:
        why = str(e).splitlines()[0] if str(e) else ""
        # keep the reader's own words when they say something (version, alignment, duplicates);
        # numpy's complaints about short buffers just mean the file ends too early
        known = why.startswith(("Sorry", "Invalid alignment", "Bad type", "Duplicate", "Found duplicated",
                                "Unknown/unhandled"))
        raise ToolError("%s is truncated or corrupt: not a complete GGUF file (%d bytes)%s"
                        % (path, size, ("; " + why) if known else ""))
    if reader.byte_order != "I":
        raise ToolError("%s: byte-swapped (big-endian) GGUF files are not supported" % path)

    def meta(key, required=True):
        try:
            return _field(reader, key, required)
        except ToolError as e:
            raise ToolError("%s: metadata %s" % (path, e))
        except (ValueError, IndexError, UnicodeDecodeError) as e:
            raise ToolError("%s: metadata %s is unreadable (%s)" % (path, key, e))

    arch = meta("general.architecture")
    if arch != ARCH:
        raise ToolError("%s: architecture is %r; only 'gpt2' models are supported" % (path, arch))
    tokens = meta("tokenizer.ggml.tokens")
    types_ = meta("tokenizer.ggml.token_type", False) or [TOKEN_NORMAL] * len(tokens)
    merges = meta("tokenizer.ggml.merges", False) or []
    n_vocab = None
    for t in reader.tensors:
        if t.name == "token_embd.weight" and len(t.shape) == 2:
            n_vocab = int(t.shape[1])
    if n_vocab is None:
        raise ToolError("%s: token_embd.weight is missing or not 2-D" % path)
    names = {t.name for t in reader.tensors}
    hp = HParams(n_vocab=n_vocab, n_ctx=int(meta("gpt2.context_length")), n_embd=int(meta("gpt2.embedding_length")),
                 n_ff=int(meta("gpt2.feed_forward_length")), n_layer=int(meta("gpt2.block_count")),
                 n_head=int(meta("gpt2.attention.head_count")),
                 eps=float(meta("gpt2.attention.layer_norm_epsilon")), tied="output.weight" not in names,
                 bos_token_id=meta("tokenizer.ggml.bos_token_id", False),
                 eos_token_id=meta("tokenizer.ggml.eos_token_id", False),
                 name=meta("general.name", False) or "gpt2")
    if hp.n_head <= 0 or hp.n_embd % hp.n_head:
        raise ToolError("%s: embedding_length %d is not a multiple of head_count %d" % (path, hp.n_embd, hp.n_head))
    if len(tokens) != n_vocab:
        raise ToolError("%s: %d tokens in tokenizer.ggml.tokens but token_embd has %d rows"
                        % (path, len(tokens), n_vocab))

    shapes = expected_shapes(hp)
    tensors, types, nbytes = {}, {}, {}
    for t in reader.tensors:
        if t.name not in shapes:
            raise ToolError("%s: unexpected tensor %s" % (path, t.name))
        qtype = _GGML_NAMES.get(int(t.tensor_type))
        if qtype is None:
            raise ToolError("%s: tensor %s has type %s; readable types are %s"
                            % (path, t.name, t.tensor_type.name, ", ".join(OUTTYPES + tuple(quants.READ_ONLY))))
        shape = tuple(int(s) for s in reversed(t.shape.tolist()))
        if shape != shapes[t.name]:
            raise ToolError("%s: tensor %s has shape %s, the metadata implies %s"
                            % (path, t.name, shape, shapes[t.name]))
        if t.data_offset + t.n_bytes > size or t.data.nbytes != t.n_bytes:
            raise ToolError("%s is truncated: tensor %s needs bytes up to %d, the file has %d"
                            % (path, t.name, t.data_offset + t.n_bytes, size))
        types[t.name] = qtype
        nbytes[t.name] = int(t.n_bytes)
        tensors[t.name] = quants.dequantize(np.asarray(t.data), qtype, shape) if dequantize else t.data
    missing = [n for n in shapes if n not in tensors]
    if missing:
        raise ToolError("%s: tensor %s is missing" % (path, missing[0]))
    metadata = {}
    for key in reader.fields:
        if key.startswith("GGUF.") or key in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                                              "tokenizer.ggml.merges"):
            continue
        with contextlib.suppress(Exception):
            metadata[key] = reader.fields[key].contents()
    return GGUFModel(path=path, hparams=hp, tensors=tensors, types=types, nbytes=nbytes,
                     vocab=Vocab(tokens=list(tokens), token_types=list(types_), merges=list(merges)),
                     alignment=int(reader.alignment), file_type=metadata.get("general.file_type"),
                     metadata=metadata)


# --------------------------------------------------------------------------- the two conversions

def convert_checkpoint(hf_dir, out_path, outtype="f32", name=None, alignment=DEFAULT_ALIGNMENT, log=None):
    """Convert hf_dir to out_path (written atomically). Returns the list of tensor rows
    ({name, shape, type, nbytes, note}); log(str) receives warnings and fallbacks."""
    outtype = parse_outtype(outtype)
    hp, tensors, vocab, warnings = read_hf_dir(hf_dir)
    if name:
        hp.name = name
    rows = write_gguf(out_path, hp, tensors, vocab, outtype, alignment=alignment)
    if log:
        for w in warnings:
            log("warning: " + w)
        for r in rows:
            if r["note"]:
                log("kept %s as f32: %s" % (r["name"], r["note"]))
    return rows


def quantize_file(inp, out, qtype, log=print, fallback=DEFAULT_FALLBACK):
    """Quantize GGUF `inp` into `out` (atomically). Returns the tensor rows."""
    qtype = parse_outtype(qtype)
    fallback = parse_outtype(fallback)
    model = load_gguf(inp)
    raw = load_gguf(inp, dequantize=False)
    stored = {n: (t, raw.tensors[n]) for n, t in model.types.items() if t in QUANTIZED}
    lossy = sorted({t for t in model.types.values() if t not in ("f32", qtype)})
    if lossy:
        log("note: %s holds %s tensors; they are dequantized to f32 before re-storing as %s"
            % (inp, "/".join(lossy), qtype))
    if qtype in QUANTIZED and qtype in model.types.values():
        log("note: %s tensors of %s are copied as they are" % (qtype, inp))
    rows = write_gguf(out, model.hparams, model.tensors, model.vocab, qtype,
                      alignment=model.alignment, source_types=model.types, fallback=fallback, stored=stored)
    for r in rows:
        r["nbytes_in"] = model.nbytes[r["name"]]
    return rows
