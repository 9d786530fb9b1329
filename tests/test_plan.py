"""host_tools/plan.py: verdicts for every board profile and the shipped models, the
suggestions it computes, its bad-input messages, and the predicted peak against the heap
the unix MicroPython really uses."""
import json
import os
import subprocess
import sys

import pytest

from testutil import ROOT, run_micropython_file

from nanollm_host import testmodels
import plan as planner
from nanollm import plan as P

PLAN = os.path.join(ROOT, "host_tools", "plan.py")
BOARDS = ["esp32", "esp32c3", "esp32s3", "qemu-m0", "rp2040", "rp2350", "unix"]


def plan_cli(*args):
    r = subprocess.run([sys.executable, PLAN] + list(args), capture_output=True, text=True, timeout=300, cwd=ROOT)
    return r.returncode, r.stdout, r.stderr


def shipped_models():
    out = {"fixture_q8_0": testmodels.fixture_model(), "big_q8_0": testmodels.big_model()}
    if os.path.exists(testmodels.DEFAULT_MODEL):
        out["default"] = testmodels.DEFAULT_MODEL
    return out


@pytest.fixture(scope="module")
def models():
    return shipped_models()


def test_every_board_profile_is_complete():
    assert sorted(planner.board_names()) == BOARDS
    for name in BOARDS:
        b = planner.load_board(name)
        for key in ("ram_bytes", "free_heap_bytes", "fs_bytes", "cpu", "clock_mhz", "native_arch", "sources"):
            assert key in b, (name, key)
        assert b["native_arch"] in ("armv6m", "armv7emsp", "xtensawin", "rv32imc", "x64")
        assert 0 < b["free_heap_bytes"] <= b["ram_bytes"] + b.get("psram_bytes", 0)
        for key in ("ram_bytes", "free_heap_bytes", "native_arch"):
            assert key in b["sources"], (name, key)


@pytest.mark.parametrize("model", ["fixture_q8_0", "big_q8_0", "default"])
def test_verdicts_for_every_board(models, model):
    if model not in models:  # lib/nanollm/model.gguf has not landed yet: the fixture stands in
        model = "fixture_q8_0"
    rc, out, err = plan_cli(models[model], "--board", "all", "--json")
    assert rc in (0, 1), err
    res = json.loads(out)
    assert [r["board"] for r in res] == BOARDS
    info = planner.read_model(models[model])
    for r in res:
        b = planner.load_board(r["board"])
        # the verdict is the formula: code + plan peak + headroom against the profile's free heap
        ev = planner.evaluate(info, b)
        assert r["peak"] == ev["code"] + ev["plan"]["peak"] + P.HEADROOM
        # and, where the profile gives the largest free piece, the run state fits in it
        in_one_piece = ev["block"] is None or ev["plan"]["state_block"] <= ev["block"]
        assert r["heap_fits"] == (r["peak"] <= b["free_heap_bytes"] and in_one_piece)
        assert r["fits"] == (r["heap_fits"] and r["file_fits"])
        assert r["verdict"].startswith("fits, " if r["fits"] else "does not fit")
        if not r["heap_fits"]:
            assert r["verdict"].startswith("does not fit by " if r["peak"] > b["free_heap_bytes"] else
                                           "does not fit: its run state needs one piece of ")
            assert r["suggestions"] or "nothing smaller fits" in r["verdict"]
    byname = {r["board"]: r for r in res}
    # the PSRAM board and the host hold every shipped model
    assert byname["esp32s3"]["fits"] and byname["unix"]["fits"]
    assert rc == (0 if all(r["fits"] for r in res) else 1)


