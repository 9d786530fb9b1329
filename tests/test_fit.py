"""The run state in one block, the plan as the truth, and a model that fits itself (issue 11):
loads at the edge of the heap on the unix port, a failed load returning every byte,
Model ownership of its file, ctx chosen automatically."""
import re

import pytest

from nanollm_host import install
from testutil import ROOT, run_micropython_file

import os

DEFAULT = os.path.join(ROOT, "lib", "nanollm", "model.gguf")
HEAPS = ["%dk" % k for k in range(200, 461, 20)]


@pytest.fixture(scope="module")
def mpy_x64():
    """The package compiled for x64 (.mpy), as a board would get it for its architecture."""
    return install.compiled_package_dir("x64")


def _boundary(heap, path=()):
    out = run_micropython_file("load_boundary.py", [DEFAULT], heapsize=heap, path=path)
    return [ln for ln in out.splitlines() if not ln.startswith("nanollm: ctx=")], out


@pytest.mark.parametrize("form", ["mpy", "py"])
def test_a_heap_the_plan_accepts_always_loads_and_generates(form, mpy_x64):
    """From a heap too small for anything to one that holds the whole context: the plan
    picks the context and the load and sampled generation succeed, or the plan refuses with
    its numbers; an allocation never fails after the plan said yes."""
    loaded = []
    for heap in HEAPS:
        lines, out = _boundary(heap, [mpy_x64] if form == "mpy" else [])
        first = lines[0]
        assert "MemoryError" not in out, (heap, out)
        if first.startswith("LOADED"):
            ctx, planned, free0, taken = map(int, first.split()[1:])
            assert lines[1] == "GEN context_full context_full" or lines[1].startswith("GEN "), (heap, out)
            assert "OOM" not in out and "GENERR" not in out, (heap, out)
            assert planned <= free0, (heap, out)
            # the plan counts what the load takes (its headroom is for generate's transients)
            peak = planned - 8192
            assert abs(peak - taken) <= 0.03 * taken, (heap, peak, taken)
            loaded.append(ctx)
        else:
            # refused by the plan, with numbers; or so short that even the index did not fit
            assert re.search(r"needs \d+ KB.*\d+ KB free|before its memory plan was made \(\d+ bytes free\)",
                             first), (heap, out)
            assert "does not fit" not in first or not first.startswith("OOM"), (heap, out)
    assert loaded and loaded == sorted(loaded), loaded  # more heap, never a smaller context
    assert loaded[-1] == 128, loaded


def test_failed_load_returns_every_byte(tmp_path):
    from nanollm_host.gguf_model import convert_checkpoint
    big = str(tmp_path / "tiny_f32.gguf")
    convert_checkpoint(os.path.join(ROOT, "tests", "fixtures", "gpt2_tiny"), big, "f32")
    out = run_micropython_file("failed_load_returns_memory.py", [big], heapsize="300k")
    lines = dict(ln.split(" ", 1) for ln in out.strip().splitlines())
    assert int(lines["REFUSED"]) == 0, out
    assert int(lines["MIDWAY"]) == 0, out
    assert re.search(r"out of memory while loading: .* needs \d+ KB, \d+ KB free", lines["MESSAGE"]), out


def test_each_model_owns_its_file_and_closes(tmp_path):
    from nanollm_host.gguf_model import convert_checkpoint
    other = str(tmp_path / "tiny_q8_0.gguf")
    convert_checkpoint(os.path.join(ROOT, "tests", "fixtures", "gpt2_tiny"), other, "q8_0")
    out = run_micropython_file("model_ownership.py", [DEFAULT, other])
    lines = dict(ln.split(" ", 1) for ln in out.strip().splitlines())
    assert lines["A"] == lines["A_AGAIN"] and lines["A"] != lines["B"], out
    assert "closed" in lines["CLOSED"], out
    assert lines["WITH"] == "128 True", out
    assert lines["GEN_CTX"] == "16", out
    assert lines["GEN_STREAM"] == "True 0", out


def test_ctx_chosen_and_said_once(mpy_x64):
    """Without ctx=, a heap too small for the model's context gets the largest that fits,
    said in one line, and Model.ctx tells it."""
    out = run_micropython_file("load_boundary.py", [DEFAULT], heapsize="220k", path=[mpy_x64])
    said = [ln for ln in out.splitlines() if ln.startswith("nanollm: ctx=")]
    assert len(said) == 1, out
    m = re.match(r"nanollm: ctx=(\d+) \(of the model's 128\) fits the \d+ KB free", said[0])
    assert m, out
    loaded = [ln for ln in out.splitlines() if ln.startswith("LOADED")][0]
    assert loaded.split()[1] == m.group(1), out


def test_out_of_memory_in_generate_is_a_nanollm_error():
    out = run_micropython_file("oom_generate.py", heapsize="400k").strip()
    assert re.match(r"ERR out of memory while generating \(\d+ bytes free; the plan kept \d+ KB", out), out
