"""nanollm: GPT-2 language models on microcontrollers, from GGUF files.

    import nanollm
    nanollm.generate("Once upon a time")          # the default model beside the package
    m = nanollm.load("other.gguf")                # or any GPT-2 GGUF (f32, f16, q8_0, q4_0, q4_1)
    m.generate("Hello", max_new_tokens=32, temperature=0, callback=lambda s: print(s, end=""))
    m.stop_reason                                 # "eos", "max_new_tokens", "context_full", "interrupted"
"""

import gc

from .errors import NanoLLMError  # noqa: F401  (nanollm.NanoLLMError)


# The runtime's code, imported now: it lands at the bottom of the heap, with the holes its
# import leaves, which a load fills with the file's index and the tokenizer's tables (see
# model.py's _open_and_load); the run state takes the free heap above them.
#
# One module at a time, the ones the others import first, with a collection after each
# (MicroPython only): an import opens the module's file, and LittleFS gives an open file a
# cache (1 KB on a stock RP2040, whose boot script mounts with progsize=256) that is garbage
# once the import ends. Collected before the next import, the next file's cache takes its
# place; left to the end, every module's code would sit above a hole of its own (measured
# on the rp2040 stand-in: 16 KB less in the largest free piece after `import nanollm`).
def _import_code():
    global backend_name, Model
    from . import errors, unicode_ranges, modelfile  # noqa: F401
    _tidy()
    from . import kernels  # noqa: F401  (and the native module or the viper kernels it picks)
    _tidy()
    from . import tokenizer  # noqa: F401  (the class a loaded model's tokenizer is: kept)
    _tidy()
    from . import sampling  # noqa: F401
    _tidy()
    from . import generation  # noqa: F401  (used by every generate(): its code is counted now, before a load)
    _tidy()
    from . import arena, gpt2  # noqa: F401
    _tidy()
    from . import plan  # noqa: F401
    _tidy()
    from .kernels import backend_name
    from .model import Model, _drop_modules
    _tidy()
    # The load-time code (model.py's _LOAD_MODULES) is imported once now and dropped: the
    # names it brings are interned for good, and they then sit among the runtime's code
    # rather than in the middle of the heap, where a load imports that code again.
    try:
        from . import loader  # noqa: F401
        from . import tokenizer_tables  # noqa: F401
    except MemoryError:  # a heap too small for both: the load imports them when it runs
        pass
    _drop_modules(())


def _tidy():
    if _ON_MICROPYTHON:
        gc.collect()


_ON_MICROPYTHON = __import__("sys").implementation.name == "micropython"
_import_code()
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
