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
# import (ValueError / ImportError); we fall back to viper and remember why.
_native = None

# native architectures by number (sys.implementation._mpy >> 10, py/persistentcode.h)
_ARCHS = ("no native code", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
          "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")


def _mpy_kind(version, feature, loader=False):
    a = (feature >> 2) & 15
    name = _ARCHS[a] if a < len(_ARCHS) else "arch %d" % a
    if loader and 4 <= a <= 8:  # a Thumb firmware also takes the older Arm architectures
        name = "armv6m.." + name
    return "%s, .mpy %d.%d" % (name, version, feature & 3)


def _refusal(e):
    """The loader's reason, plus what the file is for and what this MicroPython takes
    (the loader's own message names neither)."""
    import sys
    try:
        here = sys.implementation._mpy
        ver = ".".join(str(v) for v in sys.implementation.version[:3])
    except AttributeError:
        return str(e)
    pkg = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    for d in [p for p in sys.path if p] + [pkg]:
        path = d.rstrip("/") + "/nanollm_native.mpy"
        try:
            with open(path, "rb") as f:
                h = f.read(4)
        except OSError:
            continue
        if len(h) < 4 or h[0] != 77:  # 'M'
            return "%s is not a .mpy file (%s)" % (path, e)
        return "%s is for %s; this MicroPython %s takes %s (%s)" % (
            path, _mpy_kind(h[1], h[2]), ver, _mpy_kind(here & 255, (here >> 8) & 255, True), e)
    return str(e)


try:
    try:
        import nanollm_native as _native
    except ImportError:
        from . import nanollm_native as _native
except ImportError as e:
    if "nanollm_native" not in str(e):  # present but refused by the loader
        _why = "native module not loaded (%s)" % _refusal(e)
    _native = None
except Exception as e:
    _why = "native module not loaded (%s)" % _refusal(e)
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
        import sys
        micro = sys.implementation.name == "micropython"
        try:
            from . import kernels_viper
            _viper = kernels_viper
        except ImportError as e:  # CPython, or the module is not there
            if not _why:
                _why = str(e)
            if micro and "kernels_viper" in str(e):
                # a package compiled to .mpy without it (mpy-cross refuses viper without -march)
                _why = "nanollm/kernels_viper is missing: compile it with mpy-cross -march=%s (make dist does)" \
                    % _here_arch()
                _miscompiled = True
        except Exception as e:  # e.g. viper present but this port cannot compile a kernel
            _why = "viper kernels unavailable: %s" % e
            if "decorator" in str(e):  # SyntaxError: the port has no native code emitter
                _why = "no viper on this port (it has no native code emitter, e.g. WebAssembly)"
            elif micro and ("mpy" in str(e) or "arch" in str(e)):
                # ValueError: incompatible .mpy arch / file: compiled for another board
                _why = "kernels_viper.mpy was refused (%s): compile it with mpy-cross -march=%s (make dist does)" \
                    % (e, _here_arch())
                _miscompiled = True
    return _viper


def _here_arch():
    import sys
    try:
        a = (sys.implementation._mpy >> 10) & 15
    except AttributeError:
        return "ARCH"
    return _ARCHS[a] if 0 < a < len(_ARCHS) else "ARCH"


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
