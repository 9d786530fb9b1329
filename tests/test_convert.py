"""host_tools/convert.py and gguf_model: HF GPT-2 folders -> GGUF in llama.cpp's gpt2 layout."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFReader
from gguf import quants as gq
from safetensors.numpy import load_file

from testutil import FIXTURES, HOST_TOOLS

from nanollm_host import gguf_model as gm

FIXTURE_NAMES = ["gpt2_tiny", "gpt2_odd", "gpt2_untied", "gpt2_trained"]
OUTTYPES = ["f32", "f16", "q8_0", "q4_0", "q4_1"]
FTYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7}
GGML = {"f32": GGMLQuantizationType.F32, "f16": GGMLQuantizationType.F16,
        "q8_0": GGMLQuantizationType.Q8_0, "q4_0": GGMLQuantizationType.Q4_0,
        "q4_1": GGMLQuantizationType.Q4_1}


def fixture_dir(name):
    return os.path.join(FIXTURES, name)


@pytest.fixture(scope="module")
def converted(fixture_gguf):
    """(fixture, outtype) -> path of the converted GGUF."""
    return {(name, t): fixture_gguf(name, t) for name in FIXTURE_NAMES for t in OUTTYPES}


def hf_config(name):
    with open(os.path.join(fixture_dir(name), "config.json")) as f:
        return json.load(f)


def hf_vocab(name):
    with open(os.path.join(fixture_dir(name), "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    return [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]


def hf_merges(name):
    with open(os.path.join(fixture_dir(name), "merges.txt"), encoding="utf-8") as f:
        return [ln for ln in f.read().split("\n") if ln and not ln.startswith("#version")]


def hf_expected_tensors(name):
    """Our tensor names -> HF weights in (out, in) layout, from safetensors' own loader."""
    sd = load_file(os.path.join(fixture_dir(name), "model.safetensors"))
    sd = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in sd.items()}
    cfg = hf_config(name)
    t = {"token_embd.weight": sd["wte.weight"], "position_embd.weight": sd["wpe.weight"],
         "output_norm.weight": sd["ln_f.weight"], "output_norm.bias": sd["ln_f.bias"]}
    for i in range(cfg["n_layer"]):
        h, b = "h.%d." % i, "blk.%d." % i
        for ours, theirs, transpose in (("attn_norm", "ln_1", False), ("attn_qkv", "attn.c_attn", True),
                                        ("attn_output", "attn.c_proj", True), ("ffn_norm", "ln_2", False),
                                        ("ffn_up", "mlp.c_fc", True), ("ffn_down", "mlp.c_proj", True)):
            w = sd[h + theirs + ".weight"]
            t[b + ours + ".weight"] = w.T if transpose else w
            t[b + ours + ".bias"] = sd[h + theirs + ".bias"]
    if not cfg.get("tie_word_embeddings", True):
        t["output.weight"] = sd["lm_head.weight"]
    return t


def field(reader, key):
    f = reader.fields.get(key)
    assert f is not None, "metadata %s missing" % key
    return f.contents()


@pytest.mark.parametrize("name", FIXTURE_NAMES)
@pytest.mark.parametrize("outtype", OUTTYPES)
def test_metadata(converted, name, outtype):
    r = GGUFReader(converted[name, outtype])
    cfg = hf_config(name)
    n_embd = cfg["n_embd"]
    assert field(r, "GGUF.version") == 3
    assert field(r, "general.architecture") == "gpt2"
    assert field(r, "general.name") == name
    assert field(r, "general.file_type") == FTYPE[outtype]
    assert field(r, "general.alignment") == 32
    assert field(r, "gpt2.context_length") == cfg["n_positions"]
    assert field(r, "gpt2.embedding_length") == n_embd
    assert field(r, "gpt2.feed_forward_length") == (cfg["n_inner"] or 4 * n_embd)
    assert field(r, "gpt2.block_count") == cfg["n_layer"]
    assert field(r, "gpt2.attention.head_count") == cfg["n_head"]
    assert field(r, "gpt2.attention.layer_norm_epsilon") == pytest.approx(cfg["layer_norm_epsilon"], rel=1e-6)
    assert field(r, "tokenizer.ggml.model") == "gpt2"
    assert field(r, "tokenizer.ggml.pre") == "gpt-2"
    tokens = field(r, "tokenizer.ggml.tokens")
    assert tokens == hf_vocab(name)
    types = field(r, "tokenizer.ggml.token_type")
    eot = tokens.index("<|endoftext|>")
    assert types[eot] == 3
    assert all(t == 1 for i, t in enumerate(types) if i != eot)
    assert field(r, "tokenizer.ggml.merges") == hf_merges(name)
    assert field(r, "tokenizer.ggml.bos_token_id") == cfg["bos_token_id"] == eot
    assert field(r, "tokenizer.ggml.eos_token_id") == cfg["eos_token_id"] == eot


