#!/usr/bin/env python3
"""Fetch the MicroPython 1.25 source tree (Debian trixie's source package) and, for the
rp2 port, Debian's pico-sdk and tinyusb sources and a host picotool built from Debian's
source package, into .cache/micropython-1.25/.

Nothing touches the machine's apt configuration: apt-get runs with a private
sources.list, private package lists and a private download cache, all under the cache
directory. Each part is skipped when its unpacked tree is already there.

    python3 host_tools/fetch/fetch_micropython.py            # MicroPython source only
    python3 host_tools/fetch/fetch_micropython.py --rp2      # plus pico-sdk, tinyusb and mbedtls
    python3 host_tools/fetch/fetch_micropython.py --picotool # plus pico-sdk and a host picotool

Result (paths relative to the repo root):
    .cache/micropython-1.25/micropython     the MicroPython 1.25.0 tree (py/, ports/, ...)
    .cache/micropython-1.25/pico-sdk        Debian's pico-sdk-source (rp2 only)
    .cache/micropython-1.25/tinyusb         Debian's tinyusb-source (rp2 only)
    .cache/micropython-1.25/mbedtls         upstream tree of Debian's mbedtls source
                                            package (rp2 only: ports/rp2 always links it)
    .cache/micropython-1.25/picotool-2.1.1/picotool/picotool
                                            picotool 2.1.1 for this host, with the CMake
                                            package files pico-sdk's build looks for
                                            (picotool_DIR=.../picotool-2.1.1/picotool)

Why picotool is built rather than unpacked: pico-sdk 2.1.1 needs picotool 2.1.1 at the
end of every firmware build (ELF -> UF2) and otherwise clones it from GitHub. Debian's
binary package needs glibc >= 2.38 and libstdc++ from GCC 13, newer than Debian 12 has,
so the source package's upstream tarball is built here with cmake and the host C++
compiler, without USB support (PICOTOOL_NO_LIBUSB, as pico-sdk itself builds it), so
neither libusb nor the ARM toolchain is involved.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys

from nanollm_host.paths import CACHE, ROOT
MIRROR = "http://deb.debian.org/debian"
SUITE = "trixie"
MP_VERSION = "1.25.0+ds-1"
PICOTOOL_VERSION = "2.1.1+dfsg-1"   # must match what pico-sdk 2.1.1 asks for
PICOTOOL_UPSTREAM = "2.1.1"


class FetchError(Exception):
    pass


def log(msg):
    print("fetch_micropython: " + msg, flush=True)


def run(cmd, cwd=None):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-5:]
        raise FetchError("%s failed: %s" % (cmd[0] if cmd[0] != "apt-get" else " ".join(cmd[-2:]),
                                             " | ".join(tail)))
    return r.stdout


class PrivateApt:
    """apt-get with its own sources.list, lists and cache under `base`."""

    def __init__(self, base):
        self.base = base
        self.sources = os.path.join(base, "sources.list")
        self.lists = os.path.join(base, "lists")
        self.cache = os.path.join(base, "cache")
        self.updated = False

    def opts(self):
        return ["-o", "Dir::Etc::sourcelist=" + self.sources,
                "-o", "Dir::Etc::sourceparts=/nonexistent",
                "-o", "Dir::State::Lists=" + self.lists,
                "-o", "Dir::Cache=" + self.cache,
                "-o", "APT::Get::List-Cleanup=0",
                "-o", "Debug::NoLocking=1",
                "-q"]

    def update(self):
        if self.updated:
            return
        os.makedirs(os.path.join(self.lists, "partial"), exist_ok=True)
        os.makedirs(os.path.join(self.cache, "archives", "partial"), exist_ok=True)
        with open(self.sources, "w") as f:
            f.write("deb %s %s main\n" % (MIRROR, SUITE))
            f.write("deb-src %s %s main\n" % (MIRROR, SUITE))
        log("apt-get update (private %s lists)" % SUITE)
        run(["apt-get"] + self.opts() + ["update"])
        self.updated = True

    def source(self, spec, dest):
        self.update()
        log("downloading source package %s" % spec)
        run(["apt-get"] + self.opts() + ["source", "--download-only", spec], cwd=dest)

    def source_tarball(self, spec, dest):
        """Only the upstream tarball of a source package (apt checks its hash)."""
        self.update()
        log("downloading the upstream tarball of %s" % spec)
        run(["apt-get"] + self.opts() + ["source", "--download-only", "--tar-only", spec], cwd=dest)

    def download(self, pkg, dest):
        self.update()
        log("downloading binary package %s" % pkg)
        run(["apt-get"] + self.opts() + ["download", pkg], cwd=dest)


def fetch_micropython(out, apt):
    tree = os.path.join(out, "micropython")
    if os.path.isfile(os.path.join(tree, "py", "mpconfig.h")):
        log("micropython source present: " + os.path.relpath(tree, ROOT))
        return tree
    dl = os.path.join(out, "downloads")
    os.makedirs(dl, exist_ok=True)
    if not glob.glob(os.path.join(dl, "micropython_%s.dsc" % MP_VERSION)):
        apt.source("micropython=" + MP_VERSION, dl)
    dsc = os.path.join(dl, "micropython_%s.dsc" % MP_VERSION)
    tmp = tree + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    log("unpacking " + os.path.basename(dsc))
    run(["dpkg-source", "--no-check", "--skip-patches", "-x", dsc, tmp])
    os.replace(tmp, tree)
    return tree


def fetch_deb_tree(out, apt, pkg, subdir_glob, name, marker):
    """Unpack binary package `pkg` and move the directory matching subdir_glob to out/name."""
    dest = os.path.join(out, name)
    if os.path.exists(os.path.join(dest, marker)):
        log("%s present: %s" % (pkg, os.path.relpath(dest, ROOT)))
        return dest
    dl = os.path.join(out, "downloads")
    os.makedirs(dl, exist_ok=True)
    if not glob.glob(os.path.join(dl, pkg + "_*.deb")):
        apt.download(pkg, dl)
    deb = sorted(glob.glob(os.path.join(dl, pkg + "_*.deb")))[-1]
    tmp = os.path.join(out, name + ".unpack")
    shutil.rmtree(tmp, ignore_errors=True)
    log("unpacking " + os.path.basename(deb))
    run(["dpkg-deb", "-x", deb, tmp])
    found = glob.glob(os.path.join(tmp, subdir_glob))
    if len(found) != 1:
        raise FetchError("%s: expected one %s in the package, found %d" % (pkg, subdir_glob, len(found)))
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(found[0], dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


def unpack_source_tarball(out, apt, spec, name, marker):
    """Unpack the upstream tarball of source package `spec` (apt-get source syntax) to out/name."""
    dest = os.path.join(out, name)
    if os.path.exists(os.path.join(dest, marker)):
        log("%s present: %s" % (spec, os.path.relpath(dest, ROOT)))
        return dest
    srcpkg = spec.split("=")[0]
    dl = os.path.join(out, "downloads")
    os.makedirs(dl, exist_ok=True)
    if not glob.glob(os.path.join(dl, srcpkg + "_*.orig.tar.*")):
        apt.source_tarball(spec, dl)
    tarballs = sorted(glob.glob(os.path.join(dl, srcpkg + "_*.orig.tar.*")))
    if not tarballs:
        raise FetchError("apt-get left no upstream tarball of " + spec)
    work = os.path.join(out, name + ".unpack")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    log("unpacking " + os.path.basename(tarballs[-1]))
    run(["tar", "-xf", tarballs[-1], "-C", work])
    found = [d for d in glob.glob(os.path.join(work, "*")) if os.path.isdir(d)]
    if len(found) != 1 or not os.path.exists(os.path.join(found[0], marker)):
        raise FetchError("%s: expected one top directory with %s" % (os.path.basename(tarballs[-1]), marker))
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(found[0], dest)
    shutil.rmtree(work, ignore_errors=True)
    return dest


def fetch_picotool(out, apt, sdk, jobs):
    """Build picotool from Debian's source package into out/picotool-VERSION."""
    prefix = os.path.join(out, "picotool-" + PICOTOOL_UPSTREAM)
    exe = os.path.join(prefix, "picotool", "picotool")
    config = os.path.join(prefix, "picotool", "picotoolConfigVersion.cmake")
    if os.path.isfile(exe) and os.path.isfile(config):
        log("picotool present: " + os.path.relpath(exe, ROOT))
        return exe
    for tool in ("cmake", "tar"):
        if shutil.which(tool) is None:
            raise FetchError("%s not found" % tool)
    # only the upstream tarball: Debian's packaging (.dsc, .debian.tar) is not needed to
    # build it, and the mirror may no longer carry an older revision's .debian.tar
    src = unpack_source_tarball(out, apt, "picotool=" + PICOTOOL_VERSION, "picotool-src",
                                "CMakeLists.txt")
    build = os.path.join(out, "picotool-build")
    shutil.rmtree(build, ignore_errors=True)
    tmp = prefix + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    log("building picotool %s (cmake, host compiler, no USB)" % PICOTOOL_UPSTREAM)
    run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
         "-DPICO_SDK_PATH=" + sdk, "-DPICOTOOL_NO_LIBUSB=1", "-DPICOTOOL_FLAT_INSTALL=1",
         "-DCMAKE_INSTALL_PREFIX=" + tmp])
    run(["cmake", "--build", build, "-j", str(jobs)])
    run(["cmake", "--install", build])
    built = os.path.join(tmp, "picotool", "picotool")
    ver = run([built, "version"])
    if "v" + PICOTOOL_UPSTREAM not in ver:
        raise FetchError("built picotool reports %r" % ver.strip())
    shutil.rmtree(prefix, ignore_errors=True)
    os.replace(tmp, prefix)
    shutil.rmtree(build, ignore_errors=True)
    log("picotool ready: " + ver.strip())
    return exe


