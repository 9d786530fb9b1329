"""Bad input to the library's API and to the host tools: one clear error each, the module
usable afterwards, no partial output file after a failure, Ctrl-C or a full disk.

The case tables (SETTINGS and TOOLS in host_tools/harness/bad_inputs.py, fuzz.NAMED for
model files) are what host_tools/gen/gen_error_table.py turns into docs/errors.md; a test
checks that file is current.
"""
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from testutil import FIXTURES, HOST_TOOLS, ROOT, ctrl_c_as_at_a_terminal, run_micropython_file

from harness import fuzz
from harness import settings_runner
from harness.bad_inputs import SETTINGS, TOOLS, run_settings_cpython, run_tool_inprocess
from nanollm_host import gguf_model as gm
import nanollm

@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    d = tmp_path_factory.mktemp("micro")
    ps = fuzz.make_micro_model(str(d), FIXTURES, ("q8_0", "f32"))
    os.rename(ps["q8_0"], str(d / "model.gguf"))
    os.rename(ps["f32"], str(d / "model-f32.gguf"))
    return str(d / "model.gguf"), str(d / "model-f32.gguf")


def test_settings_cpython(micro):
    res = run_settings_cpython(*micro)
    assert len(res) == len(SETTINGS)
    for (what, code, pat), (st, msg) in zip(SETTINGS, res):
        assert st == "err" and re.search(pat, msg) and "\n" not in msg, (what, st, msg)


def test_settings_micropython_same_messages(micro, tmp_path):
    path, f32_path = micro
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([c for _, c, _ in SETTINGS]))
    out = run_micropython_file(settings_runner.__file__, [str(cases), os.path.basename(path), os.path.basename(f32_path)],
                               heapsize="2M", cwd=os.path.dirname(path))
    res = json.loads([ln for ln in out.splitlines() if ln.startswith("RESULT")][0][7:])
    want = run_settings_cpython(path, f32_path)
    for (what, _, pat), got, cp in zip(SETTINGS, res, want):
        assert got[0] == "err" and re.search(pat, got[1]), (what, got)
        assert got[1] == cp[1], (what, got[1], cp[1])


def test_max_new_tokens_huge_stops_at_context_and_temperature_0_is_greedy(micro):
    m = nanollm.load(micro[0])
    positions = []
    forward = m.forward
    m.forward = lambda t, p, logits=True: (positions.append(p), forward(t, p, logits))[1]
    a = m.generate("hi", max_new_tokens=10 ** 9, temperature=0)
    assert positions == list(range(len(positions))) and 2 < len(positions) <= m.n_ctx
    b = m.generate("hi", max_new_tokens=10 ** 9, temperature=0, seed=5, top_k=3, top_p=0.5)
    assert a == b  # greedy ignores the sampling settings and the seed
    nanollm._default = None


# ------------------------------------------------------------------ memory on the device

def test_memory_error_during_load_then_smaller_model(micro, tmp_path):
    big = str(tmp_path / "gpt2_tiny_f32.gguf")
    from nanollm_host.gguf_model import convert_checkpoint
    convert_checkpoint(os.path.join(FIXTURES, "gpt2_tiny"), big, "f32")
    # (a heap where the big model's own context does not fit beside the small model: 300 KB
    # did until the load-time code was dropped after each load)
    out = run_micropython_file("oom_then_smaller_model.py", [big, micro[0]], heapsize="260k")
    lines = dict(ln.split(" ", 1) for ln in out.strip().splitlines())
    assert "LOADED" not in lines, out
    assert re.search(r"out of memory while loading: .* does not fit: needs \d+ KB, \d+ KB free", lines["ERR"]), out
    assert lines["OK"] == "320 True", out
    # refused by the plan at the model's own context, with the plan's numbers and what fits
    assert re.search(r"does not fit: needs \d+ KB.*, \d+ KB free .*; ctx=\d+ fits \(of 64\)", lines["PLAN"]), out
    need, free = [int(x) for x in re.search(r"needs (\d+) KB, (\d+) KB free", lines["ERR"]).groups()]
    assert need > free  # the numbers are the real ones