@pytest.mark.parametrize("name", FIXTURE_NAMES)
@pytest.mark.parametrize("outtype", OUTTYPES)
def test_tensors_match_hf(converted, name, outtype):
    r = GGUFReader(converted[name, outtype])
    want = hf_expected_tensors(name)
    assert [t.name for t in r.tensors] == gm.tensor_names(hf_config(name)["n_layer"], "output.weight" not in want)
    assert {t.name for t in r.tensors} == set(want)
    for t in r.tensors:
        w = want[t.name]
        # GGUF ne is [in, out]: the reverse of the (out, in) numpy shape
        assert tuple(int(d) for d in t.shape) == tuple(reversed(w.shape)), t.name
        if w.ndim == 1 or outtype == "f32" or (outtype.startswith("q") and w.shape[1] % 32):
            expected_type = "f32"
        else:
            expected_type = outtype
        assert t.tensor_type == GGML[expected_type], (t.name, t.tensor_type.name)
        got = gq.dequantize(t.data, t.tensor_type).reshape(w.shape)
        if expected_type == "f32":
            np.testing.assert_array_equal(got, w)
        elif expected_type == "f16":
            np.testing.assert_array_equal(got, w.astype(np.float16).astype(np.float32))
        else:
            # exactly what ggml's reference quantizer makes of the (out, in) matrix ...
            ref = gq.dequantize(gq.quantize(np.ascontiguousarray(w), GGML[expected_type]), GGML[expected_type])
            np.testing.assert_array_equal(got, ref.reshape(w.shape))
            # ... which is close to the weights (a transposed matrix would not be)
            scale = np.abs(w).max()
            assert np.abs(got - w).max() <= scale * (0.02 if expected_type == "q8_0" else 0.15), t.name


def test_loader_gives_back_hf_weights(converted):
    for name in FIXTURE_NAMES:
        m = gm.load_gguf(converted[name, "f32"])
        want = hf_expected_tensors(name)
        assert set(m.tensors) == set(want)
        for k, w in want.items():
            np.testing.assert_array_equal(m.tensors[k], w)
        assert m.hparams.tied == ("output.weight" not in want)


def test_odd_sizes_fall_back_to_f32(converted):
    r = GGUFReader(converted["gpt2_odd", "q4_0"])
    types = {t.name: t.tensor_type for t in r.tensors}
    # n_embd 48 and n_inner 100: no matrix row is a multiple of 32
    assert all(t == GGMLQuantizationType.F32 for t in types.values())
    r = GGUFReader(converted["gpt2_odd", "f16"])
    assert r.tensors[0].tensor_type == GGMLQuantizationType.F16  # f16 has no block constraint