def test_file_larger_than_the_filesystem_does_not_fit(models, monkeypatch, capsys):
    """Issue 15, item 6: a model whose file the board's flash cannot hold used to get "fits,
    N KB to spare" with the refusal only further along the line."""
    model = models["big_q8_0"]
    size = os.path.getsize(model)
    s3 = planner.load_board("esp32s3")   # 8 MB of PSRAM: the heap holds the model easily
    small_flash = dict(s3, fs_bytes=size // 2)
    monkeypatch.setattr(planner, "load_board", lambda name: small_flash if name == "esp32s3" else s3)
    assert planner.main([model, "--board", "esp32s3"]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("does not fit: the file (%d KB) is larger than the board's %d KB filesystem"
                           % ((size + 1023) // 1024, (size // 2 + 1023) // 1024)), last
    assert "the heap would have" in last and "to spare" in last
    assert planner.main([model, "--board", "esp32s3", "--json"]) == 1
    r = json.loads(capsys.readouterr().out)
    assert (r["fits"], r["heap_fits"], r["file_fits"]) == (False, True, False)
    # short of heap and of flash: both said, the heap first (its suggestions apply)
    tiny = dict(small_flash, free_heap_bytes=60000)
    monkeypatch.setattr(planner, "load_board", lambda name: tiny)
    assert planner.main([model, "--board", "esp32s3"]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("does not fit by ") and "; and the file (" in last, last


def test_output_to_a_closed_pipe_ends_quietly(models):
    """Issue 15, item 6: `plan.py ... | head` ended in a BrokenPipeError traceback."""
    p = subprocess.Popen([sys.executable, PLAN, models["fixture_q8_0"], "--board", "all"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before the tool writes its first line
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) in (0, 1)
    assert err == "", err


def test_suggested_ctx_is_the_largest_that_fits(models):
    # a heap just short of the full-context need: the planner must find the right ctx
    info = planner.read_model(models["big_q8_0"])
    b = dict(planner.load_board("rp2040"))
    full = planner.evaluate(info, b)
    b["free_heap_bytes"] = full["total"] - 3000
    assert not planner.evaluate(info, b)["fits"]
    sugg = planner.suggest(info, b, info["shape"]["n_ctx"], "mpy")
    assert sugg and sugg[0].startswith("--ctx ")
    c = int(sugg[0].split()[1])
    assert planner.evaluate(info, b, c)["fits"]
    assert not planner.evaluate(info, b, c + 1)["fits"]


def test_report_text(models):
    rc, out, err = plan_cli(models["fixture_q8_0"], "--board", "esp32s3", "--ctx", "32")
    assert rc == 0, err
    for label in ("weights in RAM", "KV cache", "activations", "tokenizer", "runtime code", "peak"):
        assert label in out
    assert "context 32 of" in out
    assert out.strip().splitlines()[-1].startswith("fits, ")


def test_q4_0_suggestion(models):
    info = planner.read_model(models["big_q8_0"])
    q4 = planner.requantized(info, "q4_0")
    assert sum(m.nbytes for m in q4["mats"]) * 34 == sum(m.nbytes for m in info["mats"]) * 18
    b = dict(planner.load_board("rp2350"))
    need8 = planner.evaluate(info, b, stream=False)["total"]
    need4 = planner.evaluate(q4, b, stream=False)["total"]
    b["free_heap_bytes"] = (need8 + need4) // 2
    ev = planner.evaluate(info, b, stream=False)
    assert not ev["fits"]
    sugg = planner.suggest(info, b, ev["ctx"], "mpy", stream=False)
    assert "q4_0" in sugg, sugg
    assert planner.evaluate(q4, b, stream=False)["fits"]
    rc, out, err = plan_cli(models["big_q8_0"], "--board", "rp2350", "--stream", "none")
    assert rc == 1 and "does not fit by" in out and "--stream auto" in out, out


def test_bad_input(tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all" * 10)
    for args, text in (((str(tmp_path / "missing.gguf"),), "does not exist"),
                       ((str(junk),), "junk.gguf"),
                       ((testmodels.fixture_model(), "--board", "nope"), "unknown board 'nope'"),
                       ((testmodels.fixture_model(), "--ctx", "100000"), "--ctx 100000")):
        rc, out, err = plan_cli(*args)
        assert rc == 2, (args, out, err)
        assert text in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("which,ctx", [("fixture_q8_0", 64), ("fixture_q8_0", 16), ("big_q8_0", 64)])
def test_predicted_peak_within_10_percent_on_unix(models, which, ctx):
    """Code + model: what the planner says the unix port needs, against gc.mem_alloc deltas."""
    # weights streamed on both sides: what stays resident with stream=None depends on the
    # largest free piece of the heap at load, which only the board knows
    code_m, model_m, peak = map(int, run_micropython_file("measure_load.py", [models[which], ctx, "all"]).split())
    b = planner.load_board("unix")
    ev = planner.evaluate(planner.read_model(models[which]), b, ctx, "py", stream=True)
    predicted = ev["code"] + ev["plan"]["peak"]
    measured = code_m + model_m
    print("\n%s ctx %d: predicted %d (code %d + model %d), measured %d (code %d + model %d)"
          % (which, ctx, predicted, ev["code"], ev["plan"]["peak"], measured, code_m, model_m))
    assert ev["plan"]["peak"] == peak
    assert abs(predicted - measured) <= 0.10 * measured
    assert abs(peak - model_m) <= 0.10 * model_m
