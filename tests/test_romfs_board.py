"""The emulated Cortex-M0 board with a ROMFS partition (issue 14, item 2): booted with the
image `make romfs` builds (the runtime as armv6m .mpy and the default model), it mounts the
image at /rom, imports nanollm from there and loads the default model in place: no weight
bytes on the heap, the same logits as the file streamed from the LittleFS filesystem."""
import os
import sys

from testutil import ROOT, mpy_script

QEMU_ELF = os.path.join(ROOT, "build", "firmware", "qemu", "firmware.elf")


def test_romfs_board_imports_and_runs_in_place(tmp_path):
    import subprocess
    from harness.emulator import QemuStandIn
    from nanollm_host.board_io import Board
    from nanollm_host.paths import DEFAULT_MODEL
    from romfs import build
    if not os.path.exists(QEMU_ELF):  # a prerequisite of `make test`: build it rather than skip
        r = subprocess.run(["make", "-s", "firmware-qemu", "PY=" + sys.executable], cwd=ROOT,
                           capture_output=True, text=True, timeout=1200)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    image = build(str(tmp_path / "romfs.img"), "armv6m", log=lambda m: None)
    em = QemuStandIn(romfs=image, preload=[(DEFAULT_MODEL, "model.gguf")])
    em.start()
    try:
        b = Board(em.device, soft_reset=True, connect_timeout=30)
        b.connect()
        with open(mpy_script("romfs_board_check.py")) as f:
            out = b.exec(f.read(), timeout=600)
        b.close()
    finally:
        em.stop()
    lines = [ln.split() for ln in out.splitlines() if ln.strip()]
    imp = [w for w in lines if w[0] == "IMPORT"][0]
    assert imp[2] == "/rom/lib/nanollm/__init__.mpy" and imp[3] == "native", out
    assert int(imp[1]) < 40 * 1024, out  # .mpy bytecode runs in place; viper's machine code and qstrs take RAM
    # é a letter, — other, ½ a number: unicode_ranges.bin read through a view of /rom
    assert [w for w in lines if w[0] == "CLASSES"] == [["CLASSES", "1", "0", "2", "True"]], out
    loads = {w[1]: w for w in lines if w[0] == "LOAD"}
    rom, fs = loads["/rom/lib/nanollm/model.gguf"], loads["/model.gguf"]
    weights = int(rom[3])
    assert rom[2] == "in_place" and weights > 400 * 1024, out
    assert fs[2] == "streamed" and int(fs[3]) == 0, out
    # no weight bytes on the heap: the in-place load keeps less than the streamed one (no
    # stream buffer) and far less than its weights
    assert int(rom[4]) < int(fs[4]) and int(rom[4]) < weights // 4, out
    logits = {}
    for w in lines:
        if w[0] == "LOGITS":
            logits.setdefault(w[1], []).append(int(w[2]))
    assert len(logits["/model.gguf"]) == 3 and logits["/rom/lib/nanollm/model.gguf"] == logits["/model.gguf"], out
    assert [w[2] for w in lines if w[0] == "LOCKED"] == ["0", "0"], out
    assert [ln for ln in out.splitlines() if ln.startswith("TEXT '") and len(ln) > 10], out  # greedy text came out