def test_fallback_is_reported(tmp_path):
    out = tmp_path / "odd.gguf"
    res = subprocess.run([sys.executable, os.path.join(HOST_TOOLS, "convert.py"), fixture_dir("gpt2_odd"),
                          str(out), "--outtype", "q8_0"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "kept blk.0.ffn_down.weight as f32: row length 100 is not a multiple of 32" in res.stdout
    assert out.exists()


def aligned_offsets_ok(path, alignment):
    r = GGUFReader(path)
    assert r.alignment == alignment
    assert r.data_offset % alignment == 0
    for t in r.tensors:
        assert (t.data_offset - r.data_offset) % alignment == 0
        assert t.data_offset % alignment == 0


@pytest.mark.parametrize("outtype", ["f32", "q4_1"])
def test_alignment_honoured(converted, tmp_path, outtype):
    aligned_offsets_ok(converted["gpt2_odd", outtype], 32)
    p = str(tmp_path / "a64.gguf")
    gm.convert_checkpoint(fixture_dir("gpt2_odd"), p, outtype, alignment=64)
    aligned_offsets_ok(p, 64)
    assert gm.load_gguf(p).alignment == 64


def test_ftype_numbers_accepted(tmp_path):
    p = str(tmp_path / "m.gguf")
    gm.convert_checkpoint(fixture_dir("gpt2_tiny"), p, "7")
    assert GGUFReader(p).fields["general.file_type"].contents() == 7


# --------------------------------------------------------------------------- bad input

def run_convert(args):
    return subprocess.run([sys.executable, os.path.join(HOST_TOOLS, "convert.py")] + list(args),
                          capture_output=True, text=True)


def assert_clean_failure(res, out_dir, fragment):
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert fragment in lines[0], lines[0]
    leftovers = [n for n in os.listdir(out_dir) if n.endswith(".gguf") or n.endswith(".tmp")]
    assert leftovers == [], leftovers


def broken_copy(tmp_path, fn):
    d = tmp_path / "hf"
    shutil.copytree(fixture_dir("gpt2_tiny"), d)
    fn(d)
    return d


def _truncate(d):
    p = d / "model.safetensors"
    data = p.read_bytes()
    p.write_bytes(data[:len(data) // 2])


def _llama(d):
    cfg = json.loads((d / "config.json").read_text())
    cfg["model_type"] = "llama"
    (d / "config.json").write_text(json.dumps(cfg))


def _untie_without_head(d):
    cfg = json.loads((d / "config.json").read_text())
    cfg["tie_word_embeddings"] = False
    (d / "config.json").write_text(json.dumps(cfg))


def _bad_json(d):
    (d / "config.json").write_text("{not json")


def _erf_gelu(d):
    cfg = json.loads((d / "config.json").read_text())
    cfg["activation_function"] = "gelu"
    (d / "config.json").write_text(json.dumps(cfg))


def _wrong_shape(d):
    cfg = json.loads((d / "config.json").read_text())
    cfg["n_inner"] = 128
    (d / "config.json").write_text(json.dumps(cfg))


BAD = {
    "no config": (lambda d: (d / "config.json").unlink(), "config.json is missing"),
    "no weights": (lambda d: (d / "model.safetensors").unlink(), "model.safetensors is missing"),
    "no vocab": (lambda d: (d / "vocab.json").unlink(), "vocab.json is missing"),
    "no merges": (lambda d: (d / "merges.txt").unlink(), "merges.txt is missing"),
    "not gpt2": (_llama, "only GPT-2"),
    "truncated safetensors": (_truncate, "truncated"),
    "untied without lm_head": (_untie_without_head, "no lm_head.weight"),
    "bad json": (_bad_json, "not valid JSON"),
    "erf gelu": (_erf_gelu, "activation_function"),
    "shape mismatch": (_wrong_shape, "mlp.c_fc.weight has shape"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_clear_line(tmp_path, case):
    fn, fragment = BAD[case]
    d = broken_copy(tmp_path, fn)
    out = tmp_path / "out"
    out.mkdir()
    res = run_convert([str(d), str(out / "m.gguf")])
    assert_clean_failure(res, out, fragment)


def test_missing_folder_and_bad_outtype(tmp_path):
    res = run_convert([str(tmp_path / "nope"), str(tmp_path / "m.gguf")])
    assert_clean_failure(res, tmp_path, "is not a folder")
    res = run_convert([fixture_dir("gpt2_tiny"), str(tmp_path / "m.gguf"), "--outtype", "q5_k"])
    assert_clean_failure(res, tmp_path, "unknown type 'q5_k'")
    res = run_convert([fixture_dir("gpt2_tiny"), str(tmp_path / "missing-dir" / "m.gguf")])
    assert_clean_failure(res, tmp_path, "does not exist")


def test_help():
    res = run_convert(["--help"])
    assert res.returncode == 0
    assert "--outtype" in res.stdout and "q4_1" in res.stdout


def test_failure_keeps_old_output_and_leaves_no_temp(tmp_path, monkeypatch):
    import gguf

    out = tmp_path / "m.gguf"
    out.write_bytes(b"old contents")

    def boom(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", boom)
    with pytest.raises(KeyboardInterrupt):
        gm.convert_checkpoint(fixture_dir("gpt2_tiny"), str(out), "q8_0")
    assert out.read_bytes() == b"old contents"
    assert sorted(os.listdir(tmp_path)) == ["m.gguf"]


def test_loader_rejects_bad_gguf(tmp_path, converted):
    src = open(converted["gpt2_tiny", "q8_0"], "rb").read()
    cases = {
        "empty.gguf": b"",
        "text.gguf": b"hello, this is no model\n" * 10,
        "head.gguf": src[:200],
        "half.gguf": src[:len(src) // 2],
        "short.gguf": src[:-100],
    }
    for fname, data in cases.items():
        p = tmp_path / fname
        p.write_bytes(data)
        with pytest.raises(gm.ToolError) as e:
            gm.load_gguf(str(p))
        msg = str(e.value)
        assert "\n" not in msg
        assert ("not a GGUF file" in msg) or ("truncated" in msg), (fname, msg)
    with pytest.raises(gm.ToolError, match="no such file"):
        gm.load_gguf(str(tmp_path / "absent.gguf"))
