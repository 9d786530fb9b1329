#!/usr/bin/env python3
"""Stand-in boards for host_tools/harness/devtest.py and mpremote.

  python host_tools/harness/emulator.py unix [--heap 256k] [--fs-kb 512]
      the unix `micropython` behind a PTY (socat). Its REPL behaves like a board's, except
      that a soft reset (Ctrl-D) ends it: tell mpremote `resume`. --fs-kb mounts a LittleFS
      filesystem of that size as its working directory (a board's small flash filesystem);
      its blocks live in a host file, not in the heap, as a board's flash is not its RAM.
  python host_tools/harness/emulator.py qemu [--board qemu-m0] [--firmware ELF] [--icount] [--romfs IMG]
      MicroPython's qemu port on an emulated board (BOARDS below; `qemu` alone is the
      micro:bit Cortex-M0, 256 KB RAM), console on a PTY. --icount makes time count
      instructions (1 ns each). --romfs (micro:bit board) puts a ROMFS image (make romfs)
      in the board's ROMFS partition, mounted at /rom at boot.

Both print the device to connect to (`mpremote connect DEVICE resume ...`) and run until
Ctrl-C. The classes are used by devtest.py and the tests.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from nanollm_host import tools
from nanollm_host.paths import BUILD, rel

QEMU_FIRMWARE = os.path.join(BUILD, "firmware", "qemu", "firmware.elf")
QEMU_RAM = 262144
QEMU_FLASH = 2097152
# the nanollm qemu board's ROMFS partition: flash after QEMU_FLASH (NANOLLM_ROMFS_BYTES in
# firmware/ports/qemu/NANOLLM_MICROBIT), holding an image when one is loaded before boot
QEMU_ROMFS = 1048576


class EmulatedBoard:
    """One emulated board: the qemu machine, the firmware that runs on it (a make target),
    the .mpy architecture it loads and where its filesystem lives, which the host can
    fill before boot. fs is (address, bytes) of a RAM region, or None: the flash after
    the firmware image (the micro:bit board, see fs_area). fs_progsize is the progsize its
    firmware mounts LittleFS with (that of the port the board stands in for)."""

    def __init__(self, name, title, arch, qemu, machine, make_target, firmware, fs=None, builtin_native=False,
                 fs_progsize=32):
        self.name = name
        self.title = title
        self.arch = arch
        self.qemu = qemu
        self.machine = machine
        self.make_target = make_target
        self.firmware = firmware
        self.fs = fs
        self.builtin_native = builtin_native
        self.fs_progsize = fs_progsize

    def fs_region(self, firmware=None):
        if self.fs is None:
            return fs_area(firmware or self.firmware)
        return self.fs


def _fw(board):
    return os.path.join(BUILD, "firmware", board, "firmware.elf")


# The emulated boards, each MicroPython 1.25's qemu port (firmware/ports/qemu/). The
# micro:bit board has the runtime frozen and nanollm_native built in (the smallest heap);
# the others are stock firmware plus a filesystem: the runtime and the native .mpy for
# their architecture are copied to them over the console, as a user would.
BOARDS = {b.name: b for b in (
    EmulatedBoard("qemu-m0", "BBC micro:bit machine, Cortex-M0, 256 KB RAM", "armv6m", "qemu-system-arm",
                  ["-machine", "microbit", "-global", "nrf51-soc.flash-size=%d" % (QEMU_FLASH + QEMU_ROMFS),
                   "-global", "nrf51-soc.sram-size=%d" % QEMU_RAM],
                  "firmware-qemu", QEMU_FIRMWARE, builtin_native=True, fs_progsize=256),
    EmulatedBoard("qemu-m3", "MPS2 AN385, Cortex-M3", "armv7m", "qemu-system-arm", ["-machine", "mps2-an385"],
                  "firmware-qemu-m3", _fw("qemu-m3"), fs=(0x21000000, 0x300000)),
    EmulatedBoard("qemu-m4", "MPS2 AN386, Cortex-M4 with FPU and DSP", "armv7emsp", "qemu-system-arm",
                  ["-machine", "mps2-an386"], "firmware-qemu-m4", _fw("qemu-m4"), fs=(0x21000000, 0x300000),
                  fs_progsize=256),
    EmulatedBoard("qemu-rv32", "RISC-V virt, rv32imac", "rv32imc", "qemu-system-riscv32",
                  ["-machine", "virt", "-bios", "none"], "firmware-qemu-rv32", _fw("qemu-rv32"),
                  fs=(0x81000000, 0x200000)),
)}


_THUMB = ("armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp")


def loads(firmware_arch, mpy_arch):
    """Does a MicroPython whose sys.implementation._mpy names firmware_arch load a native
    .mpy for mpy_arch? A Thumb firmware names the newest Arm architecture it takes and
    takes every older one from armv6m (py/persistentcode.h: a Cortex-M3 build says
    armv7em); every other port takes its own only."""
    if firmware_arch in _THUMB and mpy_arch in _THUMB:
        return _THUMB.index(mpy_arch) <= _THUMB.index(firmware_arch)
    return firmware_arch == mpy_arch


def emulated_board(name):
    if name == "qemu":
        name = "qemu-m0"
    if name not in BOARDS:
        raise EmulatorError("unknown emulated board %r; known: %s" % (name, ", ".join(BOARDS)))
    return BOARDS[name]


class EmulatorError(Exception):
    """A stand-in could not start; the message says why."""


def micropython_exe():
    try:
        return tools.micropython()
    except tools.ToolMissing as e:
        raise EmulatorError(str(e))


# MicroPython code run before the REPL when the stand-in has a small filesystem: a block
# device over a host file (so the filesystem takes none of the heap the stand-in is given),
# formatted with LittleFS and mounted over the working directory. It writes "ok" or the
# error to a status file the host waits for: a filesystem that could not be made must not
# leave the stand-in running on the host's own disk.
_BLOCKFS = """
import os, sys, vfs
class _FileBlocks:
    def __init__(self, path, n, bs=512):
        self.bs = bs
        self.n = n
        self.f = open(path, "r+b")
    def readblocks(self, b, buf, off=0):
        self.f.seek(b * self.bs + off)
        self.f.readinto(buf)
    def writeblocks(self, b, buf, off=None):
        self.f.seek(b * self.bs + (off or 0))
        self.f.write(buf)
    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            return 0
