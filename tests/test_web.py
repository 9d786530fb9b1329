"""The browser playground (web/): the nanollm package on MicroPython's WebAssembly port, in
headless Chromium (Debian's chromium, driven by npm playwright-core).

`make playground` builds the site into build/web (a TEST_DEPS prerequisite of `make test`),
with the port that has the C kernels built in (`make wasm`) and npm's port as the fallback.
The test serves it on a free port of 127.0.0.1, types a prompt, clicks Generate, waits for the
tokens, and checks the text equals what the unix MicroPython prints for the same prompt and
settings; then a file that isn't a GGUF, a prompt longer than the context, Stop, the same run
again, a longer run for tokens/s, the 6-layer 256-wide q8_0 model `make bench` uses (7 MB,
loaded from disk with progress shown), and the fallback port (?kernels=python). It saves the
screenshot to build/web-test/playground.png (`make screenshot` copies it to docs/playground.png)
and prints the speeds, with pytest -s, as `playground: N tokens/s (KERNELS)`.
"""
import ast
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

from testutil import LIB, ROOT, mpy_script, run_micropython_file

SITE = os.path.join(ROOT, "build", "web")
DRIVER = os.path.join(ROOT, "web", "tests", "drive.mjs")
# the page as the test left it; `make screenshot` sets NANOLLM_SCREENSHOT to docs/playground.png
# (a plain test run leaves the committed picture alone)
SCREENSHOT = os.environ.get("NANOLLM_SCREENSHOT") or os.path.join(ROOT, "build", "web-test", "playground.png")
PROMPT = "Once upon a time"
SETTINGS = {"max_new_tokens": 20, "temperature": 0.8, "top_k": 40, "top_p": 0.95, "seed": 42}
AGAIN_TOKENS = 4
EMPTY_TOKENS = 3
SPEED_TOKENS = 100  # the default model's context is 128: prompt + 100 fit
BIG_TOKENS = 30
# the model of `make bench`'s middle row (host_tools/harness/bench.py RANDOM["mid"], same file name)
BIG_SHAPE = dict(layers=6, embd=256, heads=4, vocab=8192, ctx=256)
BIG_MODEL = os.path.join(ROOT, ".cache", "bench", "random-mid-6L-256E-8192V-q8_0.gguf")
MAXFILE = 100000  # the page's file size limit in the test (?maxfile=): the model is over it

pytestmark = pytest.mark.slow


def chromium_path():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    return None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    """build/web served on 127.0.0.1 at a free port, for this module only."""
    assert os.path.exists(os.path.join(SITE, "manifest.json")), "build the site first: make playground"
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=SITE))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d/" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def unix_reference(model, tmp):
    """The same generations with the unix port (viper kernels) on the file the page served."""
    kw = {k: SETTINGS[k] for k in ("temperature", "top_k", "top_p", "seed")}
    jobs = [[PROMPT, dict(kw, max_new_tokens=SETTINGS["max_new_tokens"])],
            [PROMPT, dict(kw, max_new_tokens=AGAIN_TOKENS)],
            ["", dict(kw, max_new_tokens=EMPTY_TOKENS)]]
    (tmp / "jobs.json").write_text(json.dumps(jobs))
    lines = run_micropython_file("generate_text.py", [model, tmp / "jobs.json"]).strip().splitlines()
    # reprs of str printed by our own script: literal_eval reads them back exactly
    text, short, empty = (ast.literal_eval(x) for x in lines[-4:-1])
    assert lines[-1].startswith("N_CTX "), lines
    return {"text": text, "short": short, "empty": empty, "n_ctx": int(lines[-1].split()[1])}


def big_model():
    """The 6-layer 256-wide q8_0 random-weight model (made once, shared with make bench)."""
    if not os.path.exists(BIG_MODEL):
        from gen import make_random_gpt2
        os.makedirs(os.path.dirname(BIG_MODEL), exist_ok=True)
        s = BIG_SHAPE
        make_random_gpt2.make_model(BIG_MODEL, s["layers"], s["embd"], s["heads"], s["vocab"], s["ctx"],
                                    outtype="q8_0", seed=1, log=lambda *a: None)
    return BIG_MODEL


