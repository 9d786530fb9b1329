"""nanollm: GPT-2 language models on microcontrollers, from GGUF files.

    import nanollm
    nanollm.generate("Once upon a time")          # the default model beside the package
    m = nanollm.load("other.gguf")                # or any GPT-2 GGUF (f32, f16, q8_0, q4_0, q4_1)
    m.generate("Hello", max_new_tokens=32, temperature=0, callback=lambda s: print(s, end=""))
    m.stop_reason                                 # "eos", "max_new_tokens", "context_full", "interrupted"
"""

import gc

from .errors import NanoLLMError  # noqa: F401  (nanollm.NanoLLMError)

# Loading the runtime's code leaves the free heap in pieces: the code objects land between
# the loader's (and, for .py files, the compiler's) temporaries. Measured on the emulated
# Cortex-M0 with .mpy files: 103 KB free after the import, none of it in a piece over
# 74 KB; on the unix port with .py files 182 KB free in pieces of 28 KB at most. A model's
# run state is one block (arena.py), so the room for it is held at the bottom of the heap
# while the code loads, and given back after. If the code does not fit beside the room,
# it loads again without it.
_IMPORT_ROOM = 24576  # bytes per byte of word: what the imports need beside the room


def _import_code():
    global backend_name, Model
    from .kernels import backend_name
    from .model import Model
    from . import generation  # noqa: F401  (used by every generate(): its code is counted now, before a load)


_room = None
if hasattr(gc, "mem_free"):
    import sys
    gc.collect()
    try:
        _room = bytearray(gc.mem_free() - _IMPORT_ROOM * (4 if sys.maxsize < 1 << 32 else 8))
    except (MemoryError, ValueError):
        _room = None
try:
    _import_code()
except MemoryError:
    _room = None
    gc.collect()
    _import_code()
_room = None
gc.collect()

__version__ = "0.1.0"

_default = None


def backend():
    """Which kernels run: 'native', 'viper' or 'python'."""
    return backend_name()


def default_model_path():
    # model.gguf beside this package (lib/nanollm/model.gguf, or :lib/nanollm/ on a board)
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    return here + "/model.gguf"


def load(path=None, mode=None, ctx=None, stream=None):
    """Open a GGUF model; it becomes the default for nanollm.generate().

    mode: None (integer path for quantized files, float path for f32/f16), "int" or "float".
    ctx: context length to allocate the KV cache for; None: the model's when it fits the
    free heap, else the largest that does (said in one line; Model.ctx says which).
    stream: None (weights in RAM while they fit), True (stream from the file), False.
    A model loaded before stays usable while you hold it (each Model owns its file); the
    default's reference is dropped first, so its memory is free for this one if you don't.
    """
    global _default
    _default = None
    gc.collect()
    _default = Model(default_model_path() if path is None else path, mode=mode, ctx=ctx, stream=stream)
    return _default


def generate(prompt, ctx=None, stream=None, **kw):
    """Generate text with the default model (loading model.gguf beside the package if needed).

    ctx= and stream= are load settings: given, and unlike the default model's, the default
    model is loaded again with them."""
    m = _default
    if m is None or m.arena is None or (ctx is not None and ctx != m.ctx) or \
            (stream is not None and stream != m.stream):
        m = load(m.path if m is not None else None, m.mode if m is not None else None, ctx, stream)
    return m.generate(prompt, **kw)
