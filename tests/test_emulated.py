"""The native module on every emulated board (host_tools/harness/emulator.py, BOARDS), each
with the .mpy built for its architecture (`make native-all`) and MicroPython 1.25's qemu
port (`make firmware-emulated`: the Cortex-M3, M4 and RISC-V boards are stock firmware
plus a filesystem, the Cortex-M0 has the module built in as well):

- the kernel cases (tests/mpy/native_cases.py): every kernel of the .mpy against
  kernels_py, edge cases and bad arguments, on the board;
- the device tests (tests/device/) with the native backend expected: whole-model logits
  native against viper on q8_0, q4_0 and q4_1, heap-locked decoding, a model streamed,
  .mpy files for another architecture or MicroPython refused. The Cortex-M0's device
  tests run in tests/test_devtest.py; `make hwtest-emulated` runs them all in turn.
About a minute per board and test (emulated)."""
import os
import subprocess
import sys

import pytest

from testutil import ROOT, mpy_script
from test_native import KERNELS  # every kernel the module provides

from harness import emulator
from nanollm_host import install
from nanollm_host.board_io import Board, copy_files
from nanollm_host.paths import native_module

DEVTEST = os.path.join(ROOT, "host_tools", "harness", "devtest.py")
STOCK = ["qemu-m3", "qemu-m4", "qemu-rv32"]


def _need(board):
    """The board's firmware and native module, built when missing (prerequisites of make test)."""
    bd = emulator.BOARDS[board]
    mpy = os.path.join(ROOT, "build", "natmod", "nanollm_native_%s.mpy" % bd.arch)
    for path, target in ((bd.firmware, bd.make_target), (mpy, "native")):
        if not os.path.exists(path):
            r = subprocess.run(["make", "-s", target, "ARCH=" + bd.arch, "PY=" + sys.executable], cwd=ROOT,
                               capture_output=True, text=True, timeout=1200)
            assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return bd


# the .mpy is copied under its own name and put in sys.modules as nanollm_native before
# the cases import it: on the Cortex-M0 the built-in module would otherwise win
_PRELUDE = """
import sys
sys.path.insert(0, '/lib')
import nanollm_native_mpy
assert nanollm_native_mpy.__file__.endswith('.mpy'), nanollm_native_mpy.__file__
sys.modules['nanollm_native'] = nanollm_native_mpy
print('LOADED', nanollm_native_mpy.__file__, len(nanollm_native_mpy.PROVIDES))
"""


@pytest.mark.slow
@pytest.mark.parametrize("board", ["qemu-m0"] + STOCK)
def test_kernel_cases_on_emulated_board(board):
    bd = _need(board)
    with emulator.QemuStandIn(board=board) as em:
        b = Board(em.device, soft_reset=True, connect_timeout=30)
        b.connect()
        try:
            frozen = b._try("nanollm.kernels_py")
            files = [] if frozen else install.runtime_files("mpy", bd.arch)
            files.append((native_module(bd.arch), "lib/nanollm_native_mpy.mpy"))
            copy_files(b, files, False, None, b._try("binascii"))
            b.reset()
            with open(mpy_script("native_cases.py")) as f:
                out = b.exec(_PRELUDE + f.read(), timeout=900)
        finally:
            b.close()
    assert "LOADED /lib/nanollm_native_mpy.mpy %d" % len(KERNELS) in out, out[-2000:]
    results = {}
    for line in out.splitlines():
        p = line.split()
        if p and p[0] == "RESULT":
            results[p[1]] = (int(p[2]), int(p[3]))
        elif p and p[0] == "BADARGS":
            results["badargs"] = (int(p[1]), int(p[2]))
    for name in KERNELS + ("badargs",):
        n, fails = results.get(name, (0, -1))
        assert n > 0 and fails == 0, "%s on %s: %d cases, %d failures\n%s" % (name, board, n, fails, out[-3000:])


def devtest_run(*args, timeout=900):
    r = subprocess.run([sys.executable, DEVTEST] + list(args), capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT)
    return r.returncode, r.stdout, r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("board", STOCK)
def test_device_tests_on_stock_firmware_with_native_mpy(board):
    bd = _need(board)
    # context 32: see hwtest_emulated.DEFAULT_SESSIONS
    rc, out, err = devtest_run("--emulate", board, "--expect-backend", "native", "--quant-models", "--ctx", "32")
    assert rc == 0, out[-4000:] + err[-2000:]
    assert "runtime as .mpy, with the native module" in err, err
    assert "\nbackend native" in out, out
    for name in ("test_dev_native.test_kernels_picked_are_the_expected_ones",
                 "test_dev_native.test_logits_native_equal_viper_every_block_type",
                 "test_dev_native.test_native_module_for_another_arch_is_refused",
                 "test_dev_native.test_native_module_for_another_micropython_is_refused",
                 "test_dev_model.test_decode_step_heap_locked",
                 "test_dev_stream.test_big_model_streams_and_generates"):
        assert "PASS " + name in out, (name, out[-4000:])
    for q in ("q8_0", "q4_0", "q4_1"):
        assert "%s.gguf: 3 positions x " % q in out, out
    last = out.strip().splitlines()[-1]
    assert last.endswith(" 0 failed") and "skipped" not in last, last
    assert bd.arch in err


@pytest.mark.slow
def test_hwtest_emulated_one_line_per_board_and_total():
    """make hwtest-emulated's report, on two boards and one test each (the full run is the
    make target)."""
    for board in ("qemu-m3", "qemu-rv32"):
        _need(board)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "host_tools", "harness", "hwtest_emulated.py"),
                        "--boards", "qemu-m3,qemu-rv32", "-k", "test_dev_native.test_kernels_picked"],
                       capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    assert lines[0].split() == ["board", "arch", "backend", "passed", "failed"], lines
    assert lines[1].split() == ["qemu-m3", "armv7m", "native", "1", "0"], lines
    assert lines[2].split() == ["qemu-rv32", "rv32imc", "native", "1", "0"], lines
    assert lines[-1] == "2 passed, 0 failed", lines
    bad = subprocess.run([sys.executable, os.path.join(ROOT, "host_tools", "harness", "hwtest_emulated.py"),
                          "--boards", "qemu-z80"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 2 and "unknown board qemu-z80" in bad.stderr, bad.stderr
