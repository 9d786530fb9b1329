"""Weights in place (issue 14, item 1): a model on a ROMFS (MicroPython's VfsRom, the unix
port's, mounted from a bytes object) is used where it lies, with no weight bytes on the heap,
and gives the same logits as the same file streamed or loaded into RAM."""
import os

import pytest

from nanollm import plan as P
from testutil import run_micropython_file

from nanollm_host import romfs

IDS = [5, 9, 2, 7, 11, 4]


@pytest.fixture(scope="module")
def models(fixture_gguf):
    return {t: fixture_gguf("gpt2_trained", t) for t in ("q8_0", "q4_0", "q4_1", "f16")}


def native_dir(tmp_path):
    # a folder holding the x64 native module (make native), for the C kernels' runs
    import shutil
    import subprocess
    import sys
    from testutil import ROOT
    r = subprocess.run(["make", "-s", "native", "PY=" + sys.executable], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    d = tmp_path / "natmod"
    d.mkdir()
    shutil.copy(os.path.join(ROOT, "build", "natmod", "nanollm_native_x64.mpy"), d / "nanollm_native.mpy")
    return d


def run_in_place(tmp_path, model, backend):
    img = tmp_path / "rom.img"
    romfs.write_image({"models/m.gguf": model}, str(img))
    path = [native_dir(tmp_path)] if backend == "native" else []
    out = run_micropython_file("in_place_logits.py", [img, "models/m.gguf", backend, ",".join(map(str, IDS))],
                               path=path)
    loads = {}
    cur = None
    locked = None
    for ln in out.strip().splitlines():
        w = ln.split()
        if w[0] == "LOAD":
            cur = w[1]
            loads[cur] = {"placement": w[2].replace("_", " "), "in_place": int(w[3]), "in_ram": int(w[4]),
                          "kept": int(w[5]), "vectors_in_file": w[6] == "1", "logits": []}
        elif w[0] == "LOCKED":
            locked = int(w[1]) if locked is None else max(locked, int(w[1]))
        else:
            loads[cur]["logits"].append(w)
    return loads, locked


@pytest.mark.parametrize("t,backend", [("q8_0", "viper"), ("q8_0", "native"), ("q4_0", "viper"),
                                       ("q4_1", "python"), ("q4_1", "native"), ("f16", "auto")])
def test_in_place_streamed_and_in_ram_agree(tmp_path, models, t, backend):
    loads, locked = run_in_place(tmp_path, models[t], backend)
    inplace, streamed, ram = loads["None"], loads["True"], loads["False"]
    assert inplace["placement"] == "in place" and streamed["placement"] == "streamed" and ram["placement"] == "in RAM"
    weights = inplace["in_place"]
    assert weights > 50000 and inplace["in_ram"] == 0 and ram["in_ram"] == weights
    # bit-identical logits, whatever the weights' placement, with the norm weights and biases in
    # RAM (the heap here has room for them) or left in the file and converted per token
    file_inplace, file_streamed = loads["None+file"], loads["True+file"]
    integer = t != "f16"
    assert not inplace["vectors_in_file"] and not streamed["vectors_in_file"] and not ram["vectors_in_file"]
    assert file_inplace["vectors_in_file"] == file_streamed["vectors_in_file"] == integer
    assert len(inplace["logits"]) == len(IDS)
    assert inplace["logits"] == streamed["logits"] == ram["logits"] == file_inplace["logits"] \
        == file_streamed["logits"]
    # the heap: the in-place load keeps no weight bytes (the RAM load keeps them all on top of
    # the same run state), and it holds less than the streamed load (no stream buffer); with
    # the vectors in the file, less again
    assert ram["kept"] - inplace["kept"] >= weights
    assert inplace["kept"] < streamed["kept"]
    if integer:
        assert file_inplace["kept"] < inplace["kept"] - 4096 and file_streamed["kept"] < streamed["kept"] - 4096
    assert locked == (0 if t != "f16" else None)  # the float path makes floats: no heap lock there


def test_plan_in_place_counts_no_weight_ram(models):
    from nanollm.gguf import GGUFFile
    from nanollm import gpt2
    gf = GGUFFile(models["q8_0"])
    try:
        mats = [gf.tensors[n] for n in gpt2.matrix_names(gf.kv["gpt2.block_count"], tied=True)]
        shape = {"n_vocab": gf.tensors["token_embd.weight"].shape[1], "n_embd": gf.kv["gpt2.embedding_length"],
                 "n_ff": gf.kv["gpt2.feed_forward_length"], "n_layer": gf.kv["gpt2.block_count"],
                 "n_head": gf.kv["gpt2.attention.head_count"], "n_ctx": gf.kv["gpt2.context_length"]}
        assert gf.mem is None  # CPython's files are not memory: the loader reads them
    finally:
        gf.close()
    total = sum({t.name: t.nbytes for t in mats}.values())
    ram = P.plan_model(shape, mats, True, shape["n_ctx"], free=10 ** 9)
    placed = P.plan_model(shape, mats, True, shape["n_ctx"], free=10 ** 9, in_place=True)
    tight = P.plan_model(shape, mats, True, shape["n_ctx"], free=ram["peak"] // 2 + 20000)
    assert ram["placement"] == "in RAM" and ram["weights_resident"] == total
    assert placed["placement"] == "in place" and placed["weights_in_place"] == total
    assert placed["weights_resident"] == placed["weights_streamed"] == placed["stream_buffer"] == 0
    assert placed["peak"] == ram["peak"] - total
    # the norm weights and biases stay in RAM while that fits; on a heap where it does not,
    # they stay in the file too (converted per token) and the plan fits
    assert not ram["vectors_per_token"] and not placed["vectors_per_token"]
    small = placed["peak"] + P.HEADROOM - 1
    in_file = P.plan_model(shape, mats, True, shape["n_ctx"], free=small, in_place=True)
    assert in_file["vectors_per_token"] and in_file["vectors"] < placed["vectors"] // 4
    assert in_file["peak"] == placed["peak"] - placed["vectors"] + in_file["vectors"] and P.fits(in_file, small)
    # also when the piece is what is short
    piece = P.plan_model(shape, mats, True, shape["n_ctx"], free=10 ** 9, in_place=True,
                         block=placed["state_block"] - 1)
    assert piece["vectors_per_token"] and piece["state_block"] < placed["state_block"]
    assert tight["placement"] in ("streamed", "in RAM and streamed") and tight["weights_in_place"] == 0
    # asking for a stream or a copy in RAM still gets one from a file in memory
    assert P.plan_model(shape, mats, True, shape["n_ctx"], stream=True, in_place=True)["placement"] == "streamed"
    assert P.plan_model(shape, mats, True, shape["n_ctx"], stream=False, in_place=True)["placement"] == "in RAM"


def test_plan_tool_in_place(models):
    import plan as planner
    info = planner.read_model(models["q8_0"])
    b = dict(planner.load_board("rp2040"))
    streamed = planner.evaluate(info, b)
    placed = planner.evaluate(info, b, in_place=True)
    assert placed["plan"]["placement"] == "in place" and placed["plan"]["stream_buffer"] == 0
    assert placed["total"] < streamed["total"]
    # a heap that holds the model only without its weights: --in-place is what to try
    b["free_heap_bytes"] = placed["total"] + 1000
    b["fs_bytes"] = None
    b.pop("largest_free_piece_bytes", None)  # measured on the profile's heap, not this one
    assert not planner.evaluate(info, b, stream=False)["heap_fits"]
    assert any(s.startswith("--in-place") for s in planner.suggest(info, b, info["shape"]["n_ctx"], "mpy", stream=False))
    import subprocess, sys, os
    from testutil import ROOT
    r = subprocess.run([sys.executable, os.path.join(ROOT, "host_tools", "plan.py"), models["q8_0"], "--board", "esp32s3",
                        "--in-place"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "weights in place" in r.stdout and r.stdout.strip().splitlines()[-1].startswith("fits, ")
