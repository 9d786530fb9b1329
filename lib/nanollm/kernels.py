# Picks the fastest kernel set that works here: the native C module when it imports
# (built into the firmware or a .mpy beside the package), viper on MicroPython, plain
# Python elsewhere. All three compute the same numbers (see kernels_py.py).

from . import kernels_py


class _Kernels:
    pass


K = _Kernels()
_backend = "python"
_why = ""


def _install(mod, names):
    for n in names:
        setattr(K, n, getattr(mod, n))


_NAMES = ("to_x16", "matvec_q8_0", "matvec_q4_0", "matvec_q4_1", "dequant_row_q", "dequant_row_f",
          "add_q", "isqrt", "layernorm_q", "gelu_q", "kv_store", "attend_head", "matvec_f32")

_install(kernels_py, _NAMES)

try:
    from . import kernels_viper
    _install(kernels_viper, kernels_viper.PROVIDES)
    _backend = "viper"
except ImportError as e:  # CPython, or a MicroPython port without the native emitter
    _why = str(e)
except Exception as e:  # e.g. viper present but this port cannot compile a kernel
    _why = "viper kernels unavailable: %s" % e

_have_viper = _backend == "viper"

# The native module: built into the firmware, or a nanollm_native.mpy on sys.path or
# beside this package. A .mpy for another architecture or MicroPython version fails to
# import (ValueError / ImportError); we keep viper and remember why.
_native = None
try:
    try:
        import nanollm_native as _native
    except ImportError:
        from . import nanollm_native as _native
    _install(_native, _native.PROVIDES)
    _backend = "native"
except ImportError as e:
    if "nanollm_native" not in str(e):  # present but refused by the loader
        _why = "native module not loaded (%s); using %s" % (e, _backend)
    _native = None
except Exception as e:
    _why = "native module not loaded (%s); using %s" % (e, _backend)
    _native = None

K.matvec_q = {8: K.matvec_q8_0, 2: K.matvec_q4_0, 3: K.matvec_q4_1}
_available = ([_backend] if _backend == "native" else []) + (["viper"] if _have_viper else []) + ["python"]


def backend_name():
    return _backend


def backend_note():
    """Why a faster backend is not in use ('' when nothing was refused)."""
    return _why


def available():
    """Backends that work here, fastest first."""
    return list(_available)


def use(name):
    """Switch kernels ('viper', 'python', ...) for tests and benchmarks; returns the old name."""
    global _backend
    if name not in _available:
        raise ValueError("backend %r is not available here (%s)" % (name, ", ".join(_available)))
    old = _backend
    _install(kernels_py, _NAMES)
    if name in ("viper", "native") and _have_viper:
        from . import kernels_viper
        _install(kernels_viper, kernels_viper.PROVIDES)
    if name == "native":
        _install(_native, _native.PROVIDES)
    K.matvec_q = {8: K.matvec_q8_0, 2: K.matvec_q4_0, 3: K.matvec_q4_1}
    _backend = name
    return old
