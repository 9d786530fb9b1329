"""Bad input to the library's API and to the host tools: one clear error each, the module
usable afterwards, no partial output file after a failure, Ctrl-C or a full disk.

The SETTINGS and TOOLS tables below (with fuzz.NAMED for model files) are what
host_tools/gen_error_table.py turns into docs/errors.md; a test checks that file is current.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from testutil import FIXTURES, HOST_TOOLS, LIB, ROOT, run_micropython

import fuzz
import gguf_model as gm
import nanollm
from nanollm import NanoLLMError

# ------------------------------------------------------------------ API settings
# (what, Python code run with `m` = the micro q8_0 model loaded from `path`, message regex).
# The code is plain enough to run under MicroPython too.
SETTINGS = [
    ("generate: max_new_tokens 0", "m.generate('hi', max_new_tokens=0)", r"max_new_tokens=0: must be a positive integer"),
    ("generate: max_new_tokens negative", "m.generate('hi', max_new_tokens=-5)", r"max_new_tokens=-5: must be a positive integer"),
    ("generate: max_new_tokens not an integer", "m.generate('hi', max_new_tokens=2.5)", r"max_new_tokens=2.5: must be a positive integer"),
    ("generate: top_k negative", "m.generate('hi', top_k=-1)", r"top_k=-1: must be an integer >= 0"),
    ("generate: top_k not an integer", "m.generate('hi', top_k=2.0)", r"top_k=2.0: must be an integer >= 0"),
    ("generate: top_p 0", "m.generate('hi', top_p=0)", r"top_p=0: must be in \(0, 1\]"),
    ("generate: top_p above 1", "m.generate('hi', top_p=1.5)", r"top_p=1.5: must be in \(0, 1\]"),
    ("generate: top_p NaN", "m.generate('hi', top_p=float('nan'))", r"top_p=nan: must be in \(0, 1\]"),
    ("generate: temperature negative", "m.generate('hi', temperature=-0.1)", r"temperature=-0.1: must be between 0 and 100 \(0 means greedy\)"),
    ("generate: temperature NaN", "m.generate('hi', temperature=float('nan'))", r"temperature=nan: must be between 0 and 100"),
    ("generate: temperature infinite", "m.generate('hi', temperature=float('inf'))", r"temperature=inf: must be between 0 and 100"),
    ("generate: seed not an integer", "m.generate('hi', seed='abc')", r"seed='abc': must be an integer or None"),
    ("generate: prompt not a string", "m.generate(b'hi')", r"prompt must be a string, not bytes"),
    ("generate: prompt longer than the context", "m.generate('ab ' * 40)", r"the prompt is \d+ tokens; the context holds 8, leaving no room to generate"),
    ("generate: callback not callable", "m.generate('hi', callback=5)", r"callback=5: must be a function"),
    ("load: ctx 0", "nanollm.load(path, ctx=0)", r"ctx=0: must be between 1 and the model's context length 8"),
    ("load: ctx above the model's", "nanollm.load(path, ctx=4096)", r"ctx=4096: must be between 1 and the model's context length 8"),
    ("load: ctx not an integer", "nanollm.load(path, ctx='8')", r"ctx='8': must be between 1 and"),
    ("load: unknown mode", "nanollm.load(path, mode='fast')", r"mode='fast': use 'int' or 'float'"),
    ("load: integer path on an f32 model", "nanollm.load(f32_path, mode='int')", r"the integer path needs every matrix quantized"),
    ("load: bad stream setting", "nanollm.load(path, stream='yes')", r"stream='yes': use None \(automatic\), True or False"),
    ("load: no such file", "nanollm.load(path + '.missing')", r"cannot open model file model.gguf.missing"),
    ("forward: token id outside the vocabulary", "m.forward(320, 0)", r"token id 320 is outside the vocabulary \(0..319\)"),
    ("forward: position outside the context", "m.forward(1, 8)", r"position 8 is outside the context \(0..7\)"),
    ("tokenize: not a string", "m.tokenize(b'hi')", r"tokenizer: encode\(\) takes a str, not bytes"),
    ("detokenize: id out of range", "m.detokenize([1, 99999])", r"tokenizer: token id 99999 is out of range \(vocabulary of 320\)"),
]

_SETTINGS_RUNNER = r"""
import nanollm
def run_settings(cases, path, f32_path):
    out = []
    m = nanollm.load(path)
    for code in cases:
        try:
            exec(code, {'m': m, 'nanollm': nanollm, 'path': path, 'f32_path': f32_path})
            out.append(('none', ''))
        except nanollm.NanoLLMError as e:
            out.append(('err', str(e)))
        except Exception as e:
            out.append(('bad', '%s: %s' % (type(e).__name__, e)))
        # the model stays usable: a normal generation right after the error
        if not isinstance(m.generate('hi', max_new_tokens=1, temperature=0), str):
            out.append(('bad', 'generate after the error failed'))
    # and the module loads a model afresh
    if not isinstance(nanollm.load(path).generate('hi', max_new_tokens=3, temperature=0), str):
        out.append(('bad', 'load after the errors failed'))
    return out