try:
    _bd = _FileBlocks(%(image)r, %(blocks)d)
    vfs.VfsLfs2.mkfs(_bd)
    vfs.mount(vfs.VfsLfs2(_bd), %(mnt)r)
    os.chdir(%(mnt)r)
    _st = os.statvfs(".")
    _msg = "ok %%d" %% (_st[0] * _st[2])
    del _bd, _st
except Exception as e:
    _msg = "error %%s: %%s" %% (type(e).__name__, e)
with open(%(status)r, "w") as _f:
    _f.write(_msg)
del _FileBlocks, _msg, _f
"""


class _StandIn:
    """A stand-in board process (start() returns its serial device); stops on exit."""

    proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


class UnixStandIn(_StandIn):
    """The unix micropython on a PTY made by socat. Use as a context manager."""

    def __init__(self, heap=None, fs_kb=None, workdir=None, log=None):
        self.heap = heap
        self.fs_kb = fs_kb
        self.workdir = workdir
        self.log = log
        self.proc = None
        self._tmp = None
        self.device = None

    def start(self, timeout=10):
        if shutil.which("socat") is None:
            raise EmulatorError("socat is missing: `apt-get install socat` (make sysdeps installs it)")
        if self.workdir is None:
            self._tmp = tempfile.mkdtemp(prefix="nanollm-unix-board-")
            self.workdir = self._tmp
        os.makedirs(self.workdir, exist_ok=True)
        self.device = os.path.join(self.workdir, "tty")
        cmd = [micropython_exe()]
        if self.heap:
            cmd += ["-X", "heapsize=%s" % self.heap]
        status = None
        if self.fs_kb is not None and self.fs_kb < 2:
            raise EmulatorError("--fs-kb %d: a filesystem needs at least 2 KB (two LittleFS blocks)" % self.fs_kb)
        if self.fs_kb:
            mnt = os.path.join(self.workdir, "flash")
            os.makedirs(mnt, exist_ok=True)
            image = os.path.join(self.workdir, "flash.img")
            with open(image, "wb") as f:
                f.truncate(self.fs_kb * 1024)
            status = os.path.join(self.workdir, "flash.status")
            if os.path.exists(status):
                os.remove(status)
            boot = os.path.join(self.workdir, "boot_blockfs.py")
            with open(boot, "w") as f:
                f.write(_BLOCKFS % {"image": image, "blocks": self.fs_kb * 2, "mnt": mnt, "status": status})
            cmd += ["-i", boot]
        # socat's EXEC splits on spaces: the paths here come from mkdtemp and the venv
        exec_arg = "EXEC:%s,pty,stderr,setsid,ctty,rawer" % " ".join(cmd)
        self.proc = subprocess.Popen(
            ["socat", "PTY,link=%s,rawer,echo=0" % self.device, exec_arg],
            cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE if self.log is None else self.log)
        t0 = time.time()
        while not os.path.exists(self.device):
            if self.proc.poll() is not None:
                raise EmulatorError("socat exited (%d) before making %s" % (self.proc.returncode, self.device))
            if time.time() - t0 > timeout:
                self.stop()
                raise EmulatorError("socat made no PTY within %d s" % timeout)
            time.sleep(0.05)
        if status:
            self._check_filesystem(status, t0 + timeout)
        return self.device

    def _check_filesystem(self, status, deadline):
        """Wait for the boot code's word on the --fs-kb filesystem; stop and say why if it failed."""
        def word():
            try:
                with open(status) as f:
                    return f.read()
            except OSError:
                return ""
        while not word():
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise EmulatorError("the unix stand-in did not make its %d KB filesystem (no word from its "
                                    "boot code)" % self.fs_kb)
            time.sleep(0.05)
        word = word()
        if not word.startswith("ok"):
            self.stop()
            raise EmulatorError("the unix stand-in could not make its %d KB filesystem: %s"
                                % (self.fs_kb, word[len("error "):]))
        self.fs_bytes = int(word.split()[1])

    def stop(self):
        super().stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None



