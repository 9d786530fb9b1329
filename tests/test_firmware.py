"""MicroPython 1.25 firmware with nanollm_native built in (mk/firmware.mk).

- unix port: the module is built in, its kernels are bit-identical to kernels_py
  (tests/mpy/native_cases.py), and the whole runtime on a q8_0 model gives the same logits
  with the built-in module as with viper;
- emulated Cortex-M0 board (qemu microbit): boots, reports its free heap, runs viper,
  has the built-in module and a writable filesystem, driven by mpremote.
- RP2040 (RPI_PICO) firmware: a valid UF2 for the RP2040 family holding the module.
The firmware is built by `make firmware-unix firmware-qemu firmware-rp2`, all three
prerequisites of `make test` (the rp2 image takes about 4 minutes from scratch).
"""
import os
import re
import socket
import struct
import subprocess
import sys
import time

import pytest

from testutil import LIB, ROOT, mpy_script, run_micropython_file

FW = os.path.join(ROOT, "build", "firmware")
UNIX = os.path.join(FW, "unix", "micropython")
QEMU_ELF = os.path.join(FW, "qemu", "firmware.elf")
RP2_UF2 = os.path.join(FW, "rp2", "firmware.uf2")
QEMU = ["qemu-system-arm", "-machine", "microbit", "-global", "nrf51-soc.flash-size=3145728",
        "-global", "nrf51-soc.sram-size=262144", "-nographic", "-monitor", "null", "-semihosting"]
PROVIDES = ("to_x16", "matvec_q8_0", "matvec_q4_0", "matvec_q4_1", "matvec_q4_K", "add_q", "gelu_q",
            "layernorm_q", "kv_store", "attend_head", "dequant_row_q", "isqrt",
            "argmax_q", "top_k_q", "weights_q", "top_p_q", "draw_q")


def _need(path, target):
    if not os.path.exists(path):  # a prerequisite of `make test`: build it rather than skip
        r = subprocess.run(["make", "-s", target, "PY=" + sys.executable], cwd=ROOT,
                           capture_output=True, text=True, timeout=1200)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return path


def _unix(script, args=(), timeout=300):
    """tests/mpy/SCRIPT on the firmware's unix port (its nanollm_native is built in)."""
    return run_micropython_file(script, args, timeout=timeout, exe=_need(UNIX, "firmware-unix"))


# ------------------------------------------------------------------ unix port

def test_unix_has_builtin_module():
    out = dict(ln.split(" ", 1) for ln in _unix("native_module_info.py").splitlines())
    assert (out["VERSION"], out["FROM_FILE"]) == ("(1, 25)", "False")  # MicroPython 1.25, module not loaded from a file
    assert tuple(out["PROVIDES"].split()) == PROVIDES
    assert out["CALLABLE"] == "True"


@pytest.fixture(scope="module")
def unix_cases():
    out = _unix("native_cases.py")
    res = {}
    for line in out.splitlines():
        p = line.split()
        if p and p[0] == "RESULT":
            res[p[1]] = (int(p[2]), int(p[3]))
        elif p and p[0] == "SIMD":
            res[(int(p[1]), p[2])] = (int(p[3]), int(p[4]))
        elif p and p[0] == "BADARGS":
            res["badargs"] = (int(p[1]), int(p[2]))
    return res, out


@pytest.mark.parametrize("name", PROVIDES)
def test_unix_kernel_bit_identical(unix_cases, name):
    res, log = unix_cases
    n, fails = res[name]
    assert n > 0 and fails == 0, log


def test_unix_simd_levels_bit_identical(unix_cases):
    # the firmware's built-in module carries the same SSE2/AVX2 kernels as the .mpy
    from test_native import cpu_simd_best
    res, log = unix_cases
    levels = sorted({k[0] for k in res if isinstance(k, tuple)})
    assert levels == list(range(cpu_simd_best() + 1)), log
    for key, (n, fails) in res.items():
        if isinstance(key, tuple):
            assert n >= 100 and fails == 0, (key, log)


def test_unix_bad_arguments_raise_with_message(unix_cases):
    res, log = unix_cases
    n, fails = res["badargs"]
    assert n >= 40 and fails == 0, log
    out = _unix("native_bad_args.py")
    assert "T nanollm_native: expected array('i')" in out
    assert "V gelu_q: buf too short for n" in out


