# Picks the fastest kernel set that works here: the native C module when it imports
# (built into the firmware or a .mpy beside the package), viper on MicroPython, plain
# Python elsewhere. All three compute the same numbers (see kernels_py.py). These are the
# integer path's kernels; the float path's are plain Python only (kernels_float.py).

class _Kernels:
    pass


K = _Kernels()
_backend = "python"
_why = ""
_kernels_py = None


def _plain():
    # the plain Python kernels, imported only when a kernel has no faster form here: with the
    # native module or viper providing every kernel, their ~12 KB of code stay out of RAM
    global _kernels_py
    if _kernels_py is None:
        from . import kernels_py
        _kernels_py = kernels_py
    return _kernels_py


# The integer kernels, by name: every backend provides these (viper and native say which
# of them in their PROVIDES; the rest come from kernels_py).
KERNEL_NAMES = ("to_x16", "matvec_q8_0", "matvec_q4_0", "matvec_q4_1", "matvec_q4_K", "dequant_row_q", "add_q", "isqrt",
                "layernorm_q", "gelu_q", "kv_store", "attend_head",
                # the sampler's scans over the vocabulary (sampling.py)
                "argmax_q", "top_k_q", "weights_q", "top_p_q", "draw_q")

# The native module: built into the firmware, or a nanollm_native.mpy on sys.path or
# beside this package. A .mpy for another architecture or MicroPython version fails to
# import (ValueError / ImportError); we fall back to viper and remember why, in words
# kernels_why.py finds (imported only then: its code stays out of RAM when all is well).
_native = None

try:
    try:
        import nanollm_native as _native
    except ImportError:
        from . import nanollm_native as _native
except ImportError as e:
    if "nanollm_native" not in str(e):  # present but refused by the loader
        from .kernels_why import refusal
        _why = "native module not loaded (%s)" % refusal(e)
    _native = None
except Exception as e:
    from .kernels_why import refusal
    _why = "native module not loaded (%s)" % refusal(e)
    _native = None

# viper's machine code lives in RAM, so it is compiled only for what native does not cover
_viper = None
_viper_tried = False


# Set when the package lacks usable viper kernels that this MicroPython could run: said
# in one printed line at import, as the plain kernels are 40-135x slower.
_miscompiled = False


def _load_viper():
    global _viper, _viper_tried, _why, _miscompiled
    if not _viper_tried:
        _viper_tried = True
        try:
            from . import kernels_viper
            _viper = kernels_viper
        except Exception as e:  # CPython, the module missing or refused, or no viper here
            from .kernels_why import viper_refusal
            _why, _miscompiled = viper_refusal(e, _why)
    return _viper


def _select(name):
    # each kernel from the fastest backend up to `name` that has it: native, viper, plain
    have = {}
    if name == "native":
        for n in _native.PROVIDES:
            have[n] = _native
    if name in ("viper", "native") and _viper is not None:
        for n in _viper.PROVIDES:
            if n not in have:
                have[n] = _viper
    for n in KERNEL_NAMES:
        setattr(K, n, getattr(have[n] if n in have else _plain(), n))
    K.matvec_q = {8: K.matvec_q8_0, 2: K.matvec_q4_0, 3: K.matvec_q4_1, 12: K.matvec_q4_K}


if _native is not None:
    if any(n not in _native.PROVIDES for n in KERNEL_NAMES):
        _load_viper()
    _backend = "native"
elif _load_viper() is not None:
    _backend = "viper"
if _why and _backend != "python":
    _why += "; using " + _backend
elif _backend == "python" and _native is None and not _why.startswith("native"):
    # say both reasons: the C kernels are absent as well as viper
    _why = "no nanollm_native module" + ("; " + _why if _why else "")
_select(_backend)
if _miscompiled and _backend == "python":
    print("nanollm: plain Python kernels (40-135x slower than viper): " + _why)


def backend_name():
    return _backend


def backend_note():
    """Why a faster backend is not in use ('' when nothing was refused)."""
    return _why


def available():
    """Backends that work here, fastest first (compiles the viper kernels to find out)."""
    out = ["native"] if _native is not None else []
    if _load_viper() is not None:
        out.append("viper")
    return out + ["python"]


def use(name):
    """Switch kernels ('native', 'viper', 'python') for tests and benchmarks; returns the old name."""
    global _backend
    if name not in available():
        raise ValueError("backend %r is not available here (%s)" % (name, ", ".join(available())))
    old = _backend
    _select(name)
    _backend = name
    return old
