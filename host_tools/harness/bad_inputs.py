"""The bad inputs the tests try, as tables: SETTINGS (calls of the library's API) and TOOLS
(host-tool command lines), with what each must answer. tests/test_bad_input.py runs them;
host_tools/gen/gen_error_table.py renders them into docs/errors.md (with fuzz.NAMED, the bad
model files)."""
import json
import os
import shutil

from harness.settings_runner import run_settings
from nanollm_host import gguf_model as gm
from nanollm_host.paths import FIXTURES

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
    ("load: a folder as the path", "nanollm.load('.')", r"cannot open model file \.: it is a folder"),
    ("load: a number as the path", "nanollm.load(3)", r"the model path must be a file name \(a string\), not int 3"),
    ("forward: token id outside the vocabulary", "m.forward(320, 0)", r"token id 320 is outside the vocabulary \(0..319\)"),
    ("forward: position outside the context", "m.forward(1, 8)", r"position 8 is outside the context \(0..7\)"),
    ("tokenize: not a string", "m.tokenize(b'hi')", r"tokenizer: encode\(\) takes a str, not bytes"),
    ("detokenize: id out of range", "m.detokenize([1, 99999])", r"tokenizer: token id 99999 is out of range \(vocabulary of 320\)"),
]


def run_settings_cpython(path, f32_path):
    """SETTINGS through settings_runner.run_settings on this interpreter (tests/test_bad_input.py
    runs the same file under MicroPython and compares the messages)."""
    import gc
    old = os.getcwd()
    os.chdir(os.path.dirname(path))  # messages name the file as given: keep them short
    collect = gc.collect
    gc.collect = lambda *a: 0  # the loader's collections walk the whole test process: slow, useless here
    try:
        return run_settings([c for _, c, _ in SETTINGS], os.path.basename(path), os.path.basename(f32_path))
    finally:
        gc.collect = collect
        os.chdir(old)
        import nanollm
        nanollm._default = None


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


def _folder(tmp, name, holding=None):
    p = os.path.join(tmp, name)
    os.makedirs(p)
    if holding:
        open(os.path.join(p, holding), "wb").close()
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
    ("generate: model missing", "generate", lambda t, m: [os.path.join(t, "nope.gguf"), "hi", "--interpreter", "cpython"],
     r"cannot open model file .*nope.gguf: no such file"),
    ("generate: model is a folder", "generate", lambda t, m: [_folder(t, "models"), "hi", "--interpreter", "cpython"],
     r"cannot open model file .*models: it is a folder"),
    ("generate: top-p above 1", "generate", lambda t, m: [_gguf(t, m), "hi", "--top-p", "2", "--interpreter", "cpython"],
     r"top_p=2.0: must be in \(0, 1\]"),
    ("generate: prompt longer than the context", "generate", lambda t, m: [_gguf(t, m), "ab " * 40, "--interpreter", "cpython"],
     r"the prompt is \d+ tokens; the context holds 8, leaving no room to generate"),
    ("generate: too many arguments", "generate", lambda t, m: [_gguf(t, m), "Once", "upon", "--interpreter", "cpython"],
     r"give at most a model and a prompt"),
    ("train: corpus missing", "train", lambda t, m: ["--corpus", os.path.join(t, "nope.txt"), "--out", os.path.join(t, "ck")], r"nope.txt"),
    ("train: corpus not UTF-8", "train", lambda t, m: ["--corpus", _text(t, "c.txt", b"\xff\xfe\x00abc" * 100), "--out", os.path.join(t, "ck")], r"UTF-8"),
    ("train: --out holds an earlier run", "train", lambda t, m: ["--corpus", _text(t, "c.txt", b"To be or not to be. " * 400),
                                                                 "--out", _folder(t, "ck", "model.safetensors")],
     r"ck already holds a training run \(model.safetensors\): continue it with --resume"),
    ("train: unknown --outtype", "train", lambda t, m: ["--corpus", _text(t, "c.txt", b"To be or not to be. " * 400),
                                                        "--out", os.path.join(t, "ck"), "--gguf", os.path.join(t, "out.gguf"),
                                                        "--outtype", "q5_k"],
     r"--outtype: unknown type 'q5_k'"),
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