def link_submodule(tree, name):
    """Point the empty submodule directory lib/NAME of the MicroPython tree at ../../NAME."""
    sub = os.path.join(tree, "lib", name)
    if os.path.islink(sub):
        return
    if os.path.isdir(sub):
        if os.listdir(sub):
            raise FetchError("lib/%s in the MicroPython tree is not empty" % name)
        os.rmdir(sub)
    os.symlink(os.path.join("..", "..", name), sub)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(CACHE, "micropython-1.25"),
                    help="where to unpack (default: .cache/micropython-1.25)")
    ap.add_argument("--rp2", action="store_true", help="also fetch pico-sdk, tinyusb and mbedtls (for ports/rp2)")
    ap.add_argument("--picotool", action="store_true",
                    help="also fetch pico-sdk and build picotool %s for this host" % PICOTOOL_UPSTREAM)
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2,
                    help="parallel jobs for the picotool build")
    a = ap.parse_args(argv)
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    apt = PrivateApt(os.path.join(out, "apt"))
    try:
        for tool in ("apt-get", "dpkg-source", "dpkg-deb"):
            if shutil.which(tool) is None:
                raise FetchError("%s not found (install dpkg-dev)" % tool)
        tree = fetch_micropython(out, apt)
        if a.rp2:
            fetch_deb_tree(out, apt, "pico-sdk-source", "usr/src/pico-sdk", "pico-sdk",
                           "pico_sdk_init.cmake")
            fetch_deb_tree(out, apt, "tinyusb-source", "usr/src/tinyusb", "tinyusb", "src/tusb.h")
            # MicroPython 1.25 pins mbedtls 3.6.2; Debian's 3.6.x (same LTS branch) fits
            unpack_source_tarball(out, apt, "mbedtls", "mbedtls", "library/aes.c")
            # ports/rp2 looks for them where the git submodules would be
            for name in ("pico-sdk", "tinyusb", "mbedtls"):
                link_submodule(tree, name)
        if a.picotool:
            sdk = fetch_deb_tree(out, apt, "pico-sdk-source", "usr/src/pico-sdk", "pico-sdk",
                                 "pico_sdk_init.cmake")
            fetch_picotool(out, apt, sdk, a.jobs)
    except FetchError as e:
        print("fetch_micropython: error: %s" % e, file=sys.stderr)
        return 1
    log("ready: " + os.path.relpath(tree, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