@pytest.fixture(scope="module")
def browser_run(server, tmp_path_factory):
    chromium = chromium_path()
    assert chromium, "Debian's chromium is missing: make sysdeps (APT_PACKAGES has chromium)"
    assert os.path.isdir(os.path.join(ROOT, "web", "node_modules", "playwright-core")), "run make playground (npm ci)"
    model = os.path.join(SITE, "model.gguf")
    tmp = tmp_path_factory.mktemp("web")
    ref = unix_reference(model, tmp)
    assert os.path.getsize(model) > MAXFILE
    shot = str(tmp / "playground.png")
    user_model = str(tmp / "user-model.gguf")  # the same bytes under another name, from "disk"
    shutil.copy(model, user_model)
    cfg = {
        "url": server, "chromium": chromium, "screenshot": shot, "prompt": PROMPT, "settings": SETTINGS,
        "min_tokens": 20, "long_prompt": " ".join(["hello"] * (ref["n_ctx"] + 16)), "stop_test": True,
        "maxfile": MAXFILE, "big_file": model, "user_model": user_model, "empty_tokens": EMPTY_TOKENS,
        "again_tokens": AGAIN_TOKENS, "speed_tokens": SPEED_TOKENS, "big_model": big_model(),
        "big_model_tokens": BIG_TOKENS, "fallback_tokens": AGAIN_TOKENS, "timeout_ms": 300000,
        # the kernel cases run bytecode reference kernels in the browser: minutes on a busy machine
        "script_timeout_ms": 900000,
        "scripts": {name: open(mpy_script(name + ".py")).read() for name in ("native_cases", "kernel_backends")},
    }
    cfg_path = tmp / "cfg.json"
    cfg_path.write_text(json.dumps(cfg))
    r = subprocess.run(["node", DRIVER, str(cfg_path)], capture_output=True, text=True, timeout=2400,
                       cwd=os.path.join(ROOT, "web"))
    assert r.returncode == 0, "driver failed:\n%s\n%s" % (r.stdout[-3000:], r.stderr[-3000:])
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if os.path.exists(shot):
        os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
        shutil.copy(shot, SCREENSHOT)
    print("browser:", json.dumps(out["steps"].get("generate", {}), indent=1))
    # the figures the page showed (#tps: generated tokens / time after the prompt)
    speed = out["steps"].get("speed", {})
    big = out["steps"].get("big_model", {}).get("run", {})
    fb = out["steps"].get("fallback", {}).get("run", {})
    print("playground: %s tokens/s (%s)" % (speed.get("tps"), kernels_of(speed.get("model", ""))))
    print("playground: %s tokens/s (%s), 6-layer 256-wide q8_0, %d tokens; load %s ms"
          % (big.get("tps"), kernels_of(big.get("model", "")), big.get("tokens", 0),
             out["steps"].get("big_model", {}).get("load_ms")))
    print("playground: %s tokens/s (%s), fallback port, %d tokens" % (fb.get("tps"), kernels_of(fb.get("model", "")),
                                                                    fb.get("tokens", 0)))
    return out, ref, shot


def kernels_of(model_info):
    return model_info.split("kernels: ")[-1].split(" ")[0] if "kernels: " in model_info else "?"


def test_page_loads_the_runtime_in_wasm(browser_run):
    out, _, _ = browser_run
    assert "error" not in out, (out.get("error"), out["console"][-20:])
    load = out["steps"]["load"]
    assert load["status"] == "ready", load
    assert "Emscripten" in load["runtime"] and "MicroPython" in load["runtime"]
    # the port built with nanollm_native started, and the runtime picked the C kernels itself
    assert "nanollm's C kernels" in load["runtime"], load["runtime"]
    assert "kernels: native" in load["model"], load["model"]


def test_kernel_cases_pass_in_the_browser(browser_run):
    # tests/mpy/native_cases.py on the page's port in Chromium: every kernel against kernels_py,
    # then bad arguments (tests/test_wasm.py runs the same under node)
    out, _, _ = browser_run
    r = out["steps"]["scripts"]["native_cases"]
    assert "error" not in r, r
    res = [ln.split() for ln in r["lines"] if ln.startswith(("RESULT", "BADARGS"))]
    assert len(res) == 18, r["lines"][-20:]  # 17 kernels and the bad-argument cases
    for p in res:
        n, fails = (int(p[2]), int(p[3])) if p[0] == "RESULT" else (int(p[1]), int(p[2]))
        assert n > 0 and fails == 0, (p, r["lines"][-20:])


def test_backend_script_in_the_browser_matches_cpython(browser_run):
    # tests/mpy/kernel_backends.py: the C kernels against the plain ones inside the page's
    # port, and the plain ones' checksums equal to CPython's (held to the numpy spec)
    out, _, _ = browser_run
    r = out["steps"]["scripts"]["kernel_backends"]
    assert "error" not in r, r
    lines = r["lines"]
    assert lines[0].split()[1:] == ["native", "python"], lines[:3]
    assert not [ln for ln in lines if ln.startswith("MISMATCH")], lines[-20:]
    assert lines[-1].endswith("MISMATCHES 0")
    cp = subprocess.run([sys.executable, mpy_script("kernel_backends.py")], capture_output=True, text=True,
                        env=dict(os.environ, PYTHONPATH=LIB), timeout=600)
    assert cp.returncode == 0, cp.stderr
    ck = [ln for ln in lines if ln.startswith("CK")]
    assert len(ck) > 40 and ck == [ln for ln in cp.stdout.splitlines() if ln.startswith("CK")]


