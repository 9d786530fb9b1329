#!/usr/bin/env python3
"""A ROMFS image of the runtime and a model, for a board's ROMFS partition.

  python host_tools/romfs.py [--arch armv6m] [--model M] [--native] [-o build/romfs/romfs.img]

Stages lib/nanollm as .mpy compiled for the board's architecture (mpy-cross) with the model
as lib/nanollm/model.gguf (and, with --native, the built nanollm_native.mpy beside it), then
makes the image with `mpremote romfs build`. On the board the partition is mounted at /rom:
`import nanollm` runs the .mpy there in place and `nanollm.load()` reads the model's weights
where they lie in flash (no weight bytes in RAM). Deploy it to a board whose firmware has a
ROMFS partition (ours: `make firmware-rp2`; stock rp2 firmware has none) with

  mpremote romfs deploy build/romfs/romfs.img

The emulated Cortex-M0 board takes the image at boot instead (emulator.py qemu --romfs IMG).
"""
import argparse
import os
import shutil
import subprocess
import sys

from nanollm_host import install
from nanollm_host.paths import BUILD, DEFAULT_MODEL, native_module, rel

OUT = os.path.join(BUILD, "romfs", "romfs.img")


def stage(folder, arch, model, native=False, log=print):
    """Fill `folder` with lib/nanollm/ as the image will hold it; returns its bytes."""
    if os.path.exists(folder):
        shutil.rmtree(folder)
    pkg = os.path.join(folder, "lib", "nanollm")
    os.makedirs(pkg)
    files = install.runtime_files("mpy", arch, log=log) + [(model, "lib/nanollm/model.gguf")]
    if native:
        nat = native_module(arch)
        if nat is None:
            raise SystemExit("romfs: no native module for %s: build it with `make native ARCH=%s`" % (arch, arch))
        files.append((nat, "lib/nanollm/nanollm_native.mpy"))
    total = 0
    for local, remote in files:
        shutil.copyfile(local, os.path.join(folder, remote))
        total += os.path.getsize(local)
    return total


def build(out=OUT, arch="armv6m", model=None, native=False, log=print):
    """Stage and run `mpremote romfs build`; returns the image's path."""
    model = model or DEFAULT_MODEL
    folder = os.path.join(os.path.dirname(os.path.abspath(out)), "stage")
    n = stage(folder, arch, model, native, log)
    log("staged %d KB in %s; mpremote romfs build ..." % (n // 1024, rel(folder)))
    mpremote = os.path.join(os.path.dirname(sys.executable), "mpremote")
    if not os.path.exists(mpremote):
        mpremote = shutil.which("mpremote") or "mpremote"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    # --no-mpy: the .mpy are ours, compiled for the board's architecture (viper included)
    r = subprocess.run([mpremote, "romfs", "--no-mpy", "-o", tmp, "build", folder], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("romfs: mpremote romfs build failed:\n%s%s" % (r.stdout, r.stderr))
    os.replace(tmp, out)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Build a ROMFS image holding lib/nanollm as .mpy and a model "
                                             "(mpremote romfs build), for a board's ROMFS partition.")
    ap.add_argument("--arch", default="armv6m", help="mpy-cross architecture of the board (default armv6m: "
                    "RP2040, the emulated Cortex-M0)")
    ap.add_argument("--model", help="the model to include as lib/nanollm/model.gguf (default: the package's)")
    ap.add_argument("--native", action="store_true", help="include build/natmod/nanollm_native_ARCH.mpy "
                    "(not needed with our firmware: the module is built in)")
    ap.add_argument("-o", "--out", default=OUT, help="image file (default %s)" % rel(OUT))
    a = ap.parse_args(argv)
    out = build(a.out, a.arch, a.model, a.native, log=lambda m: print(m, file=sys.stderr))
    print("%s: %d bytes" % (rel(out), os.path.getsize(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
