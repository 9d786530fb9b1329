"""One generation for host_tools/generate.py, the same file on both interpreters: CPython
imports run(); the unix MicroPython runs it as a script (nanollm is its only import beyond
sys and json, so it runs there unchanged):

  micropython generate_runner.py SETTINGS.json

SETTINGS.json: {"model": PATH, "prompt": TEXT, "ctx": N or null, "generate": {keyword
arguments of Model.generate}}. The generated text goes to stdout piece by piece as it is
made; what the tool needs besides goes to stderr as lines of their own:
  @@INFO <json>   after the model loaded: interpreter, kernels, the model's shape and type
  @@DONE <json>   at the end: why it stopped, token counts and times (also after Ctrl-C)
  @@ERROR <text>  the library's error (nanollm.NanoLLMError): bad model, settings or prompt
"""
import json
import sys

import nanollm
from nanollm.gguf import TYPE_NAME


def _interpreter():
    impl = sys.implementation
    return "%s %s" % ("MicroPython" if impl.name == "micropython" else "CPython",
                      ".".join(str(v) for v in impl.version[:3]))


def run(settings, write, event):
    """Load, generate with write(piece) as the callback, report through event(kind, value).
    A KeyboardInterrupt during generation ends it: DONE still reports (stop_reason
    "interrupted"); one during loading propagates."""
    try:
        m = nanollm.load(settings["model"], ctx=settings.get("ctx"))
    except nanollm.NanoLLMError as e:
        event("ERROR", str(e))
        return
    event("INFO", {"interpreter": _interpreter(), "backend": nanollm.backend(), "mode": m.mode,
                   "type": TYPE_NAME.get(m.layers[0].attn_qkv.type, "?"), "n_layer": m.n_layer,
                   "n_embd": m.n_embd, "n_ctx": m.n_ctx, "n_ctx_train": m.n_ctx_train})
    try:
        m.generate(settings["prompt"], callback=write, **settings["generate"])
    except nanollm.NanoLLMError as e:
        event("ERROR", str(e))
        return
    except KeyboardInterrupt:
        pass  # m.stop_reason is "interrupted"; the text so far has been written
    event("DONE", {"stop_reason": m.stop_reason, "n_prompt_tokens": m.n_prompt_tokens,
                   "n_new_tokens": m.n_new_tokens, "prompt_ms": m.prompt_ms, "gen_ms": m.gen_ms,
                   "n_ctx": m.n_ctx})


def _event_line(kind, value):
    # one line per event: a message is one line already; keep it so whatever it holds
    text = " ".join(value.splitlines()) if kind == "ERROR" else json.dumps(value)
    sys.stderr.write("@@%s %s\n" % (kind, text))


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        run(json.load(f), sys.stdout.write, _event_line)
