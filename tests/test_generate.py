"""host_tools/generate.py (issue 15): text streamed as it is made, one line of figures at the
end, the prompt from stdin, the library's errors as one line with exit status 2, Ctrl-C
keeping the text so far; and `make demo`, which runs it."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from testutil import HOST_TOOLS, ROOT, ctrl_c_as_at_a_terminal

import nanollm
from nanollm_host import testmodels

GENERATE = os.path.join(HOST_TOOLS, "generate.py")
FIGURES = re.compile(r"^generate\.py: prompt (\d+) tokens in [\d.]+ s, generated (\d+) tokens in [\d.]+ s, "
                     r"([\d.]+|–) tokens/s; stopped: (\w+) \((.*)\)$")


def generate(*args, stdin=None, timeout=300):
    r = subprocess.run([sys.executable, GENERATE] + [str(a) for a in args], input=stdin, capture_output=True,
                       timeout=timeout, cwd=ROOT)
    return r.returncode, r.stdout.decode("utf-8"), r.stderr.decode("utf-8")


@pytest.fixture(scope="module")
def model(fixture_gguf):
    return fixture_gguf("gpt2_trained", "q8_0")


def expected(model, prompt, **kw):
    m = nanollm.load(model, ctx=kw.pop("ctx", None))
    text = m.generate(prompt, **kw)
    nanollm._default = None
    return text, m


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_text_and_figures(model, interpreter):
    rc, out, err = generate(model, "First Citizen:", "-n", "20", "--seed", "7", "--temp", "0.9",
                            "--top-k", "30", "--top-p", "0.9", "--interpreter", interpreter)
    assert rc == 0, err
    text, m = expected(model, "First Citizen:", max_new_tokens=20, temperature=0.9, top_k=30, top_p=0.9, seed=7)
    assert out == "First Citizen:" + text + "\n"  # the same text as the library's, seed for seed
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("generate.py: %s (q8_0, 2 layers, width 64, context 64), %s "
                               % (model, "MicroPython" if interpreter == "micropython" else "CPython"))
    assert lines[0].endswith(", seed 7")
    f = FIGURES.match(lines[1])
    assert f, lines[1]
    assert (int(f.group(1)), int(f.group(2)), f.group(4)) == (m.n_prompt_tokens, 20, "max_new_tokens")
    assert float(f.group(3)) > 0 and f.group(5) == "-n 20 reached"


def test_context_full_and_default_seed_shown(model):
    rc, out, err = generate(model, "KING", "-n", "500", "--ctx", "12", "--temp", "0")
    assert rc == 0, err
    f = FIGURES.match(err.strip().splitlines()[-1])
    assert f.group(4) == "context_full" and f.group(5) == "the context of 12 tokens is full"
    assert int(f.group(1)) + int(f.group(2)) == 12
    seed = int(err.splitlines()[0].rsplit("seed ", 1)[1])
    rc, out2, err2 = generate(model, "KING", "-n", "8", "--seed", seed)  # the shown seed repeats the run
    rc, out3, err3 = generate(model, "KING", "-n", "8", "--seed", seed)
    assert out2 == out3


def test_prompt_from_stdin(model):
    rc, out, err = generate(model, "-", "-n", "6", "--temp", "0", stdin="ROMEO:\n".encode())
    assert rc == 0, err
    text, _ = expected(model, "ROMEO:", max_new_tokens=6, temperature=0)
    assert out == "ROMEO:" + text + "\n"
    rc, out, err = generate(model, "-", stdin=b"\xff\xfe")
    assert rc == 2 and err.strip() == "generate.py: error: the prompt on stdin is not UTF-8 text (invalid byte at offset 0)"


def test_default_model_and_help():
    rc, out, err = generate("Once upon a time", "-n", "4", "--seed", "1")
    assert rc == 0 and out.startswith("Once upon a time"), err
    assert err.startswith("generate.py: lib/nanollm/model.gguf (")
    rc, out, err = generate("--help")
    assert rc == 0
    for opt in ("-n", "--temp", "--top-k", "--top-p", "--seed", "--ctx", "--interpreter", "Exit status"):
        assert opt in out
    # the library's sampling defaults, not copies of them
    import inspect
    sig = inspect.signature(nanollm.Model.generate)
    options = " ".join(out.split("options:", 1)[1].split())
    for opt, name in (("-n N", "max_new_tokens"), ("--temp T", "temperature"), ("--top-k K", "top_k"),
                      ("--top-p P", "top_p")):
        shown = re.search(re.escape(opt) + r"[^()]*\(default ([^);]+)", options)
        assert shown and shown.group(1) == str(sig.parameters[name].default), (opt, shown and shown.group(1))


@pytest.mark.parametrize("args,message", [
    (["{tmp}", "hi"], "cannot open model file {tmp}: it is a folder"),
    (["{tmp}/none.gguf", "hi"], "cannot open model file {tmp}/none.gguf: no such file"),
    (["{model}", "hi", "--top-k", "-2"], "top_k=-2: must be an integer >= 0 (0 means no top-k limit)"),
    (["{model}", "hi", "--ctx", "0"], "ctx=0: must be between 1 and the model's context length 64"),
    (["{model}", "the king " * 40], "the prompt is 82 tokens; the context holds 64, leaving no room to generate: "
                                    "shorten the prompt"),
])
def test_bad_input_is_one_line_exit_2(model, tmp_path, args, message):
    fill = {"tmp": str(tmp_path), "model": model}
    rc, out, err = generate(*[a.format(**fill) for a in args])
    assert rc == 2 and out == "", (rc, out, err)
    assert err.splitlines() == ["generate.py: error: " + message.format(**fill)]


def _interrupt_after_text(args, prompt):
    """Start generate.py, wait until text beyond the prompt has arrived (so it streams), then
    send the SIGINT a Ctrl-C at the terminal sends. Returns (exit status, stdout, stderr)."""
    p = subprocess.Popen([sys.executable, GENERATE] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                         preexec_fn=ctrl_c_as_at_a_terminal)
    got = b""
    t0 = time.time()
    while len(got) <= len(prompt.encode()) + 2 and time.time() - t0 < 120:
        chunk = os.read(p.stdout.fileno(), 4096)
        if not chunk:
            break
        got += chunk
    assert p.poll() is None, "generation ended before it could be interrupted"
    p.send_signal(signal.SIGINT)
    rest, err = p.communicate(timeout=60)
    return p.returncode, (got + rest).decode("utf-8"), err.decode("utf-8")


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_ctrl_c_keeps_the_text_so_far(interpreter):
    # slow enough to be caught mid-way: under MicroPython a 5 MB model with a 256-token
    # context (about 10 s), under CPython the default model (a few tokens per second)
    if interpreter == "micropython":
        path = testmodels.big_model(n_layer=6, n_embd=256, n_ff=1024, n_ctx=256)
    else:
        path = testmodels.default_model()
    rc, out, err = _interrupt_after_text([path, "KING", "-n", "10000", "--seed", "3", "--interpreter", interpreter],
                                         "KING")
    assert rc == 130, err
    lines = err.strip().splitlines()
    f = FIGURES.match(lines[-1])
    assert f and f.group(4) == "interrupted" and f.group(5) == "Ctrl-C", err
    n_new = int(f.group(2))
    assert "Traceback" not in err and 1 <= n_new < 200
    assert out.startswith("KING") and out.endswith("\n") and len(out) > len("KING\n")
    # what was kept is what the library generates, token for token
    m = nanollm.load(path)
    text = m.generate("KING", max_new_tokens=n_new, seed=3)
    nanollm._default = None
    assert ("KING" + text).startswith(out[:-1])


def test_make_demo_quotes_and_paths(model):
    """Issue 15, item 9: a prompt with ' or " broke `make demo`; an absolute MODEL was looked
    for under ../"""
    for prompt in ("It's", 'say "hi"', "a $HOME `x` \\n"):
        r = subprocess.run(["make", "-s", "demo", "PROMPT=" + prompt, "MODEL=" + os.path.abspath(model)],
                           capture_output=True, timeout=300, cwd=ROOT)
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout.decode("utf-8").startswith(prompt), (prompt, r.stdout)
        assert FIGURES.match(r.stderr.decode().strip().splitlines()[-1]), r.stderr
