#!/usr/bin/env python3
"""Generate text with nanollm on this computer, streamed as it is made.

  python host_tools/generate.py "Once upon a time"                  # the default model
  python host_tools/generate.py run1.gguf "ROMEO:" -n 200 --temp 0.7 --seed 1
  echo "ROMEO:" | python host_tools/generate.py run1.gguf -          # the prompt from stdin
  python host_tools/generate.py "ROMEO:" --interpreter cpython       # this Python instead

The prompt and the text go to stdout; stderr gets a line on what runs (model, interpreter,
kernels, seed) before the text and one line of figures after it: prompt tokens, generated
tokens, tokens/s, and why generation stopped (the model ended the text, -n was reached, the
context is full, or Ctrl-C). Ctrl-C stops generation and keeps the text so far.

The runtime is lib/nanollm itself: by default under the unix `micropython` from the project's
.venv (the interpreter of a board, with its viper kernels), or with --interpreter cpython in
this process (the plain-Python kernels: much slower). Without --seed a random seed is drawn
and shown, so a run can be repeated. A prompt from stdin loses one final newline (the one
`echo` adds).

Exit status: 0 done, 1 the runtime failed, 2 bad input (a model that does not load, bad
settings, a prompt longer than the context), 130 interrupted.
"""
import argparse
import inspect
import json
import os
import random
import selectors
import signal
import subprocess
import sys
import tempfile
import time

from nanollm_host import cli, tools
from nanollm_host.paths import DEFAULT_MODEL, LIB, rel

PROG = "generate.py"
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nanollm_host", "generate_runner.py")
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130

REASONS = {
    "eos": "the model ended the text",
    "max_new_tokens": "-n %(n)d reached",
    "context_full": "the context of %(n_ctx)d tokens is full",
    "interrupted": "Ctrl-C",
}


class GenerateError(Exception):
    """One line for the user, and the exit status that goes with it."""

    def __init__(self, message, code=EXIT_BAD_INPUT):
        super().__init__(message)
        self.code = code


def runtime_defaults():
    """The defaults of the runtime's Model.generate: the tool offers the library's own, so the
    two never drift apart (the default model's sampling settings live there)."""
    from nanollm import Model
    sig = inspect.signature(Model.generate)
    return {k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}


def build_parser():
    d = runtime_defaults()
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                 usage="%(prog)s [-h] [MODEL] PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] "
                                       "[--seed S] [--ctx N] [--interpreter {micropython,cpython}] [--heap SIZE]",
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("args", nargs="+", metavar="[MODEL] PROMPT",
                    help="a GGUF model (default: %s) and the prompt; - reads the prompt from stdin"
                         % rel(DEFAULT_MODEL))
    ap.add_argument("-n", "--max-new-tokens", type=int, default=d["max_new_tokens"], metavar="N",
                    help="tokens to generate at most (default %(default)s; the context may end it sooner)")
    ap.add_argument("--temp", "--temperature", dest="temperature", type=float, default=d["temperature"],
                    metavar="T", help="sampling temperature; 0 is greedy (default %(default)s)")
    ap.add_argument("--top-k", type=int, default=d["top_k"], metavar="K",
                    help="sample among the K likeliest tokens; 0: no limit (default %(default)s)")
    ap.add_argument("--top-p", type=float, default=d["top_p"], metavar="P",
                    help="and among the fewest whose probabilities reach P (default %(default)s)")
    ap.add_argument("--seed", type=int, metavar="S", help="random seed (default: drawn, and shown)")
    ap.add_argument("--ctx", type=int, metavar="N", help="context to allocate (default: the model's)")
    ap.add_argument("--interpreter", choices=("micropython", "cpython"), default="micropython",
                    help="micropython (default): the unix MicroPython, viper kernels; "
                         "cpython: this Python, plain-Python kernels")
    ap.add_argument("--heap", metavar="SIZE",
                    help="MicroPython's heap, e.g. 8M (default: room for the whole model file)")
    return ap


def read_prompt(arg):
    if arg != "-":
        return arg
    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise GenerateError("the prompt on stdin is not UTF-8 text (invalid byte at offset %d)" % e.start)
    return text[:-1] if text.endswith("\n") else text


def settings_from(a):
    if len(a.args) > 2:
        raise GenerateError("give at most a model and a prompt (quote a prompt of several words)")
    model = a.args[0] if len(a.args) == 2 else DEFAULT_MODEL
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 30)
    return {"model": model, "shown_as": a.args[0] if len(a.args) == 2 else rel(DEFAULT_MODEL),
            "prompt": read_prompt(a.args[-1]), "ctx": a.ctx,
            "generate": {"max_new_tokens": a.max_new_tokens, "temperature": a.temperature,
                         "top_k": a.top_k, "top_p": a.top_p, "seed": seed}}