"""


def run_settings_cpython(path, f32_path):
    ns = {}
    exec(_SETTINGS_RUNNER, ns)
    import gc
    old = os.getcwd()
    os.chdir(os.path.dirname(path))  # messages name the file as given: keep them short
    collect = gc.collect
    gc.collect = lambda *a: 0  # the loader's collections walk the whole test process: slow, useless here
    try:
        return ns["run_settings"]([c for _, c, _ in SETTINGS], os.path.basename(path), os.path.basename(f32_path))
    finally:
        gc.collect = collect
        os.chdir(old)
        nanollm._default = None


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


def test_settings_micropython_same_messages(micro):
    path, f32_path = micro
    script = _SETTINGS_RUNNER + "\nimport json\nprint('RESULT', json.dumps(run_settings(%r, %r, %r)))\n" % (
        [c for _, c, _ in SETTINGS], os.path.basename(path), os.path.basename(f32_path))
    out = run_micropython(script, heapsize="2M", cwd=os.path.dirname(path))
    res = json.loads([ln for ln in out.splitlines() if ln.startswith("RESULT")][0][7:])
    want = run_settings_cpython(path, f32_path)
    for (what, _, pat), got, cp in zip(SETTINGS, res, want):
        assert got[0] == "err" and re.search(pat, got[1]), (what, got)
        assert got[1] == cp[1], (what, got[1], cp[1])


def test_max_new_tokens_huge_stops_at_context_and_temperature_0_is_greedy(micro):
    m = nanollm.load(micro[0])
    positions = []
    forward = m.forward
    m.forward = lambda t, p: (positions.append(p), forward(t, p))[1]
    a = m.generate("hi", max_new_tokens=10 ** 9, temperature=0)
    assert positions == list(range(len(positions))) and 2 < len(positions) <= m.n_ctx
    b = m.generate("hi", max_new_tokens=10 ** 9, temperature=0, seed=5, top_k=3, top_p=0.5)
    assert a == b  # greedy ignores the sampling settings and the seed
    nanollm._default = None


# ------------------------------------------------------------------ memory on the device

_OOM = r"""
import nanollm, gc
from nanollm import plan
real = plan.check_fits
plan.check_fits = lambda p, path: None   # skip the plan's refusal: the allocation itself fails
try:
    nanollm.load(%(big)r, stream=False)
    print('LOADED')
except nanollm.NanoLLMError as e:
    print('ERR', e)
plan.check_fits = real
# without a reset: a model that fits loads and runs
m = nanollm.load(%(small)r)
print('OK', len(m.forward(0, 0)), m.generate('hi', max_new_tokens=2, temperature=0) is not None)
# the plan's own refusal names bytes needed and free
try:
    nanollm.load(%(big)r)
except nanollm.NanoLLMError as e:
    print('PLAN', e)