class QemuStandIn(_StandIn):
    """MicroPython's qemu port on an emulated board (BOARDS; the micro:bit Cortex-M0 by
    default), console on a PTY."""

    def __init__(self, firmware=None, icount=False, plugin=None, plugin_log=None, ram=QEMU_RAM, preload=None,
                 romfs=None, board="qemu-m0"):
        self.board = emulated_board(board)
        self.firmware = firmware or self.board.firmware
        self.icount = icount
        # [(local file, path on the board)]: written into the emulated flash filesystem
        # before boot (the emulated UART moves only a few KB/s; a real board's USB is faster)
        self.preload = preload or []
        # a ROMFS image file (`make romfs`) placed in the ROMFS partition before boot
        self.romfs = romfs
        self.image = None
        self.plugin = plugin
        self.plugin_log = plugin_log
        self.ram = ram
        self.proc = None
        self.device = None

    def command(self):
        bd = self.board
        exe = shutil.which(bd.qemu)
        if exe is None:
            pkg = "qemu-system-misc" if bd.qemu == "qemu-system-riscv32" else bd.qemu
            raise EmulatorError("%s is missing: `apt-get install %s`" % (bd.qemu, pkg))
        if not os.path.exists(self.firmware):
            raise EmulatorError("%s is missing: build it with `make %s`" % (rel(self.firmware), bd.make_target))
        machine = list(bd.machine)
        if bd.name == "qemu-m0" and self.ram != QEMU_RAM:
            machine[-1] = "nrf51-soc.sram-size=%d" % self.ram
        cmd = [exe] + machine + ["-display", "none", "-monitor", "none",
                                 "-serial", "pty", "-semihosting", "-kernel", self.firmware]
        if self.preload:
            addr, self.image = flash_image(self.firmware, self.preload, bd)
            cmd += ["-device", "loader,file=%s,addr=0x%x" % (self.image, addr)]
        if self.romfs:
            if bd.name != "qemu-m0":
                raise EmulatorError("--romfs: only the micro:bit board (qemu-m0) has a ROMFS partition")
            if os.path.getsize(self.romfs) > QEMU_ROMFS:
                raise EmulatorError("the ROMFS image %s (%d KB) exceeds the board's %d KB ROMFS partition"
                                    % (rel(self.romfs), os.path.getsize(self.romfs) // 1024, QEMU_ROMFS // 1024))
            cmd += ["-device", "loader,file=%s,addr=0x%x" % (self.romfs, QEMU_FLASH)]
        if self.icount:
            cmd += ["-icount", "shift=0"]
        if self.plugin:
            cmd += ["-plugin", self.plugin]
            if self.plugin_log:
                cmd += ["-d", "plugin", "-D", self.plugin_log]
        return cmd

    def start(self, timeout=20):
        cmd = self.command()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        t0 = time.time()
        seen = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise EmulatorError("qemu exited before opening its console: %s" % " ".join(seen)[-400:])
            seen.append(line.strip())
            m = re.search(r"redirected to (/dev/pts/\d+)", line)
            if m:
                self.device = m.group(1)
                break
            if time.time() - t0 > timeout:
                self.stop()
                raise EmulatorError("qemu opened no console within %d s" % timeout)
        return self.device




def fs_area(firmware):
    """(first byte, bytes) of the flash filesystem of the nanollm qemu firmware: the 4 KB
    blocks after the firmware image (text + initialised data) up to the end of the flash."""
    from elftools.elf.elffile import ELFFile
    with open(firmware, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        sym = {}
        for name in ("_sidata", "_sdata", "_edata"):
            found = symtab.get_symbol_by_name(name) if symtab else None
            if not found:
                raise EmulatorError("%s has no symbol %s: not the nanollm qemu firmware?" % (firmware, name))
            sym[name] = found[0]["st_value"]
    end = sym["_sidata"] + sym["_edata"] - sym["_sdata"]
    first = (end + FS_BLOCK - 1) // FS_BLOCK * FS_BLOCK
    return first, QEMU_FLASH - first


# the emulated boards' filesystem block (nanollm_board.c, nanollm_ramfs.c): 4 KB, as a
# real RP2040's (rp2.Flash) and ESP32's (esp32.Partition) are
FS_BLOCK = 4096


def flash_image(firmware, files, board=None):
    """A LittleFS image (MicroPython's VfsLfs2 layout: 4 KB blocks) holding files, cached
    under build/emulator (one per board); returns (flash address, image path)."""
    import hashlib
    import littlefs
    board = board or BOARDS["qemu-m0"]
    addr, size = board.fs_region(firmware)
    h = hashlib.sha256(("%d %d %d %d" % (addr, size, FS_BLOCK, board.fs_progsize)).encode())
    for local, remote in files:
        st = os.stat(local)
        h.update(("%s %s %d %d" % (local, remote, st.st_size, st.st_mtime_ns)).encode())
    prefix = "flash_%s_" % board.name
    out = os.path.join(BUILD, "emulator", prefix + "%s.img" % h.hexdigest()[:16])
    if os.path.exists(out):
        return addr, out
    need = sum(os.path.getsize(p) for p, _ in files)
    if need > size:
        raise EmulatorError("the files to preload (%d KB) exceed the emulated flash filesystem (%d KB)"
                            % (need // 1024, size // 1024))
    fs = littlefs.LittleFS(block_size=FS_BLOCK, block_count=size // FS_BLOCK, read_size=32,
                           prog_size=board.fs_progsize,
                           lookahead_size=32)
    for local, remote in files:
        d = remote.rsplit("/", 1)[0] if "/" in remote else ""
        if d:
            fs.makedirs(d, exist_ok=True)
        with open(local, "rb") as src, fs.open(remote, "wb") as dst:
            dst.write(src.read())
    os.makedirs(os.path.dirname(out), exist_ok=True)
    for old in os.listdir(os.path.dirname(out)):  # keep one image per board
        if old.startswith(prefix) and old.endswith(".img"):
            os.remove(os.path.join(os.path.dirname(out), old))
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(bytes(fs.context.buffer))
    os.replace(tmp, out)
    return addr, out


def make(kind, **kw):
    if kind == "unix":
        return UnixStandIn(heap=kw.get("heap"), fs_kb=kw.get("fs_kb"))
    if kind == "qemu" or kind in BOARDS:
        return QemuStandIn(firmware=kw.get("firmware"), icount=kw.get("icount", False), preload=kw.get("preload"),
                           romfs=kw.get("romfs"), board=kw.get("board") or kind)
    raise EmulatorError("unknown stand-in %r: use unix, qemu or one of %s" % (kind, ", ".join(BOARDS)))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run a stand-in board (unix micropython on a PTY, or qemu) "
                                             "for mpremote and devtest.py.")
    ap.add_argument("kind", choices=["unix", "qemu"] + sorted(BOARDS),
                    help="which stand-in (qemu is qemu-m0): %s" % "; ".join(
                        "%s = %s (%s)" % (b.name, b.title, b.arch) for b in BOARDS.values()))
    ap.add_argument("--heap", help="unix: heap size, e.g. 256k (default: the port's 2 MB)")
    ap.add_argument("--fs-kb", type=int, help="unix: a LittleFS filesystem of this many KB as the working directory "
                    "(its blocks in a host file, outside the heap)")
    ap.add_argument("--firmware", help="qemu: firmware ELF (default: the board's, e.g. %s)" % rel(QEMU_FIRMWARE))
    ap.add_argument("--icount", action="store_true", help="qemu: -icount shift=0 (time = instructions)")
    ap.add_argument("--romfs", help="qemu: a ROMFS image (make romfs: build/romfs/romfs.img) in the board's ROMFS "
                    "partition, mounted at /rom at boot")
    a = ap.parse_args(argv)
    try:
        em = make(a.kind, heap=a.heap, fs_kb=a.fs_kb, firmware=a.firmware, icount=a.icount, romfs=a.romfs)
        dev = em.start()
    except EmulatorError as e:
        print("emulator: error: %s" % e, file=sys.stderr)
        return 2
    print("device: %s" % dev)
    print("try: mpremote connect %s resume exec \"import sys; print(sys.platform)\"" % dev)
    print("Ctrl-C to stop", flush=True)
    try:
        while em.alive():
            time.sleep(0.5)
        print("the stand-in exited", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        em.stop()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    sys.exit(main())
