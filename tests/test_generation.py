"""What generate() leaves on the model (issue 15): why it stopped, the text (also after a
Ctrl-C), token counts and times; the same on CPython and the unix MicroPython."""
import json

import pytest

from testutil import run_micropython_file

import nanollm


@pytest.fixture(scope="module")
def model_path(fixture_gguf):
    return fixture_gguf("gpt2_trained", "q8_0")


@pytest.fixture
def m(model_path):
    yield nanollm.load(model_path, ctx=16)
    nanollm._default = None


def test_max_new_tokens(m):
    text = m.generate("KING", max_new_tokens=5, temperature=0)
    assert m.stop_reason == "max_new_tokens"
    assert m.n_prompt_tokens == len(m.tokenize("KING")) and m.n_new_tokens == 5
    assert m.last_text == text and m.tokenize("KING" + text)[m.n_prompt_tokens:] != []
    assert m.prompt_ms >= 0 and m.gen_ms >= 0


def test_context_full_is_said(m):
    """max_new_tokens=500 on a 16-token context: fewer tokens, and the reason is there."""
    text = m.generate("KING", max_new_tokens=500, temperature=0)
    assert m.stop_reason == "context_full"
    assert m.n_new_tokens == 16 - m.n_prompt_tokens and m.last_text == text
    # exactly as many tokens as room: max_new_tokens, not the context, ends that one
    m.generate("KING", max_new_tokens=16 - m.n_prompt_tokens, temperature=0)
    assert m.stop_reason == "max_new_tokens"


def test_end_of_text(m):
    greedy = m.generate("KING", max_new_tokens=5, temperature=0)
    ids = m.tokenize("KING" + greedy)
    m.eos_id = ids[m.n_prompt_tokens + 2]  # the third generated token now ends the text
    text = m.generate("KING", max_new_tokens=5, temperature=0)
    assert m.stop_reason == "eos" and m.n_new_tokens == 2
    assert text == m.detokenize(ids[m.n_prompt_tokens:m.n_prompt_tokens + 2]) == m.last_text


def test_empty_prompt_counts_end_of_text(m):
    m.generate("", max_new_tokens=3, temperature=0)
    assert m.n_prompt_tokens == 1 and m.stop_reason in ("max_new_tokens", "eos")


def test_ctrl_c_keeps_the_text_so_far(m):
    """KeyboardInterrupt (what Ctrl-C raises) still propagates; the text given to the callback
    so far is on the model, and the model generates normally afterwards."""
    seen = []

    def stop_at_third(piece):
        seen.append(piece)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        m.generate("KING", max_new_tokens=10, temperature=0, callback=stop_at_third)
    assert m.stop_reason == "interrupted"
    assert m.last_text == "".join(seen) and len(seen) == 3
    assert m.n_new_tokens >= 3
    kept = m.last_text
    full = m.generate("KING", max_new_tokens=10, temperature=0)
    assert m.stop_reason == "max_new_tokens" and full.startswith(kept) and len(full) > len(kept)


def test_error_leaves_no_stale_reason(m):
    m.generate("KING", max_new_tokens=2, temperature=0)
    with pytest.raises(nanollm.NanoLLMError):
        m.generate("KING", top_p=7)
    assert m.stop_reason is None


def test_same_record_under_micropython(model_path, m):
    out = run_micropython_file("generate_stats.py", [model_path])
    got = {ln.split(" ", 1)[0]: json.loads(ln.split(" ", 1)[1]) for ln in out.strip().splitlines()}
    assert set(got) == {"max_new_tokens", "context_full", "interrupted", "eos"}
    for name, (reason, text, last, n_prompt, n_new, times_ok) in got.items():
        assert reason == name and times_ok, (name, got[name])
        assert n_prompt == len(m.tokenize("KING"))
        if text is not None:
            assert text == last
    assert got["max_new_tokens"][4] == 5 and got["context_full"][4] == 16 - got["context_full"][3]
    assert got["eos"][4] == 2
    # the same text as CPython's, also the part kept when interrupted
    assert got["max_new_tokens"][1] == m.generate("KING", max_new_tokens=5, temperature=0)
    assert m.generate("KING", max_new_tokens=10, temperature=0).startswith(got["interrupted"][2])
    assert got["interrupted"][2] != ""


def test_readme_streaming_example_prints_the_text_as_it_comes(m, capsys):
    """The README's REPL example: pieces printed end to end, not one per line."""
    from testutil import ROOT
    with open(ROOT + "/README.md", encoding="utf-8") as f:
        lines = [ln.strip()[4:] for ln in f if ln.strip().startswith(">>> text = m.generate(")]
    assert len(lines) == 1 and 'callback=lambda s: print(s, end="")' in lines[0]
    scope = {"m": m}
    exec(lines[0], scope)
    printed = capsys.readouterr().out
    assert printed == scope["text"] and len(printed) > 5 and m.stop_reason in ("max_new_tokens", "context_full")