"""


def test_memory_error_during_load_then_smaller_model(micro, tmp_path):
    big = str(tmp_path / "gpt2_tiny_f32.gguf")
    from convert import convert_checkpoint
    convert_checkpoint(os.path.join(FIXTURES, "gpt2_tiny"), big, "f32")
    out = run_micropython(_OOM % dict(big=big, small=micro[0]), heapsize="300k")
    lines = dict(ln.split(" ", 1) for ln in out.strip().splitlines())
    assert "LOADED" not in lines, out
    assert re.search(r"out of memory while loading .*: it needs about \d+ bytes, \d+ bytes free", lines["ERR"]), out
    assert lines["OK"] == "320 True", out
    # refused by the plan, or (when the plan's estimate is short) by the allocator: bytes either way
    assert re.search(r"does not fit: it needs \d+ bytes .* but \d+ bytes are free|"
                     r"out of memory while loading .*: it needs about \d+ bytes, \d+ bytes free", lines["PLAN"]), out
    need, free = [int(x) for x in re.findall(r"(\d+) bytes", lines["ERR"])[:2]]
    assert need > free  # the numbers are the real ones


# ------------------------------------------------------------------ host tools

def _hf_copy(tmp, edit=None):
    d = os.path.join(tmp, "hf")
    shutil.copytree(os.path.join(FIXTURES, "gpt2_tiny"), d)
    if edit:
        edit(d)
    return d


def _rewrite(path, fn):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(fn(data))


def _json_edit(name, fn):
    def edit(d):
        p = os.path.join(d, name)
        with open(p) as f:
            obj = json.load(f)
        fn(obj)
        with open(p, "w") as f:
            json.dump(obj, f)
    return edit


def _set(key, value):
    return lambda o: o.__setitem__(key, value)


def _st_header_flip(d):  # a byte of the safetensors JSON header turned into junk
    _rewrite(os.path.join(d, "model.safetensors"), lambda b: b[:20] + b"\x00\xff" + b[22:])


def _st_huge_header(d):
    _rewrite(os.path.join(d, "model.safetensors"), lambda b: (2 ** 62).to_bytes(8, "little") + b[8:])


def _st_wrong_dtype(d):
    p = os.path.join(d, "model.safetensors")
    with open(p, "rb") as f:
        b = f.read()
    n = int.from_bytes(b[:8], "little")
    h = b[8:8 + n].replace(b'"F32"', b'"I64"', 1)
    _rewrite(p, lambda _: len(h).to_bytes(8, "little") + h + b[8 + n:])


def _gguf(tmp, model, fn=None):
    p = os.path.join(tmp, "in.gguf")
    with open(model, "rb") as f:
        data = f.read()
    with open(p, "wb") as f:
        f.write(fn(data) if fn else data)
    return p


def _text(tmp, name, data):
    p = os.path.join(tmp, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


# (what, tool, setup(tmp, model) -> argv (paths inside tmp), message regex). `model` is the
# micro q8_0 GGUF; outputs go to tmp/out.gguf, which must not exist after a failure.
TOOLS = [
    ("convert: folder missing", "convert", lambda t, m: [os.path.join(t, "nope"), os.path.join(t, "out.gguf")], r"is not a folder"),
    ("convert: config.json not JSON", "convert", lambda t, m: [_hf_copy(t, lambda d: _rewrite(os.path.join(d, "config.json"), lambda b: b[:30])), os.path.join(t, "out.gguf")],
     r"config.json is not valid JSON"),
    ("convert: config.json n_layer not a number", "convert", lambda t, m: [_hf_copy(t, _json_edit("config.json", _set("n_layer", "2"))), os.path.join(t, "out.gguf")],
     r"config.json: n_layer must be a positive integer, got '2'"),
    ("convert: config.json n_embd negative", "convert", lambda t, m: [_hf_copy(t, _json_edit("config.json", _set("n_embd", -64))), os.path.join(t, "out.gguf")],
     r"config.json: n_embd must be a positive integer, got -64"),
    ("convert: vocab.json not an object", "convert", lambda t, m: [_hf_copy(t, lambda d: _rewrite(os.path.join(d, "vocab.json"), lambda b: b"[1, 2]")), os.path.join(t, "out.gguf")],
     r"vocab.json must be a non-empty JSON object"),
    ("convert: vocab.json id not an integer", "convert", lambda t, m: [_hf_copy(t, _json_edit("vocab.json", _set("hello", "x"))), os.path.join(t, "out.gguf")],
     r"vocab.json: token 'hello' has id 'x'"),
    ("convert: safetensors truncated", "convert", lambda t, m: [_hf_copy(t, lambda d: _rewrite(os.path.join(d, "model.safetensors"), lambda b: b[:len(b) // 3])), os.path.join(t, "out.gguf")],
     r"model.safetensors is truncated"),
    ("convert: safetensors header corrupt", "convert", lambda t, m: [_hf_copy(t, _st_header_flip), os.path.join(t, "out.gguf")],
     r"the safetensors header is not valid JSON"),
    ("convert: safetensors header length huge", "convert", lambda t, m: [_hf_copy(t, _st_huge_header), os.path.join(t, "out.gguf")],
     r"truncated or not a safetensors file \(header of \d+ bytes"),
    ("convert: safetensors integer tensor", "convert", lambda t, m: [_hf_copy(t, _st_wrong_dtype), os.path.join(t, "out.gguf")],
     r"has dtype I64; only F32, F16, BF16 and F64 are supported"),
    ("convert: output folder missing", "convert", lambda t, m: [os.path.join(FIXTURES, "gpt2_tiny"), os.path.join(t, "no", "out.gguf")], r"output folder .* does not exist"),
    ("convert: unknown --outtype", "convert", lambda t, m: [os.path.join(FIXTURES, "gpt2_tiny"), os.path.join(t, "out.gguf"), "--outtype", "q5_k"], r"unknown type 'q5_k'"),
    ("quantize: input missing", "quantize", lambda t, m: [os.path.join(t, "nope.gguf"), os.path.join(t, "out.gguf"), "q4_0"], r"nope.gguf: no such file"),
    ("quantize: input not GGUF", "quantize", lambda t, m: [_text(t, "in.gguf", b"hello\n" * 20), os.path.join(t, "out.gguf"), "q4_0"], r"is not a GGUF file"),
    ("quantize: input truncated", "quantize", lambda t, m: [_gguf(t, m, lambda b: b[:len(b) // 2]), os.path.join(t, "out.gguf"), "q4_0"], r"truncated"),
    ("quantize: input header count huge", "quantize", lambda t, m: [_gguf(t, m, lambda b: b[:16] + b"\xff" * 8 + b[24:]), os.path.join(t, "out.gguf"), "q4_0"],
     r"truncated or corrupt"),
    ("quantize: unknown type", "quantize", lambda t, m: [_gguf(t, m), os.path.join(t, "out.gguf"), "q3"], r"unknown type 'q3'"),
    ("check: model truncated", "check", lambda t, m: [_gguf(t, m, lambda b: b[:len(b) // 2]), "--interpreter", "cpython"], r"truncated"),
    ("check: token file not numbers", "check", lambda t, m: [_gguf(t, m), "--tokens", _text(t, "ids.txt", b"1 2 three"), "--interpreter", "cpython"],
     r"expected token ids"),
    ("check: token id outside the vocabulary", "check", lambda t, m: [_gguf(t, m), "--tokens", _text(t, "ids.txt", b"1 2 5000"), "--interpreter", "cpython"],
     r"token id 5000 is outside the vocabulary"),
    ("plan: model truncated", "plan", lambda t, m: [_gguf(t, m, lambda b: b[:len(b) // 2])], r"truncated"),
    ("plan: not a GGUF file", "plan", lambda t, m: [_text(t, "in.gguf", b"\x00" * 100)], r"not a GGUF model file"),
    ("train: corpus missing", "train", lambda t, m: ["--corpus", os.path.join(t, "nope.txt"), "--out", os.path.join(t, "ck")], r"nope.txt"),
    ("train: corpus not UTF-8", "train", lambda t, m: ["--corpus", _text(t, "c.txt", b"\xff\xfe\x00abc" * 100), "--out", os.path.join(t, "ck")], r"UTF-8"),
]


def _tool_main(tool):
    import importlib
    mod = importlib.import_module(tool)
    if tool in ("convert", "quantize", "check"):
        return lambda argv: gm.run_tool(mod.main, argv, prog=tool + ".py")
    return mod.main


def run_tool_inprocess(tool, argv):
    """(exit code, stderr) of a host tool's main() run here."""
    import contextlib
    import io
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = _tool_main(tool)(argv)
    return rc, err.getvalue()


def tool_message(stderr, tmp):
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    msg = lines[-1] if lines else ""
    return msg.replace(tmp + os.sep, "").replace(FIXTURES + os.sep, "tests/fixtures/")


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
sys.path.insert(0, %(ht)r)
import gguf
real = gguf.GGUFWriter.write_tensors_to_file
def slow(self, *a, **k):
    real(self, *a, **k)   # the temporary file is complete on disk now: stop before the rename
    print('WRITING', flush=True)
    time.sleep(60)
gguf.GGUFWriter.write_tensors_to_file = slow
import gguf_model as gm, %(tool)s as tool
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
    # A job started in the background inherits SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: give the tool the default disposition, as a terminal would.
    p = subprocess.Popen([sys.executable, "-c", _SLOW_WRITE % dict(ht=HOST_TOOLS, tool=tool, argv=argv)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
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
    import gen_error_table
    want = gen_error_table.render()
    with open(os.path.join(ROOT, "docs", "errors.md"), encoding="utf-8") as f:
        have = f.read()
    assert have == want, "docs/errors.md is stale: run `make errors-doc` (host_tools/gen_error_table.py)"
