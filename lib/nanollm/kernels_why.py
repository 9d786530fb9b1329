# Why a faster kernel set did not load, in words a user can act on: kernels.py imports this
# only when the native module or the viper kernels were refused, so on a board where they
# load its code never takes RAM.

import sys

# native architectures by number (sys.implementation._mpy >> 10, py/persistentcode.h)
ARCHS = ("no native code", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
         "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")


def mpy_kind(version, feature, loader=False):
    """'ARCH, .mpy V.S' for a .mpy header's version and feature bytes (loader=True: what this
    MicroPython's loader takes, which on Thumb includes the older Arm architectures)."""
    a = (feature >> 2) & 15
    name = ARCHS[a] if a < len(ARCHS) else "arch %d" % a
    if loader and 4 <= a <= 8:  # a Thumb firmware also takes the older Arm architectures
        name = "armv6m.." + name
    return "%s, .mpy %d.%d" % (name, version, feature & 3)


def refusal(e):
    """The loader's reason for refusing nanollm_native.mpy, plus what the file is for and
    what this MicroPython takes (the loader's own message names neither)."""
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
            path, mpy_kind(h[1], h[2]), ver, mpy_kind(here & 255, (here >> 8) & 255, True), e)
    return str(e)


def here_arch():
    """This MicroPython's native architecture, for an mpy-cross -march= hint ('ARCH' if none)."""
    try:
        a = (sys.implementation._mpy >> 10) & 15
    except AttributeError:
        return "ARCH"
    return ARCHS[a] if 0 < a < len(ARCHS) else "ARCH"


def viper_refusal(e, why):
    """(backend note, miscompiled) for the viper kernels' import failing with `e`; `why` is
    the note so far. Miscompiled: the package lacks viper kernels this MicroPython could run
    (compiled without -march, or for another board), which import then says in one line."""
    micro = sys.implementation.name == "micropython"
    if isinstance(e, ImportError):  # CPython, or the module is not there
        if micro and "kernels_viper" in str(e):
            # a package compiled to .mpy without it (mpy-cross refuses viper without -march)
            return ("nanollm/kernels_viper is missing: compile it with mpy-cross -march=%s (make dist does)"
                    % here_arch()), True
        return why or str(e), False
    # e.g. viper present but this port cannot compile a kernel
    if "decorator" in str(e):  # SyntaxError: the port has no native code emitter
        return "no viper on this port (it has no native code emitter, e.g. WebAssembly)", False
    if micro and ("mpy" in str(e) or "arch" in str(e)):
        # ValueError: incompatible .mpy arch / file: compiled for another board
        return ("kernels_viper.mpy was refused (%s): compile it with mpy-cross -march=%s (make dist does)"
                % (e, here_arch())), True
    return "viper kernels unavailable: %s" % e, False