def test_fallback_port_runs_the_plain_kernels(browser_run):
    out, ref, _ = browser_run
    fb = out["steps"]["fallback"]
    assert fb["status"] == "ready", fb
    assert "npm package" in fb["runtime"], fb["runtime"]
    # npm's port has no viper and no native module: the plain Python kernels, the same text
    assert "kernels: python" in fb["model"], fb["model"]
    # and says why (nanollm.kernels.backend_note())
    assert "no nanollm_native module" in fb["model"] and "no viper" in fb["model"], fb["model"]
    assert fb["run"]["status"] == "done" and fb["run"]["text"] == ref["short"], (fb["run"], ref["short"])


def test_longer_run_with_the_c_kernels(browser_run):
    out, _, _ = browser_run
    sp = out["steps"]["speed"]
    assert sp["status"] == "done" and sp["tokens"] == SPEED_TOKENS, sp
    assert "kernels: native" in sp["model"] and sp["tps"] > 0, sp


def test_big_model_loads_with_progress_and_generates(browser_run):
    out, _, _ = browser_run
    b = out["steps"]["big_model"]
    assert b["status"] == "ready" and b["message"] == "", b
    assert "6 layers, width 256" in b["model"] and "vocabulary 8192" in b["model"], b["model"]
    # the stages of the load were shown, with the file's size
    assert any("nanollm.load" in t and "MB" in t for t in b["progress"]), b["progress"]
    r = b["run"]
    assert r["status"] == "done" and r["tokens"] == BIG_TOKENS and r["tps"] > 0, r


def test_same_text_as_unix_micropython(browser_run):
    out, ref, _ = browser_run
    g = out["steps"]["generate"]
    assert g["status"] == "done", g
    assert g["tokens"] >= 20, g
    assert g["text"] == ref["text"], "browser %r\nunix    %r" % (g["text"], ref["text"])
    assert float(g["tps"]) > 0 and g["heap"].endswith("KB")


def test_text_streams_and_page_stays_responsive(browser_run):
    out, _, _ = browser_run
    g = out["steps"]["generate"]
    # the output was seen growing piece by piece, and the page answered quickly throughout
    assert g["distinct_partial_outputs"] >= 5, g
    assert g["slowest_page_answer_ms"] < 2000, g


def test_board_verdicts_from_the_runtime_plan(browser_run):
    out, _, _ = browser_run
    g = out["steps"]["generate"]
    boards = [n for n in os.listdir(os.path.join(ROOT, "boards")) if n.endswith(".json")]
    assert g["board_rows"] == len(boards) and len(g["board_options"]) == len(boards), g
    for opt in g["board_options"]:
        assert "fits, " in opt or "short by " in opt or "unknown" in opt, opt
    assert "fit" in g["board_verdict"], g["board_verdict"]


def test_not_a_gguf_file_gives_a_message_and_keeps_the_model(browser_run):
    out, _, _ = browser_run
    b = out["steps"]["bad_file"]
    assert b["status"] == "ready", b
    assert "not a GGUF" in b["message"], b
    assert b["model"].startswith(out["steps"]["load"]["model"].split(":")[0]), b


def test_prompt_longer_than_the_context_gives_a_message(browser_run):
    out, _, _ = browser_run
    lp = out["steps"]["long_prompt"]
    assert lp["status"] == "error" and "context" in lp["message"], lp


def test_stop_then_the_page_works_again(browser_run):
    out, ref, _ = browser_run
    s = out["steps"]["stop"]
    assert s["status"] == "ready" and s["text"].endswith("[stopped]"), s
    a = out["steps"]["again"]
    assert a["status"] == "done", a
    assert a["text"] == ref["short"], "after bad input and Stop: %r, unix %r" % (a["text"], ref["short"])


def test_file_over_the_size_limit_is_refused(browser_run):
    out, _, _ = browser_run
    b = out["steps"]["big_file"]
    assert "too big" in b["message"] and b["status"] in ("ready", "done"), b


def test_load_a_gguf_from_disk(browser_run):
    out, _, _ = browser_run
    u = out["steps"]["user_model"]
    assert u["status"] == "ready" and u["model"].startswith("user-model.gguf: GPT-2"), u
    assert u["message"] == "", u


def test_empty_prompt_starts_from_end_of_text(browser_run):
    out, ref, _ = browser_run
    e = out["steps"]["empty_prompt"]
    assert e["status"] == "done" and "end-of-text" in e["message"], e
    assert e["text"] == ref["empty"], (e, ref["empty"])


def test_screenshot_taken(browser_run):
    _, _, shot = browser_run
    with open(shot, "rb") as f:
        head = f.read(8)
    assert head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(shot) > 10000
