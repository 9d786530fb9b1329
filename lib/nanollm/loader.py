# Reading a model file's index at load: checking it is a complete GPT-2 GGUF file, taking the
# model's sizes from it and building the tokenizer. Load-time code only: model.py drops this
# module (with gguf.py and tokenizer_tables.py) once the index is read, before the run state
# is made, so on a small board the room their code took goes to the run state.

import gc

from . import gpt2
from .errors import NanoLLMError
from .gguf import GGUFFile, StringArray
from .modelfile import GGML_F16, GGML_F32, GGML_Q4_0, GGML_Q4_1, GGML_Q4_K, GGML_Q8_0, TYPE_NAME, ModelFile
from .tokenizer import Tokenizer

try:
    from array import array
except ImportError:  # pragma: no cover
    from uarray import array

QUANTIZED = (GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q4_K)


def _meta(gf, key, kind=int):
    try:
        v = gf.kv[key]
    except KeyError:
        raise NanoLLMError("%s: metadata %s is missing: not a complete GPT-2 GGUF file" % (gf.path, key))
    if kind is int and not isinstance(v, int) or kind is float and not isinstance(v, (int, float)):
        raise NanoLLMError("%s: metadata %s has the wrong type (%r)" % (gf.path, key, v))
    return v


def _tensor(gf, name, shape):
    t = gf.tensors.get(name)
    if t is None:
        raise NanoLLMError("%s: tensor %s is missing: not a complete GPT-2 GGUF file" % (gf.path, name))
    if len(t.shape) != len(shape) or any(w is not None and w != s for s, w in zip(t.shape, shape)):
        raise NanoLLMError("%s: tensor %s has shape %s; the metadata implies %s"
                           % (gf.path, name, list(t.shape), [s if s is not None else "n_vocab" for s in shape]))
    return t


def open_index(path, retry):
    """The file's index (a GGUFFile). With `retry` (a try with more room remains: model.py),
    running out of memory is a MemoryError, so that the load tries again."""
    try:
        return GGUFFile(path)
    except NanoLLMError as e:
        if retry and "out of memory" in str(e):
            raise MemoryError
        raise


def read(m, gf, mode, ctx, stream):
    """Check the file's index, set model m's sizes from it and build its tokenizer; then m
    keeps the open file (m.gf, a ModelFile) without the index. Returns the weight matrices'
    TensorInfo (what the plan needs of them) and {name: TensorInfo} of every tensor the model
    reads."""
    arch = gf.kv.get("general.architecture")
    if arch != "gpt2":
        raise NanoLLMError("%s: architecture is %r; nanollm runs GPT-2 models ('gpt2')" % (gf.path, arch))
    m.n_ctx_train = _meta(gf, "gpt2.context_length")
    m.n_embd = d = _meta(gf, "gpt2.embedding_length")
    m.n_ff = _meta(gf, "gpt2.feed_forward_length")
    m.n_layer = _meta(gf, "gpt2.block_count")
    m.n_head = _meta(gf, "gpt2.attention.head_count")
    m.eps = _meta(gf, "gpt2.attention.layer_norm_epsilon", float)
    if not 0 < m.eps < 1:  # also false for NaN
        raise NanoLLMError("%s: layer_norm_epsilon %r is not between 0 and 1" % (gf.path, m.eps))
    if m.n_head < 1 or d % m.n_head:
        raise NanoLLMError("%s: embedding length %d is not divisible by %d heads" % (gf.path, d, m.n_head))
    if not (0 < m.n_layer <= 256 and 0 < d <= 16384 and 0 < m.n_ff <= 65536 and 0 < m.n_ctx_train <= 1 << 20):
        raise NanoLLMError("%s: implausible model sizes (layers %d, width %d, ffn %d, context %d)"
                           % (gf.path, m.n_layer, d, m.n_ff, m.n_ctx_train))
    m.head_dim = d // m.n_head
    m.n_ctx = m.n_ctx_train if ctx is None else ctx
    if not isinstance(m.n_ctx, int) or isinstance(m.n_ctx, bool) or not 1 <= m.n_ctx <= m.n_ctx_train:
        raise NanoLLMError("ctx=%r: must be between 1 and the model's context length %d" % (ctx, m.n_ctx_train))

    tensors = gf.tensors
    m.n_vocab = _tensor(gf, "token_embd.weight", (d, None)).shape[1]
    m.tied = "output.weight" not in tensors
    used = {}
    for name, dims in gpt2.tensors(m.n_layer, d, m.n_ff, m.n_vocab, m.n_ctx_train, m.tied):
        used[name] = _tensor(gf, name, dims)
    matrix_names = gpt2.matrix_names(m.n_layer, m.tied)
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
    m.mode = mode
    m.stream = stream
    m.integer = mode == "int"
    m.file_type = gf.kv.get("general.file_type")

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
    if len(toks) != m.n_vocab:
        raise NanoLLMError("%s: the vocabulary has %d tokens but token_embd has %d rows"
                           % (gf.path, len(toks), m.n_vocab))
    m.eos_id = gf.kv.get("tokenizer.ggml.eos_token_id")
    if m.eos_id is not None and not (isinstance(m.eos_id, int) and 0 <= m.eos_id < m.n_vocab):
        raise NanoLLMError("%s: tokenizer.ggml.eos_token_id %r is not a token id (vocabulary of %d)"
                           % (gf.path, m.eos_id, m.n_vocab))
    m._n_merges = len(merges)
    m._n_tensors = len(tensors)
    m._in_place = gf.mem is not None
    gc.collect()
    m.tokenizer = Tokenizer(toks, merges, tt)
    gc.collect()  # what stays from here lands below the tokenizer's garbage, not above it
    # the model keeps the open file, not the index (its objects and gguf.py's code go)
    m.gf = ModelFile(None, gf)
    gf.kv = gf.tensors = gf._reader = None
    return [used[n] for n in matrix_names], used

