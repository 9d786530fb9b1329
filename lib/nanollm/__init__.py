"""nanollm: GPT-2 language models on microcontrollers, from GGUF files.

    import nanollm
    nanollm.generate("Once upon a time")          # the default model beside the package
    m = nanollm.load("other.gguf")                # or any GPT-2 GGUF (f32, f16, q8_0, q4_0, q4_1)
    m.generate("Hello", max_new_tokens=32, temperature=0, callback=lambda s: print(s, end=""))
    m.stop_reason                                 # "eos", "max_new_tokens", "context_full", "interrupted"
"""

from .errors import NanoLLMError  # noqa: F401  (nanollm.NanoLLMError)
from .kernels import backend_name
from .model import Model

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
    ctx: context length to allocate the KV cache for (default: the model's).
    stream: None (weights in RAM while they fit), True (stream from the file), False.
    """
    global _default
    if _default is not None:  # free the previous model's buffers first
        _default.close()
        _default = None
    import gc
    gc.collect()
    _default = Model(default_model_path() if path is None else path, mode=mode, ctx=ctx, stream=stream)
    return _default


def generate(prompt, **kw):
    """Generate text with the default model (loading model.gguf beside the package if needed)."""
    if _default is None:
        load()
    return _default.generate(prompt, **kw)
