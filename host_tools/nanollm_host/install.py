"""What a board gets installed: the nanollm package as .py, or compiled by mpy-cross for the
board's architecture (.mpy), and the native module built for it."""
import os
import subprocess

from nanollm_host import tools
from nanollm_host.paths import BUILD, package_data, package_sources, rel


def compiled_package_dir(arch):
    """build/mpy/ARCH: the folder holding nanollm/*.mpy for `arch` (compiled when stale)."""
    runtime_files("mpy", arch)
    return os.path.join(BUILD, "mpy", arch)


def _stale(out, *inputs):
    if not os.path.exists(out):
        return True
    t = os.path.getmtime(out)
    return any(os.path.getmtime(p) > t for p in inputs if os.path.exists(p))


def runtime_files(fmt, arch, log=None):
    """(local, remote) pairs for lib/nanollm as .py or as .mpy compiled for `arch`, and its
    data files.

    A file mpy-cross refuses for the target (e.g. viper code for a 32-bit target) is
    shipped as .py: the board then does what it would do with it (compile, or fall back).
    """
    src = package_sources()
    data = [(p, "lib/nanollm/" + os.path.basename(p)) for p in package_data()]
    if fmt == "py":
        return [(p, "lib/nanollm/" + os.path.basename(p)) for p in src] + data
    exe = tools.mpy_cross()
    outdir = os.path.join(BUILD, "mpy", arch, "nanollm")
    os.makedirs(outdir, exist_ok=True)
    pairs = []
    for p in src:
        name = os.path.basename(p)[:-3] + ".mpy"
        out = os.path.join(outdir, name)
        if _stale(out, p, exe):
            r = subprocess.run([exe, "-march=" + arch, "-o", out, "-s", "nanollm/" + os.path.basename(p), p],
                               capture_output=True, text=True)
            if r.returncode != 0:
                if log:
                    log("mpy-cross -march=%s refused %s (%s); copying the .py"
                        % (arch, rel(p), r.stderr.strip().splitlines()[-1]))
                if os.path.exists(out):
                    os.remove(out)
                pairs.append((p, "lib/nanollm/" + os.path.basename(p)))
                continue
        pairs.append((out, "lib/nanollm/" + name))
    return pairs + data
