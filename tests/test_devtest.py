"""host_tools/harness/devtest.py: the on-device tests under the unix micropython directly, and
through mpremote on stand-in boards (the unix port on a socat PTY; the emulated Cortex-M0
when `make firmware-qemu` has built it), plus the runner's bad-input handling."""
import os
import subprocess
import sys

import pytest

from testutil import DEVICE_TESTS, ROOT, run_micropython_file

from harness import devtest
from harness import emulator
from nanollm_host import testmodels

DEVTEST = os.path.join(ROOT, "host_tools", "harness", "devtest.py")
QEMU_ELF = emulator.QEMU_FIRMWARE


def devtest_run(*args, timeout=900):
    r = subprocess.run([sys.executable, DEVTEST] + list(args), capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture(scope="module")
def models():
    return testmodels.default_model(), testmodels.big_model()


def test_device_tests_under_unix_micropython(models):
    """The harness itself on the unix port, with a heap smaller than the big model."""
    out = run_micropython_file("device_tests.py", ["--model", models[0], "--big-model", models[1],
                                                   "test_dev_model", "test_dev_stream"],
                               heapsize="512k", path=[DEVICE_TESTS])
    assert "@@DT END 9 0 0" in out, out
    assert "@@DT FAIL" not in out


def test_stand_in_unix_runs_every_device_test(models):
    """With the x64 .mpy copied (make native-all is a test prerequisite) and expected."""
    rc, out, err = devtest_run("--emulate", "unix", "--heap", "512k", "--expect-backend", "native",
                               "--quant-models")
    assert rc == 0, out + err
    assert out.strip().splitlines()[-1] == "13 passed, 0 failed", out
    assert "PASS test_dev_stream.test_big_model_streams_and_generates" in out
    assert "PASS test_dev_native.test_logits_native_equal_viper_every_block_type" in out
    assert "PASS test_dev_native.test_native_module_for_another_arch_is_refused" in out
    assert "copying" in err  # progress is shown


def test_pattern_selects_tests():
    rc, out, err = devtest_run("--emulate", "unix", "--no-big-model", "-k", "backend")
    assert rc == 0, out + err
    assert out.strip().splitlines()[-1] == "1 passed, 0 failed", out


def test_failing_test_gives_exit_1(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_ok():\n    pass\n\ndef test_bad():\n    assert 1 == 2, 'one is not two'\n")
    rc, out, err = devtest_run("--emulate", "unix", "--no-big-model", "--tests", str(tmp_path))
    assert rc == 1, out + err
    assert "FAIL test_x.test_bad: AssertionError: one is not two" in out
    assert out.strip().splitlines()[-1] == "1 passed, 1 failed"


def test_unknown_board_name():
    rc, out, err = devtest_run("--emulate", "unix", "--board", "pico9000")
    assert rc == 2
    assert "unknown board 'pico9000'" in err and "rp2040" in err
    assert len(err.strip().splitlines()) == 1


def test_no_board_at_port(tmp_path):
    rc, out, err = devtest_run("--device", str(tmp_path / "ttyNOPE"))
    assert rc == 2
    assert "no board at" in err and len(err.strip().splitlines()) == 1


def test_device_that_is_not_micropython(tmp_path):
    link = str(tmp_path / "tty")
    p = subprocess.Popen(["socat", "PTY,link=%s,rawer,echo=0" % link, "EXEC:sleep 60"])
    try:
        import time
        for _ in range(100):
            if os.path.exists(link):
                break
            time.sleep(0.05)
        rc, out, err = devtest_run("--device", link, "--connect-timeout", "2")
    finally:
        p.terminate()
        p.wait()
    assert rc == 3, out + err
    assert "no MicroPython raw REPL" in err


def test_board_that_hangs_times_out(tmp_path):
    (tmp_path / "test_hang.py").write_text("def test_forever():\n    while True:\n        pass\n")
    rc, out, err = devtest_run("--emulate", "unix", "--no-big-model", "--tests", str(tmp_path), "--timeout", "3")
    assert rc == 3, out + err
    assert "FAIL test_hang.test_forever: the board stopped answering" in out
    assert out.strip().splitlines()[-1] == "0 passed, 1 failed"


def test_board_that_resets(tmp_path):
    # the unix port ends on sys.exit(): for the runner that is a board gone mid-test
    (tmp_path / "test_reset.py").write_text("def test_reset():\n    import sys\n    sys.exit(0)\n")
    rc, out, err = devtest_run("--emulate", "unix", "--no-big-model", "--tests", str(tmp_path), "--timeout", "20")
    assert rc == 3, out + err
    assert "FAIL test_reset.test_reset" in out and "during test_reset.test_reset" in out
    assert "error: " in out


def test_full_filesystem_on_copy():
    rc, out, err = devtest_run("--emulate", "unix", "--fs-kb", "256")
    assert rc == 2, out + err
    assert "filesystem is full" in err and "KB free" in err


def test_small_heap_and_filesystem_as_asked(tmp_path):
    """Issue 15, item 7: `--heap 192k --fs-kb 1408` (an RP2040's figures) made no filesystem,
    silently (its blocks did not fit the 192 KB heap they were taken from), and the tests
    then ran on the host's disk ("235447012 KB free"). The blocks live outside the heap now."""
    (tmp_path / "test_fs.py").write_text(
        "def test_fs():\n    import os, gc\n    st = os.statvfs('.')\n"
        "    print('FS', st[0] * st[2], 'HEAP', gc.mem_free() + gc.mem_alloc())\n")
    rc, out, err = devtest_run("--emulate", "unix", "--heap", "192k", "--fs-kb", "1408", "--no-model",
                               "--no-big-model", "--tests", str(tmp_path), timeout=300)
    assert rc == 0, out + err
    fs, heap = [ln.split() for ln in out.splitlines() if ln.startswith("FS ")][0][1::2]
    assert int(fs) == 1408 * 1024 and int(heap) <= 192 * 1024, out
    free = int(err.split(" KB free on its filesystem")[0].rsplit(", ", 1)[1])
    assert 1000 < free <= 1408, err


def test_filesystem_that_cannot_be_made_is_an_error(monkeypatch):
    """A boot-time failure of the filesystem stops the stand-in with the reason."""
    monkeypatch.setattr(emulator, "_BLOCKFS", emulator._BLOCKFS.replace(
        "vfs.VfsLfs2.mkfs(_bd)", "raise MemoryError('memory allocation failed, allocating 1441792 bytes')"))
    em = emulator.UnixStandIn(heap="192k", fs_kb=1408)
    with pytest.raises(emulator.EmulatorError, match=r"could not make its 1408 KB filesystem: "
                                                     r"MemoryError: memory allocation failed"):
        em.start()
    assert not em.alive()


def test_small_filesystem_that_fits(models):
    rc, out, err = devtest_run("--emulate", "unix", "--fs-kb", "1024", "--heap", "4m", "--no-big-model", "-k", "greedy")
    assert rc == 0, out + err
    assert "1 passed, 0 failed" in out


@pytest.mark.slow
@pytest.mark.parametrize("session", ["default_model", "big_model"])
def test_stand_in_qemu_cortex_m0(session):
    """The real on-device tests on the emulated Cortex-M0 (256 KB RAM, ~190 KB heap). The
    flash filesystem (808 KB) holds one model at a time: the default model's tests, then a
    model ~3.6x the free heap that must stream. The firmware has the runtime frozen in (its
    code in flash); the default model runs weights streamed at the largest context the heap
    holds: its run state is one block, and after the tests' imports the largest free piece
    of this heap (61 KB of 155 KB free) is short of ctx 128's 93 KB block."""
    assert os.path.exists(QEMU_ELF), "build/firmware/qemu/firmware.elf is missing: `make firmware-qemu` (a TEST_DEP)"
    if session == "default_model":
        args = ["--no-big-model", "--stream", "-k", "test_dev_model"]
    else:
        args = ["--no-model", "--big-ff", "448", "-k", "test_dev_stream"]
    rc, out, err = devtest_run("--emulate", "qemu", "--board", "qemu-m0", *args, timeout=900)
    print(out[-3000:], err[-1500:])
    assert rc == 0, out + err
    last = out.strip().splitlines()[-1]
    assert last.endswith(" 0 failed") and not last.startswith("0 passed"), last
    assert "arch armv6m" in err
    if session == "big_model":
        assert "PASS test_dev_stream.test_big_model_streams_and_generates" in out
    else:
        assert "PASS test_dev_model.test_decode_step_heap_locked" in out
        assert "PASS test_dev_model.test_plan_matches_measured_heap" in out
        assert "PASS test_dev_model.test_generate_sampled_with_callback" in out
