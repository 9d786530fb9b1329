#!/usr/bin/env python3
"""Folders to copy onto a board, one per architecture, as MicroPython users install.

  python host_tools/dist.py [--arch armv6m,xtensawin,...] [--out build/dist] [--no-model]

For each architecture, OUT/ARCH/ holds lib/nanollm/*.mpy compiled by `mpy-cross
-march=ARCH` (so the viper kernels are machine code for that board), lib/nanollm_native.mpy
when the native module is built for that architecture (`make native-all`), the default
model lib/nanollm/model.gguf (unless --no-model), and INSTALL.txt with the one mpremote
line that installs the folder on a fresh board (it makes :lib as it copies). Prints one line
per architecture. Exit status: 0 done, 2 bad input (unknown architecture, mpy-cross refused
a file).
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

from nanollm_host import cli, tools
from nanollm_host.paths import BUILD, DEFAULT_MODEL, native_module, package_data, package_sources, rel

# the architectures the README names: RP2040, RP2350, ESP32/ESP32-S3, ESP32-C3/C6, x64 hosts
ARCHS = ("armv6m", "armv7emsp", "xtensawin", "rv32imc", "x64")
BOARDS = {"armv6m": "RP2040 (Raspberry Pi Pico)", "armv7emsp": "RP2350, Cortex-M4F/M33",
          "xtensawin": "ESP32, ESP32-S3", "rv32imc": "ESP32-C3, ESP32-C6", "x64": "the unix port on x86-64"}
INSTALL_LINE = "mpremote cp -r lib :"


class DistError(Exception):
    pass


def compile_package(arch, dest, exe):
    """lib/nanollm/*.py -> dest/*.mpy for arch; every file must compile (no .py fallback)."""
    os.makedirs(dest, exist_ok=True)
    for src in package_sources():
        name = os.path.basename(src)
        out = os.path.join(dest, name[:-3] + ".mpy")
        r = subprocess.run([exe, "-march=" + arch, "-o", out, "-s", "nanollm/" + name, src],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise DistError("mpy-cross -march=%s refused %s: %s" % (arch, rel(src), r.stderr.strip().splitlines()[-1]))
    for src in package_data():
        shutil.copy(src, os.path.join(dest, os.path.basename(src)))


def make_dist(arch, out, model=True, native=True, name=None):
    """Write out/NAME (default: arch) through a temporary folder renamed on success; returns
    (its path, whether it holds the native module). native=False leaves the module out
    (viper only, as a board without one runs)."""
    if arch not in ARCHS:
        raise DistError("unknown architecture %r: use %s" % (arch, ", ".join(ARCHS)))
    exe = tools.mpy_cross()
    final = os.path.join(out, name or arch)
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".%s-" % arch, dir=out)
    try:
        compile_package(arch, os.path.join(tmp, "lib", "nanollm"), exe)
        if model:
            shutil.copy(DEFAULT_MODEL, os.path.join(tmp, "lib", "nanollm", "model.gguf"))
        nat = native_module(arch) if native else None
        if nat:
            shutil.copy(nat, os.path.join(tmp, "lib", "nanollm_native.mpy"))
        with open(os.path.join(tmp, "INSTALL.txt"), "w") as f:
            f.write("nanollm for %s (%s), compiled with mpy-cross -march=%s%s%s.\n"
                    "Install on a board from this folder (makes :lib if it is missing):\n\n    %s\n\n"
                    "then at the board's REPL:\n\n    >>> import nanollm\n    >>> nanollm.generate(\"Once upon a time\")\n"
                    % (arch, BOARDS[arch], arch, ", with the native module" if nat else ", viper kernels (no native module built for this architecture)",
                       "" if model else ", without the model (copy a GGUF to :lib/nanollm/model.gguf)", INSTALL_LINE))
        if os.path.exists(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final, nat is not None


def main(argv=None):
    ap = argparse.ArgumentParser(description="Per-architecture folders of the package compiled to .mpy, "
                                 "with the native module where built and the default model.")
    ap.add_argument("--arch", default=",".join(ARCHS), help="comma-separated (default: %s)" % ",".join(ARCHS))
    ap.add_argument("--out", default=os.path.join(BUILD, "dist"), help="output folder (default build/dist)")
    ap.add_argument("--no-model", action="store_true", help="leave the default model out")
    a = ap.parse_args(argv)
    try:
        for arch in a.arch.split(","):
            path, nat = make_dist(arch, a.out, not a.no_model)
            size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(path, "**", "*"), recursive=True)
                       if os.path.isfile(p))
            print("%-10s %s: %d KB%s; install: cd %s && %s" % (arch, rel(path), size // 1024,
                                                              ", native module" if nat else ", viper only",
                                                              rel(path), INSTALL_LINE))
    except (DistError, tools.ToolMissing) as e:
        print("dist: error: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
