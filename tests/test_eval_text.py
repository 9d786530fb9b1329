"""host_tools/eval_text.py: which words count, the word list, the Gutenberg play rewriting that
feeds the default model's training, and a small end-to-end run on the default model."""
import json
import os
import subprocess
import sys

import pytest

from testutil import HOST_TOOLS, LIB, micropython_path

import eval_text
from nanollm_host import gguf_model as gm
from nanotrain.plays import play_to_text

DEFAULT_MODEL = os.path.join(LIB, "nanollm", "model.gguf")
EVAL_PY = os.path.join(HOST_TOOLS, "eval_text.py")


def test_generated_words_skip_the_prompt_short_words_and_a_cut_off_last_word():
    # "time" belongs to the prompt, "ly" continues it (prompt word + generated letters count
    # as one generated word), "of" is too short, "ki" is cut off by the end of generation
    assert eval_text.generated_words("Once upon a time", "ly of kings, thou art ki") == \
        ["timely", "kings", "thou", "art"]
    # apostrophes and digits split words; a text ending in punctuation keeps its last word
    assert eval_text.generated_words("", "I'll say't: 'tis 42nd door.") == ["say", "tis", "door"]
    assert eval_text.generated_words("ROMEO:\n", "") == []


def test_english_share_counts_misses_case_blind():
    share, n, misses = eval_text.english_share(["King", "abehold", "kings", "Bohe", "king"],
                                               {"king", "kings"})
    assert n == 5 and abs(share - 0.6) < 1e-12
    assert misses == {"abehold": 1, "bohe": 1}


def test_word_list_keeps_letter_words_only(tmp_path):
    p = tmp_path / "words"
    p.write_text("King\nking's\nabc\nx-ray\n\n", encoding="utf-8")
    assert eval_text.load_word_list(str(p)) == {"king", "abc"}


def test_missing_word_list_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(eval_text, "WORD_LIST", str(tmp_path / "nope"))
    with pytest.raises(gm.ToolError, match="apt-get install wamerican"):
        eval_text.load_word_list(str(tmp_path / "nope"))


def test_the_shipped_word_list_is_installed_and_knows_shakespeare():
    words = eval_text.load_word_list(eval_text.WORD_LIST)
    assert len(words) > 70000
    assert {"thou", "thee", "hath", "doth", "king", "love"} <= words
    assert not {"abehold", "bohe", "gloriamy"} & words


def test_play_to_text_uses_tinyshakespeare_layout():
    raw = ("THE TRAGEDY OF HAMLET\n\nPERSONS REPRESENTED.\n\nClaudius, King of Denmark.\n\n\n"
           "ACT I.\n\nSCENE I. Elsinore. A platform before the Castle.\n\n"
           "[Francisco at his post. Enter to him Bernardo.]\n\n"
           "Ber.\nWho's there?\n\n"
           "Fran.\nNay, answer me: stand, and unfold yourself.\n\n"
           "FIRST PLAYER.\n    Anon he finds him [Strikes.]\nStriking too short at Greeks.\n")
    assert play_to_text(raw) == ("BER:\nWho's there?\n\n"
                                 "FRAN:\nNay, answer me: stand, and unfold yourself.\n\n"
                                 "FIRST PLAYER:\nAnon he finds him\nStriking too short at Greeks.\n")


def _run(args):
    r = subprocess.run([sys.executable, EVAL_PY] + args, capture_output=True, text=True, timeout=1800)
    return r


@pytest.mark.skipif(micropython_path() is None, reason="no micropython")
def test_end_to_end_on_the_default_model(tmp_path):
    """Samples come from the real runtime: the unix MicroPython and CPython give the same text
    for the same seeds (the integer path is bit-identical), and the figures are in range."""
    args = [DEFAULT_MODEL, "--prompt", "ROMEO:\n", "--prompt", "The king", "--seeds", "2",
            "--tokens", "24", "--no-loss"]
    mp = _run(args + ["--json", str(tmp_path / "mp.json")])
    assert mp.returncode == 0, mp.stderr
    cp = _run(args + ["--cpython", "--json", str(tmp_path / "cp.json")])
    assert cp.returncode == 0, cp.stderr
    a = json.loads((tmp_path / "mp.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "cp.json").read_text(encoding="utf-8"))
    assert a["runtime"].startswith("micropython") and b["runtime"].startswith("cpython")
    assert [s["text"] for s in a["samples"]] == [s["text"] for s in b["samples"]]
    assert len(a["samples"]) == 4 and all(s["text"] for s in a["samples"])
    assert a["words"] > 10 and 0.0 <= a["english_share"] <= 1.0
    assert 0.9 < a["ceiling_share"] < 1.0
    assert a["settings"] == eval_text.runtime_defaults()
    assert "English words" in mp.stdout and "ceiling" in mp.stdout


def test_held_out_loss_of_the_default_model_in_bits_per_character(tmp_path):
    r = _run([DEFAULT_MODEL, "--no-ceiling", "--prompt", "ROMEO:\n", "--seeds", "1", "--tokens", "8",
              "--cpython", "--json", str(tmp_path / "o.json")])
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))
    # bits per character = nats per token x tokens per character / ln 2
    import math
    assert abs(d["heldout_bits_per_char"] - d["heldout_nats_per_token"] * d["heldout_tokens"]
               / d["heldout_chars"] / math.log(2)) < 1e-9
    assert 1.0 < d["heldout_bits_per_char"] < 3.0
    assert d["heldout_chars"] == 111558      # tinyshakespeare's held-out tenth


def test_bad_input_is_one_line(tmp_path):
    r = _run([str(tmp_path / "missing.gguf")])
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no such file" in r.stderr
    r = _run([DEFAULT_MODEL, "--words", str(tmp_path / "nowords"), "--no-loss"])
    assert r.returncode == 2 and "cannot read the word list" in r.stderr


def test_distinct_bigrams_falls_when_text_loops():
    fresh = [{"text": "the king will ride to the town"}]
    loop = [{"text": "the king the king the king the king"}]
    assert eval_text.distinct_bigrams(fresh) == 1.0
    assert eval_text.distinct_bigrams(loop) == 2 / 7


def test_generate_command_defaults_are_the_runtimes():
    """make demo (host_tools/generate.py) samples with the runtime's defaults, the settings
    eval_text.py measures (a copy that drifted would demo other settings than were measured)."""
    import generate
    a = generate.build_parser().parse_args([DEFAULT_MODEL, "hi"])
    assert {"temperature": a.temperature, "top_k": a.top_k, "top_p": a.top_p} == \
        eval_text.runtime_defaults()