def default_heap(model):
    """Room for every weight in RAM on the unix port (streaming them is for boards)."""
    try:
        size = os.path.getsize(model)
    except OSError:
        size = 0  # the runtime says what is wrong with the path
    return "%dk" % max(2048, (size * 5 // 4 + (4 << 20)) // 1024)


# ------------------------------------------------------------------ what the user sees

class Screen:
    """stdout: the prompt and the text, as bytes as they come. stderr: the two lines of facts."""

    def __init__(self, settings):
        self.settings = settings
        self.about = None
        self.started = False

    def info(self, info):
        """What runs; said with the first text, so that an error is the only line when the
        runtime refuses the settings or the prompt."""
        self.about = "%s: %s (%s, %d layers, width %d, context %d), %s, kernels %s, seed %d\n" % (
            PROG, self.settings["shown_as"], info["type"], info["n_layer"], info["n_embd"], info["n_ctx"],
            info["interpreter"], info["backend"], self.settings["generate"]["seed"])

    def text(self, data):
        if not self.started:  # the line on what runs, then the prompt, then the text
            self.started = True
            if self.about:
                sys.stderr.write(self.about)
                sys.stderr.flush()
            self._write(self.settings["prompt"].encode("utf-8"))
        self._write(data)

    @staticmethod
    def _write(data):
        out = getattr(sys.stdout, "buffer", None)  # bytes as they come; a text-only stdout (a test's) gets str
        if out is None:
            sys.stdout.write(data.decode("utf-8", "replace"))
        else:
            out.write(data)
        sys.stdout.flush()

    def figures(self, done):
        self.text(b"\n")
        n_new, gen_ms = done["n_new_tokens"], done["gen_ms"]
        rate = "%.1f tokens/s" % (1000.0 * n_new / gen_ms) if gen_ms > 0 and n_new else "– tokens/s"
        why = REASONS.get(done["stop_reason"], "%(reason)s") % {
            "n": self.settings["generate"]["max_new_tokens"], "n_ctx": done["n_ctx"],
            "reason": done["stop_reason"]}
        sys.stderr.write("%s: prompt %d tokens in %.2f s, generated %d tokens in %.2f s, %s; stopped: %s (%s)\n"
                         % (PROG, done["n_prompt_tokens"], done["prompt_ms"] / 1000.0, n_new, gen_ms / 1000.0,
                            rate, done["stop_reason"], why))
        sys.stderr.flush()


# ------------------------------------------------------------------ the two interpreters

def run_cpython(settings, screen):
    """The runtime in this process. Returns the DONE record (None when interrupted while loading)."""
    from nanollm_host import generate_runner
    result = {}

    def event(kind, value):
        if kind == "INFO":
            screen.info(value)
        else:
            result[kind] = value

    generate_runner.run(settings, lambda s: screen.text(s.encode("utf-8")), event)
    if "ERROR" in result:
        raise GenerateError(result["ERROR"])
    return result["DONE"]


def run_micropython(settings, screen, heap):
    exe = tools.micropython(required=False)
    if exe is None:
        raise GenerateError("the `micropython` command is missing: run `make setup`, or use --interpreter cpython")
    with tempfile.TemporaryDirectory(prefix="nanollm-generate-") as tmp:
        path = os.path.join(tmp, "settings.json")
        with open(path, "w") as f:
            json.dump(settings, f)
        env = dict(os.environ, MICROPYPATH=".frozen:" + LIB)
        # a session of its own: a Ctrl-C at the terminal reaches this process only, which
        # passes exactly one SIGINT on, so the child reports before it ends
        child = subprocess.Popen([exe, "-X", "heapsize=" + heap, RUNNER, path], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
        try:
            return _relay(child, settings, screen)
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()


def _relay(child, settings, screen):
    """Pass the child's text on as it comes; act on its event lines. Returns DONE's record."""
    sel = selectors.DefaultSelector()
    sel.register(child.stdout, selectors.EVENT_READ)
    sel.register(child.stderr, selectors.EVENT_READ)
    err_buf = b""
    other = []      # stderr lines that are not events (a traceback)
    result = {}
    interrupted_at = None
    while sel.get_map():
        try:
            if interrupted_at is not None and time.time() - interrupted_at > 10:
                break  # the child did not finish after Ctrl-C: it is killed
            for key, _ in sel.select(timeout=0.5):
                data = os.read(key.fileobj.fileno(), 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                if key.fileobj is child.stdout:
                    screen.text(data)
                    continue
                err_buf += data
                while b"\n" in err_buf:
                    line, err_buf = err_buf.split(b"\n", 1)
                    line = line.decode("utf-8", "replace")
                    if line.startswith("@@INFO "):
                        screen.info(json.loads(line[7:]))
                    elif line.startswith("@@DONE "):
                        result["DONE"] = json.loads(line[7:])
                    elif line.startswith("@@ERROR "):
                        result["ERROR"] = line[8:]
                    else:
                        other.append(line)
        except KeyboardInterrupt:
            if interrupted_at is not None:
                break  # a second Ctrl-C: stop waiting
            interrupted_at = time.time()
            child.send_signal(signal.SIGINT)
    if "ERROR" in result:
        raise GenerateError(result["ERROR"])
    if "DONE" in result:
        return result["DONE"]
    if interrupted_at is not None:
        return None
    child.wait()
    last = [ln for ln in other + [err_buf.decode("utf-8", "replace")] if ln.strip()]
    raise GenerateError("the runtime under micropython failed (exit %s): %s"
                        % (child.returncode, last[-1] if last else "no message"), EXIT_FAILED)


def main(argv=None):
    a = build_parser().parse_args(argv)
    try:
        settings = settings_from(a)
        screen = Screen(settings)
        if a.interpreter == "cpython":
            try:
                done = run_cpython(settings, screen)
            except KeyboardInterrupt:  # while loading: nothing was generated
                done = None
        else:
            done = run_micropython(settings, screen, a.heap or default_heap(settings["model"]))
    except GenerateError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return e.code
    if done is None:
        print("%s: interrupted before generation started" % PROG, file=sys.stderr)
        return EXIT_INTERRUPTED
    screen.figures(done)
    return EXIT_INTERRUPTED if done["stop_reason"] == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