def test_unix_125_loads_the_dynamic_module(tmp_path):
    """The x64 .mpy (made by MicroPython's natmod pipeline) loads in MicroPython 1.25 too,
    not only in the PyPI 1.28 the native tests use. The firmware has the module built in,
    which an import finds first, so the .mpy is imported under another name."""
    mpy = os.path.join(ROOT, "build", "natmod", "nanollm_native_x64.mpy")
    _need(mpy, "native")
    with open(mpy, "rb") as src, open(tmp_path / "nn_dyn.mpy", "wb") as dst:
        dst.write(src.read())
    with open(mpy_script("native_cases.py")) as f:
        cases = f.read().replace("import nanollm_native as N", "import nn_dyn as N")
    (tmp_path / "cases_dyn.py").write_text(cases)
    exe = _need(UNIX, "firmware-unix")
    env = dict(os.environ, MICROPYPATH="%s:%s" % (tmp_path, LIB))
    r = subprocess.run([exe, str(tmp_path / "cases_dyn.py")], cwd=LIB, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    lines = [ln.split() for ln in r.stdout.splitlines() if ln.startswith(("RESULT", "BADARGS"))]
    assert len(lines) == len(PROVIDES) + 1, r.stdout
    for p in lines:
        n, fails = map(int, p[-2:])
        assert n > 0 and fails == 0, r.stdout


@pytest.fixture(scope="module")
def q8_model(fixture_gguf):
    return fixture_gguf("gpt2_trained", "q8_0")


def test_unix_runtime_builtin_native_equals_viper(q8_model):
    out = _unix("native_equals_viper.py", [q8_model], timeout=600)
    assert "BACKEND native\nAVAILABLE native viper python" in out, out
    n = re.search(r"N (\d+) (\d+)", out)
    assert n and int(n.group(1)) == 10 and int(n.group(2)) > 100, out
    assert "SAME True" in out, out


# ------------------------------------------------------------------ emulated board

def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def qemu_board():
    elf = _need(QEMU_ELF, "firmware-qemu")
    port = _free_port()
    p = subprocess.Popen(QEMU + ["-serial", "tcp:127.0.0.1:%d,server,nowait" % port, "-kernel", elf],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 20
    while time.time() < deadline:  # wait for qemu to listen
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert p.poll() is None, p.stdout.read().decode(errors="replace")
            time.sleep(0.2)
    yield "socket://127.0.0.1:%d" % port
    p.kill()
    p.wait()


def _mpremote(dev, *args, timeout=120):
    exe = os.path.join(os.path.dirname(sys.executable), "mpremote")
    r = subprocess.run([exe, "connect", dev] + list(args), capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


def test_qemu_board_boots_with_heap_viper_fs_and_module(qemu_board):
    out = _mpremote(qemu_board, "run", mpy_script("board_probe.py"))
    free = int(re.search(r"FREE (\d+)", out).group(1))
    assert free >= 130 * 1024, out
    assert "PLATFORM qemu (1, 25)" in out, out
    assert "VIPER %d" % sum(i * i for i in range(1000)) in out, out
    fs_size, fs_free = map(int, re.search(r"FS (\d+) (\d+)", out).groups())
    assert fs_size >= 512 * 1024 and fs_free > 0, out
    assert "READBACK True" in out, out
    assert "NATIVE %d 1000" % len(PROVIDES) in out, out


def test_qemu_board_filesystem_with_mpremote_cp(qemu_board, tmp_path):
    src = os.path.join(LIB, "nanollm", "kernels_py.py")
    back = tmp_path / "back.py"
    _mpremote(qemu_board, "cp", src, ":kpy.py")
    _mpremote(qemu_board, "cp", ":kpy.py", str(back))
    with open(src, "rb") as a:
        assert back.read_bytes() == a.read()
    assert "kpy.py" in _mpremote(qemu_board, "ls", ":")


# ------------------------------------------------------------------ RP2040 (Raspberry Pi Pico)

UF2_MAGIC = (0x0A324655, 0x9E5D5157, 0x0AB16F30)  # first, second, final
UF2_FAMILY_PRESENT = 0x00002000
RP2040_FAMILY = 0xE48BFF56


def test_rp2_uf2_is_rp2040_image_with_module():
    assert os.path.exists(RP2_UF2), "no %s: `make firmware-rp2` (a TEST_DEP)" % os.path.relpath(RP2_UF2, ROOT)
    data = open(RP2_UF2, "rb").read()
    assert data and len(data) % 512 == 0, len(data)
    nblocks = len(data) // 512
    image = {}
    for i in range(nblocks):
        blk = data[512 * i:512 * (i + 1)]
        m0, m1, flags, addr, size, num, total, family = struct.unpack("<8I", blk[:32])
        assert (m0, m1, struct.unpack("<I", blk[508:])[0]) == UF2_MAGIC, i
        assert flags & UF2_FAMILY_PRESENT and family == RP2040_FAMILY, (i, hex(flags), hex(family))
        assert (num, total) == (i, nblocks), (i, num, total)
        assert 0 < size <= 476 and 0x10000000 <= addr < 0x10000000 + 2 * 1024 * 1024, (i, addr, size)
        image[addr] = blk[32:32 + size]
    # payload in flash order (a string may straddle two blocks)
    flash = b"".join(image[a] for a in sorted(image))
    assert len(flash) > 200 * 1024
    assert b"nanollm_native" in flash
    # a ROMFS partition (firmware/ports/rp2/nanollm_romfs.h): VfsRom and vfs.rom_ioctl, which
    # `mpremote romfs deploy` uses, are built only when MICROPY_HW_ROMFS_BYTES > 0
    assert b"VfsRom" in flash and b"rom_ioctl" in flash
    for name in PROVIDES:
        assert name.encode() in flash, name