@pytest.mark.parametrize("what", [w for w, _, _, _ in TOOLS])
def test_tool_bad_input_in_process(what, micro, tmp_path):
    _, tool, setup, pat = [t for t in TOOLS if t[0] == what][0]
    argv = setup(str(tmp_path), micro[0])
    before = set(os.listdir(str(tmp_path)))
    rc, err = run_tool_inprocess(tool, argv)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc in (1, 2), (rc, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(pat, lines[0]), lines[0]
    after = set(os.listdir(str(tmp_path)))
    assert not [n for n in after - before if n.endswith((".gguf", ".tmp"))], after - before


def test_tools_as_commands_exit_cleanly(micro, tmp_path):
    """The same through the real command line: exit status and stderr, no traceback."""
    for what in ("convert: safetensors header corrupt", "quantize: input header count huge", "plan: model truncated"):
        _, tool, setup, pat = [t for t in TOOLS if t[0] == what][0]
        d = tmp_path / tool
        d.mkdir()
        argv = setup(str(d), micro[0])
        r = subprocess.run([sys.executable, os.path.join(HOST_TOOLS, tool + ".py")] + argv,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode in (1, 2) and "Traceback" not in r.stderr, (what, r.returncode, r.stderr)
        assert re.search(pat, r.stderr.strip().splitlines()[-1]), r.stderr


def test_tools_on_fuzzed_gguf(micro, tmp_path):
    """Mutants of a model through the host-side reader (quantize, check): ToolError or load."""
    bases = [("micro_q8_0", micro[0])]
    n = loaded = 0
    for i, name, descr, data in fuzz.generate_cases(bases, 150, seed=77, fixture_share=0):
        p = str(tmp_path / "m.gguf")
        with open(p, "wb") as f:
            f.write(data)
        try:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gm.load_gguf(p)
            loaded += 1
        except gm.ToolError as e:
            assert str(e) and "\n" not in str(e), (descr, str(e))
        n += 1
    assert n == 150 and 0 < loaded < n


# ------------------------------------------------------------------ interrupted and full-disk writes

_SLOW_WRITE = r"""
import sys, time
import gguf
real = gguf.GGUFWriter.write_tensors_to_file
def slow(self, *a, **k):
    real(self, *a, **k)   # the temporary file is complete on disk now: stop before the rename
    print('WRITING', flush=True)
    time.sleep(60)
gguf.GGUFWriter.write_tensors_to_file = slow
from nanollm_host import gguf_model as gm
import %(tool)s as tool
sys.exit(gm.run_tool(tool.main, %(argv)r, prog=%(tool)r + '.py'))
"""


@pytest.mark.parametrize("tool", ["convert", "quantize"])
def test_ctrl_c_mid_write_leaves_old_output_and_no_temp(tool, micro, tmp_path):
    out = tmp_path / "out.gguf"
    out.write_bytes(b"the previous output")
    if tool == "convert":
        argv = [os.path.join(FIXTURES, "gpt2_tiny"), str(out), "--outtype", "q8_0"]
    else:
        argv = [micro[1], str(out), "q8_0"]
    p = subprocess.Popen([sys.executable, "-c", _SLOW_WRITE % dict(tool=tool, argv=argv)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=ctrl_c_as_at_a_terminal)
    try:
        line = p.stdout.readline()
        assert "WRITING" in line, (line, p.stderr.read() if p.poll() is not None else "")
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, (p.returncode, err)
    assert err.strip().splitlines() == ["%s.py: interrupted (no output written)" % tool], err
    assert out.read_bytes() == b"the previous output"
    assert sorted(os.listdir(str(tmp_path))) == ["out.gguf"]


def test_full_disk_simulated(micro, tmp_path, monkeypatch):
    """The disk fills up half-way through the tensors (works without root)."""
    import errno
    import gguf
    real = gguf.GGUFWriter.write_tensors_to_file

    def full(self, *a, **k):
        for f in self.fout or []:
            f.write(b"\0" * 4096)  # part of the data went out
            f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", full)
    out = tmp_path / "out.gguf"
    rc, err = run_tool_inprocess("quantize", [micro[1], str(out), "q8_0"])
    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", real)
    assert rc == 2 and re.search(r"cannot write .*out.gguf: No space left on device", err), err
    assert os.listdir(str(tmp_path)) == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A 48 KB tmpfs (root only); skipped where mounting is not allowed -- the simulated
    test above covers the same path everywhere."""
    d = tmp_path / "disk"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(d)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % r.stderr.decode().strip())
    yield d
    subprocess.run(["umount", str(d)], check=False)


def test_full_disk_real_tmpfs(micro, tiny_disk):
    out = tiny_disk / "out.gguf"
    for tool, argv in (("convert", [os.path.join(FIXTURES, "gpt2_tiny"), str(out), "--outtype", "f32"]),
                       ("quantize", [micro[1], str(out), "f32"])):
        r = subprocess.run([sys.executable, os.path.join(HOST_TOOLS, tool + ".py")] + argv,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "No space left on device" in r.stderr.strip().splitlines()[-1], r.stderr
        assert os.listdir(str(tiny_disk)) == [], os.listdir(str(tiny_disk))


def test_output_file_mode_like_open(micro, tmp_path):
    out = tmp_path / "out.gguf"
    rc, err = run_tool_inprocess("quantize", [micro[1], str(out), "q8_0"])
    assert rc == 0, err
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(str(out)).st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------------------ docs/errors.md

def test_error_table_is_current():
    from gen import gen_error_table
    want = gen_error_table.render()
    with open(os.path.join(ROOT, "docs", "errors.md"), encoding="utf-8") as f:
        have = f.read()
    assert have == want, "docs/errors.md is stale: run `make errors-doc` (host_tools/gen/gen_error_table.py)"
