#!/usr/bin/env python3
"""The device tests on stand-ins for boards running stock MicroPython firmware (make hwtest-stock).

  python host_tools/harness/stock.py [-k PATTERN] [--only rp2040|esp32]

Two configurations of the emulated Cortex-M0 (qemu) with nothing of nanollm in the firmware
(make firmware-qemu-stock), the runtime installed from a make dist folder as a user copies it:
  rp2040  the heap of boards/rp2040.json (192000 bytes free after boot), .mpy for armv6m and
          the armv6m native module
  esp32   the heap of boards/esp32.json (110000 bytes free after boot), .mpy with the viper
          kernels only (no native module: none is built for xtensawin)
tests/device runs unchanged on each (host_tools/harness/devtest.py --install). Prints each
run's output, then one line per configuration and last "N passed, N failed". Exit status 0
when every test passed, 1 otherwise, 2 when a stand-in is missing.
"""
import argparse
import os
import re
import subprocess
import sys

from nanollm_host.paths import BUILD, HOST_TOOLS, rel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HOST_TOOLS)
import dist  # noqa: E402

CONFIGS = (
    # name, board profile checked against the stand-in, native module, what it stands for
    ("rp2040", "rp2040", True, "rp2040 heap, .mpy + armv6m native module"),
    ("esp32", "qemu-m0", False, "esp32 heap, viper .mpy only"),
)


def firmware(name):
    return os.path.join(BUILD, "firmware", "qemu-stock-%s" % name, "firmware.elf")


def run(name, board, native, k=None):
    fw = firmware(name)
    if not os.path.exists(fw):
        raise SystemExit("stock: %s is missing: make firmware-qemu-stock" % rel(fw))
    folder, has_native = dist.make_dist("armv6m", os.path.join(BUILD, "dist-stock"), native=native, name=name)
    if native and not has_native:
        raise SystemExit("stock: no armv6m native module: make native-all")
    cmd = [sys.executable, os.path.join(HERE, "devtest.py"), "--emulate", "qemu", "--firmware", fw,
           "--board", board, "--install", folder,
           # the big model (larger than the heap) with one layer: with the dist folder it must
           # fit the stand-in's 817 KB flash filesystem, with room for the native module's
           # copies test_dev_native writes (feed-forward 256 left too little)
           "--big-layers", "1", "--big-ff", "192"]
    if k:
        cmd += ["-k", k]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    last = ""
    for line in p.stdout:
        print("[%s] %s" % (name, line.rstrip()), flush=True)
        if line.strip():
            last = line.strip()
    p.wait()
    m = re.search(r"(\d+) passed, (\d+) failed", last)
    if not m:
        return 0, 1, "no result (exit %d): %s" % (p.returncode, last)
    return int(m.group(1)), int(m.group(2)), last


def main(argv=None):
    ap = argparse.ArgumentParser(description="tests/device on the stock-firmware stand-ins (rp2040 and esp32 heaps).")
    ap.add_argument("-k", metavar="PATTERN", help="only tests whose module.name contains PATTERN")
    ap.add_argument("--only", choices=[c[0] for c in CONFIGS], help="one configuration")
    a = ap.parse_args(argv)
    passed = failed = 0
    lines = []
    for name, board, native, what in CONFIGS:
        if a.only and name != a.only:
            continue
        p, f, last = run(name, board, native, a.k)
        passed += p
        failed += f
        lines.append("%-7s %s: %s" % (name, what, last))
    for ln in lines:
        print(ln)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
